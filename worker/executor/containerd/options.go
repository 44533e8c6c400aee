package containerd

import (
	"context"
	"syscall"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"

	"github.com/minsw/minsw/internal/containeropts"
	"github.com/minsw/minsw/worker/executor"
)

// Labels keeping the options Stop and Start need after Create (a restarted
// executor reads them back).
const (
	labelStopSignal = "io.minsw.executor.stop-signal"
	labelLogDriver  = "io.minsw.executor.log-driver"
)

// optionLabels records what later calls need of the options.
func optionLabels(o executor.Options, labels map[string]string) {
	if o.StopSignal != "" {
		labels[labelStopSignal] = o.StopSignal
	}
	if o.LogDriver != "" {
		labels[labelLogDriver] = o.LogDriver
	}
}

// stopSignal is the container's --stop-signal, SIGTERM if none.
func stopSignal(ctx context.Context, ctr containerd.Container) syscall.Signal {
	labels, err := ctr.Labels(ctx)
	if err != nil || labels[labelStopSignal] == "" {
		return syscall.SIGTERM
	}
	sig, err := containeropts.Signal(labels[labelStopSignal])
	if err != nil {
		return syscall.SIGTERM
	}
	return sig
}

// taskIO is where the container's output goes: its log file, or nowhere
// with --log-driver none.
func (e *Executor) taskIO(id string, labels map[string]string) cio.Creator {
	if labels[labelLogDriver] == "none" {
		return cio.NullIO
	}
	return cio.LogFile(e.files(id).log())
}
