package convert

import (
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// containerPorts are the ports a task's container publishes on its node
// (--publish mode=host), as docker ps shows a container's port bindings:
// 0.0.0.0:PUBLISHED->TARGET/PROTO. Ingress ports are the routing mesh's,
// not the container's, and docker ps does not show them.
func containerPorts(t *api.Task) []container.Port {
	out := []container.Port{}
	for _, p := range t.GetStatus().GetPorts() {
		if p.GetPublishMode() != api.PublishMode_PUBLISH_MODE_HOST {
			continue
		}
		proto := "tcp"
		if p.GetProtocol() == api.PortProtocol_PORT_PROTOCOL_UDP {
			proto = "udp"
		}
		out = append(out, container.Port{IP: "0.0.0.0", PrivatePort: uint16(p.GetTargetPort()), PublicPort: uint16(p.GetPublishedPort()), Type: proto})
	}
	return out
}

// portMatches says whether one of ports passes a publish= (public) or
// expose= (private) filter value: PORT, PORT/PROTO or FIRST-LAST[/PROTO].
// A value that does not parse matches nothing.
func portMatches(ports []container.Port, value string, public bool) bool {
	spec, proto, _ := strings.Cut(value, "/")
	first, last, isRange := strings.Cut(spec, "-")
	lo, err := strconv.ParseUint(first, 10, 16)
	if err != nil {
		return false
	}
	hi := lo
	if isRange {
		if hi, err = strconv.ParseUint(last, 10, 16); err != nil {
			return false
		}
	}
	for _, p := range ports {
		n := uint64(p.PrivatePort)
		if public {
			n = uint64(p.PublicPort)
		}
		if n >= lo && n <= hi && (proto == "" || proto == p.Type) {
			return true
		}
	}
	return false
}

// portMap is ports as container inspect shows them (NetworkSettings.Ports,
// HostConfig.PortBindings), what docker port reads; nil for none.
func portMap(ports []container.Port) nat.PortMap {
	if len(ports) == 0 {
		return nil
	}
	m := nat.PortMap{}
	for _, p := range ports {
		k := nat.Port(strconv.Itoa(int(p.PrivatePort)) + "/" + p.Type)
		m[k] = append(m[k], nat.PortBinding{HostIP: p.IP, HostPort: strconv.Itoa(int(p.PublicPort))})
	}
	return m
}
