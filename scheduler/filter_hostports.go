package scheduler

import minswv1 "github.com/minsw/minsw/proto/minsw/v1"

// hostPort is a port a task publishes in host mode (`--publish
// mode=host,published=P`): the node's own port, so only one task on a node
// may hold it. Ingress-mode ports go through the routing mesh and restrict
// nothing here.
type hostPort struct {
	protocol minswv1.PortProtocol
	port     uint32
}

// appendHostPorts appends the host-mode ports t publishes to dst. A host port
// left at 0 is picked by the engine on the node, so it never collides.
func appendHostPorts(dst []hostPort, t *minswv1.Task) []hostPort {
	for _, p := range t.GetEndpoint().GetPorts() {
		if p.GetPublishMode() == minswv1.PublishMode_PUBLISH_MODE_HOST && p.GetPublishedPort() != 0 {
			dst = append(dst, hostPort{p.GetProtocol(), p.GetPublishedPort()})
		}
	}
	return dst
}

// hostPortsIn is the set of host ports held on each node, by the tasks that
// occupy it and by the tasks placed so far in the batch. The map is made on
// the first port held, so a swarm without host-mode ports never pays for it.
type hostPortsIn struct {
	held map[nodePort]struct{}
}

type nodePort struct {
	node string
	hostPort
}

func (u *hostPortsIn) reset() { clear(u.held) }

// hold records that node now holds ports.
func (u *hostPortsIn) hold(node string, ports []hostPort) {
	if len(ports) == 0 {
		return
	}
	if u.held == nil {
		u.held = make(map[nodePort]struct{})
	}
	for _, p := range ports {
		u.held[nodePort{node, p}] = struct{}{}
	}
}

// anyHeld reports whether node already holds one of ports.
func (u *hostPortsIn) anyHeld(node string, ports []hostPort) bool {
	for _, p := range ports {
		if _, ok := u.held[nodePort{node, p}]; ok {
			return true
		}
	}
	return false
}

// hostPortFilter keeps nodes where none of a group's host-mode ports is
// already held: two tasks cannot bind one port of one host.
type hostPortFilter struct {
	ports []hostPort
	in    *hostPortsIn
}

func (f *hostPortFilter) pass(n *minswv1.Node) bool { return !f.in.anyHeld(n.GetId(), f.ports) }

// explain uses Swarm's exact words, so a user knows to add nodes or to let
// the engine pick the port.
func (*hostPortFilter) explain(count int) string {
	return "host-mode port already in use on " + nodes(count)
}
