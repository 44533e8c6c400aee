package swarmlabels

import (
	"maps"
	"testing"
)

func TestContainer(t *testing.T) {
	for _, c := range []struct {
		name    string
		in, out map[string]string
	}{
		{"a task's container gets docker's labels beside minsw's",
			map[string]string{"minsw.task.id": "t1", "minsw.task.name": "web.1.t1", "minsw.service.id": "s1", "minsw.service.name": "web", "minsw.node.id": "n1", "app": "x"},
			map[string]string{"minsw.task.id": "t1", "minsw.task.name": "web.1.t1", "minsw.service.id": "s1", "minsw.service.name": "web", "minsw.node.id": "n1", "app": "x",
				"com.docker.swarm.task": "", "com.docker.swarm.task.id": "t1", "com.docker.swarm.task.name": "web.1.t1", "com.docker.swarm.service.id": "s1",
				"com.docker.swarm.service.name": "web", "com.docker.swarm.node.id": "n1"}},
		{"a label the user set is kept", map[string]string{"minsw.service.name": "web", "com.docker.swarm.service.name": "mine"},
			map[string]string{"minsw.service.name": "web", "com.docker.swarm.service.name": "mine"}},
		{"no labels", nil, map[string]string{}},
	} {
		if got := Container(c.in); !maps.Equal(got, c.out) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.out)
		}
	}
}
