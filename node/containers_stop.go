package node

import (
	"context"
	"errors"
	"time"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
)

// defaultStopTimeout is docker stop's grace when none is given.
const defaultStopTimeout = 10 * time.Second

// Stop stops a running container. Its task's runner sees the exit as it
// sees a crash, and the orchestrator replaces the task.
func (c *containersAPI) Stop(ctx context.Context, r *api.StopContainerRequest) (*api.StopContainerResponse, error) {
	s, err := c.resolve(ctx, r.GetRef())
	if err != nil {
		return nil, err
	}
	if s.State != executor.StateRunning {
		return &api.StopContainerResponse{}, nil
	}
	timeout := defaultStopTimeout
	if r.GetTimeout() != nil {
		timeout = max(r.GetTimeout().AsDuration(), 0)
	}
	if r.GetKill() {
		timeout = 0
	}
	if err := c.n.cfg.Executor.Stop(ctx, s.ID, timeout); err != nil {
		return nil, containerErr(err, r.GetRef())
	}
	return &api.StopContainerResponse{WasRunning: true}, nil
}

// Remove removes a container; a running one only with force, as docker's
// rm. A running task whose container is gone fails and is replaced.
func (c *containersAPI) Remove(ctx context.Context, r *api.RemoveContainerRequest) (*api.RemoveContainerResponse, error) {
	s, err := c.resolve(ctx, r.GetRef())
	if err != nil {
		return nil, err
	}
	if s.State == executor.StateRunning {
		if !r.GetForce() {
			return nil, errdefs.Conflict("cannot remove container \"/%s\": container is running: stop the container before removing or force remove", s.Name)
		}
		if err := c.n.cfg.Executor.Stop(ctx, s.ID, 0); err != nil {
			return nil, containerErr(err, r.GetRef())
		}
	}
	if err := c.n.cfg.Executor.Remove(ctx, s.ID); err != nil {
		return nil, containerErr(err, r.GetRef())
	}
	return &api.RemoveContainerResponse{}, nil
}

// containerErr is an executor error about container ref in the words of
// docker's container calls: one gone in between is "No such container",
// one not running (for top and stats) docker's 409.
func containerErr(err error, ref string) error {
	switch {
	case errors.Is(err, executor.ErrNotFound):
		return errdefs.NotFound("No such container: %s", ref)
	case errors.Is(err, executor.ErrNotRunning):
		return errdefs.Conflict("Container %s is not running", ref)
	}
	return err
}
