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

// LabelDockerEquivalent is the label a node's own network carries to name
// the Docker network it stands for (minsw_gwbridge: docker_gwbridge), so a
// user who knows Docker's name finds it.
const LabelDockerEquivalent = "minsw.network.docker-equivalent"
