package containerd

import (
	"context"
	"errors"
	"strconv"
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
	labelTTY        = "io.minsw.executor.tty"
	labelLogMaxSize = "io.minsw.executor.log-max-size"
	labelLogMaxFile = "io.minsw.executor.log-max-file"
	// labelLogRecords marks a container whose log is written as logfile
	// records (times and streams kept); older containers' logs are plain.
	labelLogRecords = "io.minsw.executor.log-records"
)

// optionLabels records what later calls need of the options.
func optionLabels(o executor.Options, labels map[string]string) {
	if o.StopSignal != "" {
		labels[labelStopSignal] = o.StopSignal
	}
	if o.LogDriver != "" {
		labels[labelLogDriver] = o.LogDriver
	}
	if o.TTY {
		labels[labelTTY] = "true"
	}
	if v := o.LogOpts["max-size"]; v != "" {
		if n, err := containeropts.Bytes(v); err == nil {
			labels[labelLogMaxSize] = strconv.FormatInt(n, 10)
		}
	}
	if v := o.LogOpts["max-file"]; v != "" {
		labels[labelLogMaxFile] = v
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

// recordLabels marks a new container's log as records when the node has
// the log writer that stamps them.
func (e *Executor) recordLabels(o executor.Options, labels map[string]string) {
	if e.cfg.LogBinary != "" && o.LogDriver != "none" {
		labels[labelLogRecords] = "true"
	}
}

// taskIO is where the container's output goes: nowhere with --log-driver
// none; through the log writer when its lines are stamped (records), with
// a terminal or with a rotating log; else appended to its log file by the
// shim.
func (e *Executor) taskIO(id string, labels map[string]string) cio.Creator {
	if labels[labelLogDriver] == "none" {
		return cio.NullIO
	}
	tty := labels[labelTTY] == "true"
	records := labels[labelLogRecords] == "true"
	maxSize, _ := strconv.ParseInt(labels[labelLogMaxSize], 10, 64)
	maxFile, _ := strconv.Atoi(labels[labelLogMaxFile])
	if !tty && !records && maxSize == 0 && maxFile == 0 {
		return cio.LogFile(e.files(id).log())
	}
	if e.cfg.LogBinary == "" {
		return func(string) (cio.IO, error) {
			return nil, errors.New("--tty and --log-opt max-size/max-file need the node's log writer, which this executor was not given")
		}
	}
	return logWriterIO(e.cfg.LogBinary, e.files(id).log(), maxSize, maxFile, tty, records)
}
