package agent

import (
	"bytes"
	"context"
	"errors"
	"sync"

	"google.golang.org/protobuf/types/known/durationpb"

	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/executor"
	"github.com/minsw/minsw/worker/health"
)

// errUnhealthy is a task's error when its health check failed (docker's words).
const errUnhealthy = "task: unhealthy container"

// prober runs one container's health check in its own goroutine and keeps
// the verdict for the runner, which it pokes on every change.
type prober struct {
	cancel context.CancelFunc

	mu  sync.Mutex
	mon *health.Monitor
}

func (p *prober) state() api.HealthState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mon.State()
}

// healthConfig resolves the task's check: the service's over the image's.
// A failure to read the image's check counts as none (logged).
func (r *taskRunner) healthConfig(ctx context.Context, t *api.Task) *health.Config {
	svc := t.GetSpec().GetContainer().GetHealthcheck()
	var img *api.HealthConfig
	if ih, ok := r.a.cfg.Executor.(executor.ImageHealth); ok && !(len(svc.GetTest()) > 0 && svc.GetTest()[0] == "NONE") {
		h, err := ih.ImageHealthcheck(ctx, t.GetSpec().GetContainer().GetImage())
		if err != nil {
			r.a.log.Warn("reading the image's health check", "task", r.id, "err", err)
		} else if h != nil {
			img = &api.HealthConfig{Test: h.Test, Interval: durationpb.New(h.Interval), Timeout: durationpb.New(h.Timeout),
				StartPeriod: durationpb.New(h.StartPeriod), StartInterval: durationpb.New(h.StartInterval), Retries: uint32(max(h.Retries, 0))}
		}
	}
	return health.Resolve(svc, img)
}

// startHealth begins probing the running container (once per runner).
func (r *taskRunner) startHealth(ctx context.Context, cfg *health.Config) *prober {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.health != nil {
		return r.health
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &prober{cancel: cancel, mon: health.NewMonitor(*cfg, r.a.clock.Now())}
	r.health = p
	go r.probeLoop(pctx, p, cfg)
	return p
}

// stopHealth ends probing (the task is stopping).
func (r *taskRunner) stopHealth() {
	r.mu.Lock()
	p := r.health
	r.mu.Unlock()
	if p != nil {
		p.cancel()
	}
}

func (r *taskRunner) probeLoop(ctx context.Context, p *prober, cfg *health.Config) {
	next := cfg.StartInterval
	if cfg.StartPeriod == 0 {
		next = cfg.Interval
	}
	for sleep(ctx, r.a.clock, next) {
		probe := r.probe(ctx, cfg)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		changed := p.mon.Observe(probe)
		state := p.mon.State()
		next = p.mon.Next(probe.End)
		p.mu.Unlock()
		if changed {
			r.a.log.Info("task health", "task", r.id, "health", state.String(), "exit", probe.ExitCode)
			r.poke()
		}
	}
}

// probe runs the check once in the container, bounded by its timeout.
func (r *taskRunner) probe(ctx context.Context, cfg *health.Config) health.Probe {
	start := r.a.clock.Now()
	pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var out bytes.Buffer
	w := &limitWriter{buf: &out, n: health.MaxOutput}
	code, err := r.a.cfg.Executor.Exec(pctx, r.ctrID, executor.ExecConfig{Cmd: cfg.Command(), Stdout: w, Stderr: w})
	switch {
	case errors.Is(pctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return health.TimeoutProbe(start, cfg.Timeout)
	case err != nil:
		return health.Probe{Start: start, End: r.a.clock.Now(), ExitCode: -1, Output: err.Error()}
	}
	return health.Probe{Start: start, End: r.a.clock.Now(), ExitCode: code, Output: out.String()}
}

type limitWriter struct {
	mu  sync.Mutex
	buf *bytes.Buffer
	n   int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.n - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// Health is a task container's health verdict, its failing streak and
// its last probes, for `container ls` and `container inspect` (state none:
// no check, or no such task here).
func (a *Agent) Health(taskID string) (api.HealthState, int, []health.Probe) {
	a.mu.Lock()
	r := a.runners[taskID]
	a.mu.Unlock()
	if r == nil {
		return api.HealthState_HEALTH_STATE_NONE, 0, nil
	}
	r.mu.Lock()
	p := r.health
	r.mu.Unlock()
	if p == nil {
		return api.HealthState_HEALTH_STATE_NONE, 0, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mon.State(), p.mon.FailingStreak(), p.mon.Log()
}

// healthGate decides, for a started container, whether the task may be
// reported running: without a check at once; with one, once healthy (as
// docker's swarm executor does, so a task joins the load balancer only
// when healthy). It returns ready, or the error to fail the task with.
func (r *taskRunner) healthGate(ctx context.Context, t *api.Task) (ready bool, failErr string) {
	r.mu.Lock()
	p, resolved := r.health, r.healthResolved
	r.mu.Unlock()
	if p == nil && !resolved {
		cfg := r.healthConfig(ctx, t)
		r.mu.Lock()
		r.healthResolved = true
		r.mu.Unlock()
		if cfg == nil {
			return true, ""
		}
		p = r.startHealth(ctx, cfg) // ends with the runner, or stopHealth
	}
	if p == nil {
		return true, ""
	}
	switch p.state() {
	case api.HealthState_HEALTH_STATE_HEALTHY:
		return true, ""
	case api.HealthState_HEALTH_STATE_UNHEALTHY:
		return false, errUnhealthy
	}
	return false, ""
}

// resumeHealth starts probing a container the agent adopted running (after
// a restart of the daemon), so its check goes on.
func (r *taskRunner) resumeHealth(ctx context.Context, t *api.Task) {
	r.mu.Lock()
	resolved := r.healthResolved
	r.healthResolved = true
	r.mu.Unlock()
	if resolved {
		return
	}
	if cfg := r.healthConfig(ctx, t); cfg != nil {
		r.startHealth(ctx, cfg)
	}
}

// healthState is the task's health for its status (none without a check).
func (r *taskRunner) healthState() api.HealthState {
	r.mu.Lock()
	p := r.health
	r.mu.Unlock()
	if p == nil {
		return api.HealthState_HEALTH_STATE_NONE
	}
	return p.state()
}
