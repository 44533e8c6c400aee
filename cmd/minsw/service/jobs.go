package service

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/internal/containeropts"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func isJobSpec(s *minswv1.ServiceSpec) bool {
	return s.GetReplicatedJob() != nil || s.GetGlobalJob() != nil
}

// jobProgress is where a job's current run stands.
type jobProgress struct {
	running, desired, completed, total int
}

// jobStatus counts a job's tasks of its current spec as docker's service
// ls does: desired is what should run now (at most max-concurrent of what
// is left), total the completions wanted.
func jobStatus(s *minswv1.Service, tasks []*minswv1.Task, nodes []*minswv1.Node) jobProgress {
	down := map[string]bool{}
	for _, n := range nodes {
		if n.GetStatus().GetState() == minswv1.NodeState_NODE_STATE_DOWN {
			down[n.GetId()] = true
		}
	}
	var p jobProgress
	live := 0
	for _, t := range tasks {
		if t.GetServiceId() != s.GetId() || t.GetSpecVersion() != s.GetSpecVersion() {
			continue
		}
		switch {
		case t.GetStatus().GetState() == minswv1.TaskState_TASK_STATE_COMPLETE:
			p.completed++
		case t.GetDesiredState() == minswv1.TaskState_TASK_STATE_RUNNING && !down[t.GetNodeId()]:
			live++
			if t.GetStatus().GetState() == minswv1.TaskState_TASK_STATE_RUNNING {
				p.running++
			}
		}
	}
	if j := s.GetSpec().GetReplicatedJob(); j != nil {
		p.total = int(j.GetTotalCompletions())
		p.desired = min(int(j.GetMaxConcurrent()), max(p.total-p.completed, 0))
	} else {
		p.desired = live
		p.total = live + p.completed
	}
	return p
}

// jobColumns are service ls's MODE and REPLICAS of a job:
// "replicated job", "2/2 (3/3 completed)".
func jobColumns(s *minswv1.Service, tasks []*minswv1.Task, nodes []*minswv1.Node) (mode, replicas string, ok bool) {
	switch {
	case s.GetSpec().GetReplicatedJob() != nil:
		mode = "replicated job"
	case s.GetSpec().GetGlobalJob() != nil:
		mode = "global job"
	default:
		return "", "", false
	}
	p := jobStatus(s, tasks, nodes)
	return mode, fmt.Sprintf("%d/%d (%d/%d completed)", p.running, p.desired, p.completed, p.total), true
}

// waitForJob follows a job until all its completions are done, as docker
// does for jobs: "job progress: 2 out of 3 complete", then "job complete".
func waitForJob(ctx context.Context, c *cli.CLI, cl *client.Client, id string, w WaitFlags) error {
	if w.detach {
		return nil
	}
	last := ""
	tick := time.NewTicker(c.Progress.Interval)
	defer tick.Stop()
	for {
		svc, err := cl.Control.GetService(ctx, &minswv1.GetServiceRequest{Ref: id})
		if err != nil {
			return err
		}
		tasks, err := cl.Control.ListTasks(ctx, &minswv1.ListTasksRequest{ServiceIds: []string{id}})
		if err != nil {
			return err
		}
		nodes, err := cl.Control.ListNodes(ctx, &minswv1.ListNodesRequest{})
		if err != nil {
			return err
		}
		p := jobStatus(svc.GetService(), tasks.GetTasks(), nodes.GetNodes())
		line := fmt.Sprintf("job progress: %d out of %d complete\nactive tasks: %d out of %d tasks", p.completed, p.total, p.running, p.desired)
		if line != last && !w.quiet {
			fmt.Fprintln(c.Out, line)
			last = line
		}
		if p.total > 0 && p.completed >= p.total {
			if !w.quiet {
				fmt.Fprintln(c.Out, "job complete")
			}
			return nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(c.Err, "\nOperation continuing in background.\nUse `minsw service ps --no-trunc %s` to check progress.\n", svc.GetService().GetSpec().GetName())
			return nil
		case <-tick.C:
		}
	}
}

// printJobMode is service inspect --pretty's mode of a job; false if the
// service is no job.
func printJobMode(w io.Writer, spec *minswv1.ServiceSpec) bool {
	switch {
	case spec.GetReplicatedJob() != nil:
		fmt.Fprintln(w, "Service Mode:\tReplicatedJob")
		fmt.Fprintf(w, " Max Concurrent:\t%d\n", spec.GetReplicatedJob().GetMaxConcurrent())
		fmt.Fprintf(w, " Total Completions:\t%d\n", spec.GetReplicatedJob().GetTotalCompletions())
	case spec.GetGlobalJob() != nil:
		fmt.Fprintln(w, "Service Mode:\tGlobalJob")
	default:
		return false
	}
	return true
}

// printServiceOptions is service inspect --pretty's resources, log driver
// and endpoint mode, in docker's words.
func printServiceOptions(w io.Writer, spec *minswv1.ServiceSpec) {
	ts := spec.GetTask()
	if r := ts.GetResources(); r.GetLimits() != nil || r.GetReservations() != nil {
		fmt.Fprintln(w, "Resources:")
		for _, part := range []struct {
			name string
			res  *minswv1.Resources
		}{{"Reservations", r.GetReservations()}, {"Limits", r.GetLimits()}} {
			if part.res == nil {
				continue
			}
			fmt.Fprintf(w, " %s:\n", part.name)
			if n := part.res.GetNanoCpus(); n > 0 {
				fmt.Fprintf(w, "  CPU:\t%s\n", containeropts.FormatNanoCPUs(n))
			}
			if m := part.res.GetMemoryBytes(); m > 0 {
				fmt.Fprintf(w, "  Memory:\t%s\n", containeropts.FormatBytes(m))
			}
			if p := part.res.GetPids(); p > 0 {
				fmt.Fprintf(w, "  PIDs:\t%d\n", p)
			}
			for _, g := range part.res.GetGeneric() {
				fmt.Fprintf(w, "  %s:\t%d\n", g.GetKind(), g.GetValue())
			}
		}
	}
	if p := ts.GetPlacement(); len(p.GetPreferences()) > 0 || p.GetMaxReplicas() > 0 {
		for _, pref := range p.GetPreferences() {
			fmt.Fprintf(w, " Preference:\tspread=%s\n", pref.GetSpreadDescriptor())
		}
		if p.GetMaxReplicas() > 0 {
			fmt.Fprintf(w, " Max Replicas Per Node:\t%d\n", p.GetMaxReplicas())
		}
	}
	if d := ts.GetLogDriver(); d.GetName() != "" {
		fmt.Fprintln(w, "Log Driver:")
		fmt.Fprintf(w, " Name:\t%s\n", d.GetName())
		if len(d.GetOptions()) > 0 {
			fmt.Fprintln(w, " LogOpts:")
			for _, k := range cli.SortedKeys(d.GetOptions()) {
				fmt.Fprintf(w, "  %s:\t%s\n", k, d.GetOptions()[k])
			}
		}
	}
	mode := "vip"
	if spec.GetEndpoint().GetMode() == minswv1.EndpointMode_ENDPOINT_MODE_DNSRR {
		mode = "dnsrr"
	}
	fmt.Fprintf(w, "Endpoint Mode:\t%s\n", mode)
}
