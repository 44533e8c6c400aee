package fake

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/minsw/minsw/worker/executor"
)

// savedState is what SaveState writes: the images and each container's
// spec and status (not its logs).
type savedState struct {
	Images     []string         `json:"images"`
	Containers []savedContainer `json:"containers"`
}

type savedContainer struct {
	Spec   executor.Spec   `json:"spec"`
	Status executor.Status `json:"status"`
}

// SaveState writes the executor's images and containers, so a daemon run
// with the fake executor can stop and start again with its containers as
// they were, as containerd's containers outlive their daemon (a stopped
// fake worker otherwise forgets every task it ran).
func (e *Executor) SaveState(w io.Writer) error {
	e.mu.Lock()
	s := savedState{Containers: make([]savedContainer, 0, len(e.containers))}
	for img := range e.images {
		s.Images = append(s.Images, img)
	}
	for _, c := range e.containers {
		s.Containers = append(s.Containers, savedContainer{Spec: c.spec, Status: cloneStatus(c.status)})
	}
	e.mu.Unlock()
	sort.Strings(s.Images)
	sort.Slice(s.Containers, func(i, j int) bool { return s.Containers[i].Spec.ID < s.Containers[j].Spec.ID })
	return json.NewEncoder(w).Encode(&s)
}

// LoadState adds the images and containers SaveState wrote; a running
// container is running again, as if it had run on meanwhile.
func (e *Executor) LoadState(r io.Reader) error {
	var s savedState
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return fmt.Errorf("fake executor state: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, img := range s.Images {
		e.images[img] = true
	}
	for _, c := range s.Containers {
		e.containers[c.Spec.ID] = &container{spec: c.Spec, status: c.Status, changed: make(chan struct{})}
	}
	return nil
}
