package minswv1

// HostNetwork is the network target of a service whose tasks run in their
// node's own network stack (`--network host`, as Swarm's): no overlay
// attachment, no VIP, no namespace of their own.
const HostNetwork = "host"

// OnHostNetwork says the task spec asks for its node's network stack.
func (x *TaskSpec) OnHostNetwork() bool {
	for _, n := range x.GetNetworks() {
		if n.GetTarget() == HostNetwork {
			return true
		}
	}
	return false
}
