// Package containerd runs the worker's task containers with containerd,
// through its Go client, in one containerd namespace per node. It owns that
// namespace's containers, tasks and snapshots, and the per-container files
// under its state dir (resolv.conf, hosts, hostname, log). It does not
// build networks: it joins the network namespace it is given.
package containerd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/identifiers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sync/singleflight"

	"github.com/minsw/minsw/worker/executor"
)

// Labels the executor keeps on each containerd container, so that a new
// executor (after a daemon restart) can describe containers it did not make.
const (
	labelName      = "io.minsw.executor.name"
	labelImage     = "io.minsw.executor.image"
	labelStartedAt = "io.minsw.executor.started-at"
	// labelHostNetwork marks a container in the node's own namespace
	// (introspect.go: docker shows no networks of its own for it).
	labelHostNetwork = "io.minsw.executor.host-network"
)

// Executor is executor.Executor on containerd.
type Executor struct {
	cfg        Config
	client     *containerd.Client
	registries *registries
	pulls      singleflight.Group
	log        *slog.Logger

	closing context.Context
	close   context.CancelFunc
}

var _ executor.Executor = (*Executor)(nil)

// New connects to containerd. A daemon that is not running is an error
// naming its socket.
func New(ctx context.Context, cfg Config) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("executor config: %w", err)
	}
	if _, err := os.Stat(cfg.Address); err != nil {
		return nil, fmt.Errorf("containerd is not running: no socket at %s: %w", cfg.Address, err)
	}
	client, err := containerd.New(cfg.Address,
		containerd.WithDefaultNamespace(cfg.Namespace),
		containerd.WithDefaultRuntime(cfg.Runtime),
		containerd.WithTimeout(cfg.DialTimeout))
	if err != nil {
		return nil, fmt.Errorf("containerd is not running at %s: %w", cfg.Address, err)
	}
	if err := checkDaemon(ctx, client, cfg); err != nil {
		client.Close()
		return nil, err
	}
	regs, err := newRegistries(cfg)
	if err != nil {
		client.Close()
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "fifo"), 0o700); err != nil {
		client.Close()
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	closing, cancel := context.WithCancel(context.Background())
	return &Executor{
		cfg:        cfg,
		client:     client,
		registries: regs,
		log:        log.With("node", cfg.Namespace),
		closing:    closing,
		close:      cancel,
	}, nil
}

func checkDaemon(ctx context.Context, client *containerd.Client, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if ok, err := client.IsServing(ctx); !ok || err != nil {
		return fmt.Errorf("containerd is not serving at %s: %v", cfg.Address, err)
	}
	ps, err := client.IntrospectionService().Plugins(ctx, []string{
		fmt.Sprintf(`type=="io.containerd.snapshotter.v1",id==%q`, cfg.Snapshotter)})
	if err != nil {
		return fmt.Errorf("containerd at %s: list plugins: %w", cfg.Address, err)
	}
	if len(ps.Plugins) == 0 || ps.Plugins[0].InitErr != nil {
		reason := "not built in"
		if len(ps.Plugins) > 0 {
			reason = ps.Plugins[0].InitErr.Message
		}
		return fmt.Errorf("containerd at %s: snapshotter %s unavailable: %s", cfg.Address, cfg.Snapshotter, reason)
	}
	return nil
}

// Close stops pulls and event streams and disconnects; containers keep
// running.
func (e *Executor) Close() error {
	e.close()
	return e.client.Close()
}

func (e *Executor) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, e.cfg.Namespace)
}

func (e *Executor) files(id string) containerFiles {
	return containerFiles{dir: filepath.Join(e.cfg.StateDir, id)}
}

func (e *Executor) load(ctx context.Context, id string) (containerd.Container, error) {
	c, err := e.client.LoadContainer(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s", executor.ErrNotFound, id)
		}
		return nil, fmt.Errorf("container %s: %w", short(id), err)
	}
	return c, nil
}

