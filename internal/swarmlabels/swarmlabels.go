// Package swarmlabels holds the labels docker's swarm puts on a task's
// container, made from the ones minsw's agent puts there, so the docker
// CLI (through the Engine API) and minsw's own CLI show and filter the
// same ones.
package swarmlabels

// The labels docker's swarm puts on a task's container, which scripts
// filter on (`docker ps --filter label=com.docker.swarm.service.name=web`),
// made from the ones minsw's agent puts there. minsw's own stay as well.
var swarmLabelOf = map[string]string{
	"minsw.node.id":      "com.docker.swarm.node.id",
	"minsw.service.id":   "com.docker.swarm.service.id",
	"minsw.service.name": "com.docker.swarm.service.name",
	"minsw.task.id":      "com.docker.swarm.task.id",
	"minsw.task.name":    "com.docker.swarm.task.name",
}

// Container is a task container's labels as docker shows them: its
// own, plus docker's com.docker.swarm.* ones (com.docker.swarm.task is
// present and empty on every task container, as docker's).
func Container(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+len(swarmLabelOf)+1)
	for k, v := range m {
		out[k] = v
	}
	for from, to := range swarmLabelOf {
		if v, ok := m[from]; ok {
			if _, set := out[to]; !set {
				out[to] = v
			}
		}
	}
	if _, ok := m["minsw.task.id"]; ok {
		if _, set := out["com.docker.swarm.task"]; !set {
			out["com.docker.swarm.task"] = ""
		}
	}
	return out
}
