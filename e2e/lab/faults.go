package lab

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"github.com/minsw/minsw/internal/testenv"
)

// KillNode makes node n fail as a machine does: its daemon dies (SIGKILL by
// PID), its containers die (SIGKILL to every task in its containerd
// namespace), and its underlay link goes down. It returns how many
// containers it killed.
func (l *Lab) KillNode(ctx context.Context, n Node) (int, error) {
	errDaemon := l.StopDaemon(n, true)
	killed, errCtrs := l.killContainers(ctx, n)
	errLink := l.SetLink(ctx, n, false)
	return killed, errors.Join(errDaemon, errCtrs, errLink)
}

// ReviveNode brings node n back after KillNode: link up, daemon started.
func (l *Lab) ReviveNode(ctx context.Context, n Node) error {
	if err := l.SetLink(ctx, n, true); err != nil {
		return err
	}
	return l.StartDaemon(ctx, n)
}

// RestartDaemon stops node n's daemon (SIGTERM) and starts it again.
func (l *Lab) RestartDaemon(ctx context.Context, n Node) error {
	if err := l.StopDaemon(n, false); err != nil {
		return err
	}
	return l.StartDaemon(ctx, n)
}

func (l *Lab) containerd() (*containerd.Client, error) {
	return containerd.New(l.ContainerdSock())
}

func (l *Lab) killContainers(ctx context.Context, n Node) (int, error) {
	cl, err := l.containerd()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx = namespaces.WithNamespace(ctx, ContainerdNamespace(n))
	ctrs, err := cl.Containers(ctx)
	if err != nil {
		return 0, err
	}
	killed := 0
	var errs []error
	for _, c := range ctrs {
		t, err := c.Task(ctx, nil)
		if err != nil {
			continue // no task: created or already gone
		}
		st, err := t.Status(ctx)
		if err != nil || st.Status != containerd.Running {
			continue
		}
		if err := t.Kill(ctx, syscall.SIGKILL); err != nil {
			errs = append(errs, fmt.Errorf("kill %s: %w", c.ID(), err))
			continue
		}
		killed++
	}
	return killed, errors.Join(errs...)
}

// Leftovers lists what node n still has in containerd: containers, tasks,
// active snapshots and their mounts (image layers are not leftovers).
func (l *Lab) Leftovers(ctx context.Context, n Node) ([]string, error) {
	c := &testenv.Containerd{Address: l.ContainerdSock(), Dir: l.containerdDir()}
	return c.Leftovers(ctx, ContainerdNamespace(n))
}