// Create makes the container and its (not yet started) task, so that a
// command missing from the image fails here; on any error it removes what
// it made.
func (e *Executor) Create(ctx context.Context, spec executor.Spec) (err error) {
	ctx = e.ns(ctx)
	if err := identifiers.Validate(spec.ID); err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	if spec.Image == "" {
		return fmt.Errorf("create container %s: no image", short(spec.ID))
	}
	if _, err := e.client.LoadContainer(ctx, spec.ID); err == nil {
		return fmt.Errorf("%w: %s", executor.ErrAlreadyExists, spec.ID)
	}
	img, err := e.image(ctx, spec.Image)
	if err != nil {
		return err
	}
	imgSpec, err := img.Spec(ctx)
	if err != nil {
		return fmt.Errorf("create container %s: image config: %w", short(spec.ID), err)
	}
	args := processArgs(spec, imgSpec.Config.Entrypoint, imgSpec.Config.Cmd)
	if len(args) == 0 {
		return fmt.Errorf("create container %s: no command specified", short(spec.ID))
	}
	extra, args, err := optionSpecOpts(spec.Options, args)
	if err != nil {
		return fmt.Errorf("create container %s: %w", short(spec.ID), err)
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = short(spec.ID)
	}

	files := e.files(spec.ID)
	if err := files.write(spec, hostname); err != nil {
		return fmt.Errorf("create container %s: %w", short(spec.ID), err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(files.dir)
		}
	}()
	storageOpts, err := storage(spec, files) // mounts.go
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			unmountFiles(files)
		}
	}()

	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithProcessArgs(args...),
		oci.WithEnv(spec.Env),
		oci.WithHostname(hostname),
		oci.WithMounts([]specs.Mount{
			bindMount("/etc/resolv.conf", files.resolvConf()),
			bindMount("/etc/hosts", files.hosts()),
			bindMount("/etc/hostname", files.hostname()),
		}),
		seccomp.WithDefaultProfile(),
	}
	opts = append(opts, storageOpts...)
	opts = append(opts, extra...)
	if spec.NetnsPath != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: spec.NetnsPath}))
	}
	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	labels[labelName] = spec.Name
	labels[labelImage] = spec.Image
	if spec.HostNetwork {
		labels[labelHostNetwork] = "true"
	}
	optionLabels(spec.Options, labels)
	e.recordLabels(spec.Options, labels)

	ctr, err := e.client.NewContainer(ctx, spec.ID,
		containerd.WithImage(img),
		containerd.WithSnapshotter(e.cfg.Snapshotter),
		containerd.WithNewSnapshot(spec.ID, img),
		containerd.WithRuntime(e.cfg.Runtime, nil),
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("%w: %s", executor.ErrAlreadyExists, spec.ID)
		}
		return fmt.Errorf("create container %s: %w", short(spec.ID), err)
	}
	defer func() {
		if err != nil {
			dctx, cancel := cleanupContext(ctx)
			defer cancel()
			if derr := ctr.Delete(dctx, containerd.WithSnapshotCleanup); derr != nil {
				e.log.Warn("remove half-made container", "container", short(spec.ID), "err", derr)
			}
		}
	}()
	if err := e.copyUp(ctx, spec); err != nil {
		return err
	}
	if _, err := ctr.NewTask(ctx, e.taskIO(spec.ID, labels)); err != nil {
		return fmt.Errorf("create container %s: %s", short(spec.ID), runtimeReason(err))
	}
	return nil
}

// processArgs applies Docker's rules: a command replaces the entrypoint and
// drops the image's cmd; args replace the cmd.
func processArgs(spec executor.Spec, entrypoint, cmd []string) []string {
	if len(spec.Command) > 0 {
		entrypoint, cmd = spec.Command, nil
	}
	if len(spec.Args) > 0 {
		cmd = spec.Args
	}
	return append(append([]string{}, entrypoint...), cmd...)
}

func bindMount(dst, src string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}}
}

// runtimeReason shortens runc's error chain to the part a user can act on,
// e.g. `exec: "nosuch": executable file not found in $PATH`.
var runcReason = regexp.MustCompile(`(exec: "[^"]*": [^:]+)`)

func runtimeReason(err error) string {
	if m := runcReason.FindStringSubmatch(err.Error()); m != nil {
		return "starting container process failed: " + m[1]
	}
	return err.Error()
}

// cleanupContext outlives ctx's cancellation, so that a cancelled create
// still removes what it made.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// Start starts the container's task; a task that ran and exited is replaced
// by a new one. Starting a running container does nothing.
func (e *Executor) Start(ctx context.Context, id string) error {
	ctx = e.ns(ctx)
	ctr, err := e.load(ctx, id)
	if err != nil {
		return err
	}
	task, err := ctr.Task(ctx, nil)
	switch {
	case errdefs.IsNotFound(err):
		task = nil
	case err != nil:
		return fmt.Errorf("start container %s: %w", short(id), err)
	default:
		st, err := task.Status(ctx)
		if err != nil {
			return fmt.Errorf("start container %s: %w", short(id), err)
		}
		switch st.Status {
		case containerd.Running, containerd.Paused, containerd.Pausing:
			return nil
		case containerd.Stopped:
			if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("start container %s: remove exited task: %w", short(id), err)
			}
			task = nil
		}
	}
	if task == nil {
		info, err := ctr.Info(ctx)
		if err != nil {
			return fmt.Errorf("start container %s: %w", short(id), err)
		}
		if task, err = ctr.NewTask(ctx, e.taskIO(id, info.Labels)); err != nil {
			return fmt.Errorf("start container %s: %s", short(id), runtimeReason(err))
		}
	}
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("start container %s: %s", short(id), runtimeReason(err))
	}
	if _, err := ctr.SetLabels(ctx, map[string]string{labelStartedAt: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
		e.log.Warn("record start time", "container", short(id), "err", err)
	}
	return nil
}

