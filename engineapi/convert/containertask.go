package convert

import (
	"net/netip"
	"sort"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// TaskView is what the swarm knows of the tasks behind this node's
// containers: their networks (addresses, endpoint IDs, aliases) and mounts,
// which docker shows in a container's NetworkSettings and Mounts (`docker
// ps` NETWORKS and MOUNTS, `docker inspect -f '{{.NetworkSettings...}}'`).
// A worker cannot read the store; its view is empty and its containers
// show no networks, as before.
type TaskView struct {
	Tasks    map[string]*api.Task // by task ID
	Networks map[string]string    // network ID → name
	Volumes  map[string]string    // volume name → mountpoint
}

func (v *TaskView) task(c *api.Container) *api.Task {
	if v == nil {
		return nil
	}
	return v.Tasks[c.GetLabels()["minsw.task.id"]]
}

// containerNetworks is a task's attachments by network name, as docker's
// EndpointSettings.
func containerNetworks(v *TaskView, t *api.Task) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	if t == nil {
		return out
	}
	aliases := map[string][]string{}
	for _, n := range t.GetSpec().GetNetworks() {
		aliases[n.GetTarget()] = n.GetAliases()
	}
	for _, a := range t.GetNetworks() {
		name := v.Networks[a.GetNetworkId()]
		if name == "" {
			name = a.GetNetworkId()
		}
		es := &network.EndpointSettings{NetworkID: a.GetNetworkId(), EndpointID: a.GetEndpointId(), MacAddress: a.GetMacAddress(), Aliases: aliases[a.GetNetworkId()]}
		if len(a.GetAliases()) > 0 {
			es.Aliases = a.GetAliases()
		}
		if addrs := a.GetAddresses(); len(addrs) > 0 {
			if p, err := netip.ParsePrefix(addrs[0]); err == nil {
				es.IPAddress, es.IPPrefixLen = p.Addr().String(), p.Bits()
				es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: es.IPAddress}
			}
			if es.MacAddress == "" {
				es.MacAddress = MACFromIP(addrs[0])
			}
		}
		out[name] = es
	}
	return out
}

// containerMounts is a task's --mount list as docker's MountPoints: a
// volume's Source is where it lives on this node.
func containerMounts(v *TaskView, t *api.Task) []container.MountPoint {
	out := []container.MountPoint{}
	for _, m := range t.GetSpec().GetContainer().GetMounts() {
		mp := container.MountPoint{Type: mountTypes[m.GetType()], Destination: m.GetTarget(), RW: !m.GetReadonly()}
		switch m.GetType() {
		case api.MountType_MOUNT_TYPE_VOLUME:
			mp.Name, mp.Driver, mp.Mode = m.GetSource(), "local", "z"
			if v != nil {
				mp.Source = v.Volumes[m.GetSource()]
			}
		case api.MountType_MOUNT_TYPE_BIND:
			mp.Source = m.GetSource()
			mp.Propagation = propagations[m.GetBindOptions().GetPropagation()]
		}
		out = append(out, mp)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out
}
