package netagent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/ingress"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/gossip"
)

// publishKey is the dirty-set key of the node's published ports (they
// follow the ingress table and the local host-mode tasks).
const publishKey = "\x00published"

// ingressOfView returns the swarm's ingress network and this node's
// endpoint on it, once the leader has allocated both.
func ingressOfView(v View) (netdriver.Network, bool) {
	var in *api.Network
	for _, n := range v.Networks() {
		if n.GetSpec().GetIngress() {
			in = n
			break
		}
	}
	if in == nil {
		return netdriver.Network{}, false
	}
	for _, att := range v.Node().GetLbAttachments() {
		if att.GetNetworkId() != in.GetId() || len(att.GetAddresses()) == 0 {
			continue
		}
		p, err := netip.ParsePrefix(att.GetAddresses()[0])
		if err != nil {
			return netdriver.Network{}, false
		}
		dn, err := driverNetwork(in, p)
		return dn, err == nil
	}
	return netdriver.Network{}, false
}

// syncIngress makes the node take part in the routing mesh as soon as it
// is in the swarm, task or no task: the ingress network with its
// ingress_sbox, the node's ingress endpoint in gossip (so the other nodes
// make it a vxlan peer), and its published ports. The network goes when
// the view loses it.
func (a *Agent) syncIngress(ctx context.Context) {
	a.kmu.Lock()
	defer a.kmu.Unlock()
	defer a.storeEgressLocked()
	if !a.isReady() && a.db == nil {
		return
	}
	n, ok := ingressOfView(a.view)
	if !ok {
		if a.ingressID != "" {
			id := a.ingressID
			a.ingressID = ""
			if err := errors.Join(a.drv.RemoveIngress(ctx, id), a.removeNetworkLocked(ctx, id)); err != nil {
				a.log.Warn("removing the ingress network", "network", id, "err", err)
			}
			a.markDirty(publishKey)
		}
		return
	}
	if ln := a.nets[n.ID]; a.ingressID == n.ID && ln != nil && ln.net == n {
		return
	}
	if err := a.drv.EnsureIngress(ctx, n); err != nil {
		a.log.Warn("joining the routing mesh", "network", n.ID, "err", err)
		a.poke(a.wakeIngress)
		return
	}
	a.ingressID = n.ID
	if err := a.ensureNetworkLocked(ctx, n); err != nil {
		a.log.Warn("joining the routing mesh", "network", n.ID, "err", err)
		a.poke(a.wakeIngress)
		return
	}
	a.markDirty(publishKey)
	a.log.Info("routing mesh joined", "network", n.ID, "endpoint", n.LBAddr, "sbox", netdriver.IngressSbox)
}

// ingressPorts are a task's ports published through the routing mesh.
func ingressPorts(t *api.Task) []gossip.IngressPort {
	var out []gossip.IngressPort
	for _, p := range t.GetEndpoint().GetPorts() {
		if p.GetPublishMode() != api.PublishMode_PUBLISH_MODE_INGRESS || p.GetPublishedPort() == 0 || p.GetPublishedPort() > 65535 {
			continue
		}
		out = append(out, gossip.IngressPort{Protocol: protoName(p.GetProtocol()),
			Published: uint16(p.GetPublishedPort()), Target: uint16(p.GetTargetPort())})
	}
	return out
}

// hostPorts are a task's ports published on its own node only.
func hostPorts(t *api.Task) []*api.PortConfig {
	var out []*api.PortConfig
	ports := t.GetEndpoint().GetPorts()
	if len(ports) == 0 {
		ports = t.GetEndpoint().GetSpec().GetPorts()
	}
	for _, p := range ports {
		if p.GetPublishMode() == api.PublishMode_PUBLISH_MODE_HOST && p.GetPublishedPort() != 0 && p.GetPublishedPort() <= 65535 &&
			p.GetTargetPort() != 0 && p.GetTargetPort() <= 65535 {
			out = append(out, p)
		}
	}
	return out
}