// Stop sends SIGTERM (SIGKILL to a task never started) and SIGKILL after
// timeout, and waits for the exit.
func (e *Executor) Stop(ctx context.Context, id string, timeout time.Duration) error {
	ctx = e.ns(ctx)
	ctr, err := e.load(ctx, id)
	if err != nil {
		return err
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop container %s: %w", short(id), err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", short(id), err)
	}
	if st.Status == containerd.Stopped {
		return nil
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", short(id), err)
	}
	sig := stopSignal(ctx, ctr)
	if st.Status == containerd.Created {
		sig = syscall.SIGKILL
	}
	if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", short(id), err)
	}
	if sig != syscall.SIGKILL {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-exited:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("stop container %s: %w", short(id), ctx.Err())
		case <-t.C:
		}
		if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("stop container %s: %w", short(id), err)
		}
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop container %s: %w", short(id), ctx.Err())
	}
}

// Remove kills the task if it still runs, then deletes the task, the
// container, its snapshot and its files.
func (e *Executor) Remove(ctx context.Context, id string) error {
	ctx = e.ns(ctx)
	ctr, err := e.load(ctx, id)
	if err != nil {
		return err
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: task: %w", short(id), err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", short(id), err)
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", short(id), err)
	}
	if err := unmountFiles(e.files(id)); err != nil {
		return fmt.Errorf("remove container %s: %w", short(id), err)
	}
	if err := os.RemoveAll(e.files(id).dir); err != nil {
		return fmt.Errorf("remove container %s: %w", short(id), err)
	}
	return nil
}

// Inspect describes one container.
func (e *Executor) Inspect(ctx context.Context, id string) (executor.Status, error) {
	ctx = e.ns(ctx)
	ctr, err := e.load(ctx, id)
	if err != nil {
		return executor.Status{}, err
	}
	info, err := ctr.Info(ctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return executor.Status{}, fmt.Errorf("%w: %s", executor.ErrNotFound, id)
		}
		return executor.Status{}, fmt.Errorf("inspect container %s: %w", short(id), err)
	}
	var ts *taskState
	task, err := ctr.Task(ctx, nil)
	if err == nil {
		st, err := task.Status(ctx)
		if err != nil && !errdefs.IsNotFound(err) {
			return executor.Status{}, fmt.Errorf("inspect container %s: %w", short(id), err)
		}
		if err == nil {
			ts = &taskState{status: st.Status, pid: task.Pid(), exitCode: st.ExitStatus, exitedAt: st.ExitTime}
		}
	} else if !errdefs.IsNotFound(err) {
		return executor.Status{}, fmt.Errorf("inspect container %s: %w", short(id), err)
	}
	return status(info, ts), nil
}

// List describes every container in the node's namespace, including those
// made by an earlier executor, so that a restarted agent can adopt them.
func (e *Executor) List(ctx context.Context) ([]executor.Status, error) {
	ctx = e.ns(ctx)
	infos, err := e.client.ContainerService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	tasks, err := e.client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	byID := map[string]*taskState{}
	for _, t := range tasks.Tasks {
		byID[t.ID] = &taskState{
			status:   containerd.ProcessStatus(strings.ToLower(t.Status.String())),
			pid:      t.Pid,
			exitCode: t.ExitStatus,
			exitedAt: t.ExitedAt.AsTime(),
		}
	}
	out := make([]executor.Status, 0, len(infos))
	for _, info := range infos {
		out = append(out, status(info, byID[info.ID]))
	}
	return out, nil
}

type taskState struct {
	status   containerd.ProcessStatus
	pid      uint32
	exitCode uint32
	exitedAt time.Time
}

func status(info containers.Container, t *taskState) executor.Status {
	s := executor.Status{
		ID:        info.ID,
		Name:      info.Labels[labelName],
		Image:     info.Labels[labelImage],
		Labels:    map[string]string{},
		CreatedAt: info.CreatedAt,
	}
	if s.Image == "" {
		s.Image = info.Image
	}
	for k, v := range info.Labels {
		if !strings.HasPrefix(k, "io.minsw.executor.") {
			s.Labels[k] = v
		}
	}
	if info.Spec != nil {
		var sp specs.Spec
		if json.Unmarshal(info.Spec.GetValue(), &sp) == nil && sp.Process != nil {
			s.Command = sp.Process.Args
		}
	}
	started, _ := time.Parse(time.RFC3339Nano, info.Labels[labelStartedAt])
	s.StartedAt = started
	switch {
	case t == nil && started.IsZero():
		s.State = executor.StateCreated
	case t == nil:
		// The task is gone (containerd or the host restarted): it ran once.
		s.State, s.ExitCode = executor.StateExited, 255
	case t.status == containerd.Created:
		s.State = executor.StateCreated
	case t.status == containerd.Stopped:
		s.State, s.ExitCode, s.FinishedAt = executor.StateExited, int(t.exitCode), t.exitedAt
	default:
		s.State, s.Pid = executor.StateRunning, t.pid
	}
	return s
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
