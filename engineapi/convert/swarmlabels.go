package convert

import "github.com/minsw/minsw/internal/swarmlabels"

// ContainerLabels is a task container's labels as docker shows them: its
// own, plus docker's com.docker.swarm.* ones.
func ContainerLabels(m map[string]string) map[string]string { return swarmlabels.Container(m) }