func protoName(p api.PortProtocol) string {
	if p == api.PortProtocol_PORT_PROTOCOL_UDP {
		return "udp"
	}
	return "tcp"
}

func protoNum(s string) (uint8, bool) {
	p, err := ingress.ParseProto(s)
	return p, err == nil
}

// redirects maps a task's ingress ports to its target ports.
func redirects(ports []gossip.IngressPort) []ingress.Redirect {
	var out []ingress.Redirect
	for _, p := range ports {
		if pr, ok := protoNum(p.Protocol); ok && p.Published != 0 {
			out = append(out, ingress.Redirect{Port: ingress.Port{Proto: pr, Port: p.Published}, Target: p.Target})
		}
	}
	return out
}

// hostPublish is the node-table entry of a task's host-mode ports: to the
// task's gateway-bridge address and target port.
func hostPublish(ports []*api.PortConfig, egress netip.Addr) []ingress.Publish {
	var out []ingress.Publish
	for _, p := range ports {
		pr := uint8(ingress.TCP)
		if p.GetProtocol() == api.PortProtocol_PORT_PROTOCOL_UDP {
			pr = ingress.UDP
		}
		out = append(out, ingress.Publish{Port: ingress.Port{Proto: pr, Port: uint16(p.GetPublishedPort())},
			To: netip.AddrPortFrom(egress, uint16(p.GetTargetPort()))})
	}
	return out
}

// portMarks derives the ingress_sbox's port -> mark map from the ingress
// table: each task endpoint carries its service's mark and ingress ports.
// A port claimed by two services (a table caught mid-update) goes to the
// lowest service ID; the others are counted. It is pure.
func portMarks(eps []gossip.Endpoint) (out []ingress.PortMark, conflicts int) {
	eps = slices.Clone(eps)
	slices.SortFunc(eps, func(a, b gossip.Endpoint) int {
		return cmp.Or(cmp.Compare(cmp.Or(a.ServiceID, a.ServiceName), cmp.Or(b.ServiceID, b.ServiceName)), cmp.Compare(a.Key(), b.Key()))
	})
	owner := map[ingress.Port]string{}
	for _, ep := range eps {
		if ep.Mark == 0 || !ep.VIP.Is4() {
			continue
		}
		sid := cmp.Or(ep.ServiceID, ep.ServiceName)
		for _, p := range ep.IngressPorts {
			pr, ok := protoNum(p.Protocol)
			if !ok || p.Published == 0 {
				continue
			}
			k := ingress.Port{Proto: pr, Port: p.Published}
			switch o, taken := owner[k]; {
			case !taken:
				owner[k] = sid
				out = append(out, ingress.PortMark{Port: k, Mark: ep.Mark})
			case o != sid:
				conflicts++
			}
		}
	}
	slices.SortFunc(out, func(a, b ingress.PortMark) int { return a.Compare(b.Port) })
	return out, conflicts
}

// applyPublishedLocked programs the node's published ports: the routing
// mesh's from the ingress table, and the host-mode ports of the local
// tasks that run.
func (a *Agent) applyPublishedLocked(ctx context.Context) error {
	var marks []ingress.PortMark
	if a.ingressID != "" {
		var conflicts int
		marks, conflicts = portMarks(a.db.Endpoints(a.ingressID))
		if conflicts > 0 {
			a.log.Warn("published ports left out: claimed by two services", "count", conflicts)
		}
	}
	var host []ingress.Publish
	for _, lt := range a.tasks {
		if lt.published && lt.egress.IsValid() {
			host = append(host, hostPublish(lt.host, lt.egress.Addr())...)
		}
	}
	slices.SortFunc(host, func(a, b ingress.Publish) int { return a.Compare(b.Port) })
	if err := a.drv.SetPublished(ctx, marks, host); err != nil {
		if errors.Is(err, netdriver.ErrConflict) {
			a.log.Warn("host-mode ports left out", "err", err)
			return nil
		}
		return fmt.Errorf("published ports: %w", err)
	}
	return nil
}
