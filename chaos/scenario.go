package chaos

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Timing is how long a scenario runs the workload before the fault, with
// the fault in place, and after it is healed.
type Timing struct {
	Warm, Fault, After time.Duration
	// SnapshotEntries is how far the log must move on while a follower is
	// down before it may come back (past the leader's compaction, so it
	// catches up by InstallSnapshot); Catchup bounds the wait.
	SnapshotEntries uint64
	Catchup         time.Duration
}

// Scenario is one fault: Inject breaks the cluster and returns a func
// that heals it.
type Scenario struct {
	Name   string
	Inject func(ctx context.Context, e *Env) (heal func() error, err error)
}

// Env is what a scenario works on.
type Env struct {
	Cluster   *Cluster
	Workload  *Workload
	Timing    Timing
	Partition Partition
	// Note is set by a scenario to say something the table should show.
	Note string
	// faultAt is when the fault took effect (Faulted), on the recorder's
	// clock.
	faultAt int64
}

// Faulted marks the moment the fault took effect: "first write after
// fault" counts from here.
func (e *Env) Faulted() { e.faultAt = e.Workload.Rec.Now() }

// Row is one line of the report.
type Row struct {
	Fault        string
	Ops          int
	Acknowledged int
	Unknown      int
	Lost         int
	Stale        int
	Linearizable string
	FirstWrite   time.Duration // from the fault to the first write accepted after it; -1: none
	AfterHeal    time.Duration // from the heal (restart, SIGCONT, ...) to the first write accepted after it
	Note         string
	Err          error
}

// Scenarios are the faults of the issue, in the order the report shows.
func Scenarios() []Scenario {
	return []Scenario{
		{"leader SIGKILL", func(ctx context.Context, e *Env) (func() error, error) {
			l, err := e.Cluster.Leader(ctx)
			if err != nil {
				return nil, err
			}
			l.Kill()
			e.Faulted()
			sleep(ctx, e.Timing.Fault)
			return func() error { return l.Start(ctx) }, nil
		}},
		{"follower SIGKILL", func(ctx context.Context, e *Env) (func() error, error) {
			f, err := e.follower(ctx)
			if err != nil {
				return nil, err
			}
			f.Kill()
			e.Faulted()
			sleep(ctx, e.Timing.Fault)
			return func() error { return f.Start(ctx) }, nil
		}},
		{"leader SIGSTOP/SIGCONT", func(ctx context.Context, e *Env) (func() error, error) {
			l, err := e.Cluster.Leader(ctx)
			if err != nil {
				return nil, err
			}
			if err := l.Signal(syscall.SIGSTOP); err != nil {
				return nil, err
			}
			e.Faulted()
			sleep(ctx, e.Timing.Fault)
			return func() error { return l.Signal(syscall.SIGCONT) }, nil
		}},
		{"partition: leader cut off", func(ctx context.Context, e *Env) (func() error, error) {
			l, err := e.Cluster.Leader(ctx)
			if err != nil {
				return nil, err
			}
			if err := e.Partition.Isolate(e.Cluster, l); err != nil {
				return nil, err
			}
			e.Faulted()
			sleep(ctx, e.Timing.Fault)
			return e.Partition.Heal, nil
		}},
		{"whole-cluster restart", func(ctx context.Context, e *Env) (func() error, error) {
			for _, m := range e.Cluster.Managers {
				m.Stop()
			}
			e.Faulted()
			return func() error {
				for _, m := range e.Cluster.Managers {
					if err := m.Start(ctx); err != nil {
						return err
					}
				}
				return nil
			}, nil
		}},
		{"follower down past a snapshot", func(ctx context.Context, e *Env) (func() error, error) {
			f, err := e.follower(ctx)
			if err != nil {
				return nil, err
			}
			before := e.raftIndex(ctx)
			f.Kill()
			e.Faulted()
			deadline := time.Now().Add(e.Timing.Catchup)
			now := before
			for now < before+e.Timing.SnapshotEntries && time.Now().Before(deadline) && ctx.Err() == nil {
				sleep(ctx, 500*time.Millisecond)
				now = e.raftIndex(ctx)
			}
			e.Note = fmt.Sprintf("log moved %d entries while down", now-before)
			if now < before+e.Timing.SnapshotEntries {
				e.Note += fmt.Sprintf(" (wanted %d: no snapshot needed)", e.Timing.SnapshotEntries)
			}
			return func() error {
				if err := f.Start(ctx); err != nil {
					return err
				}
				// The follower holds a snapshot past the index it died at
				// once it caught up: the entries in between were compacted
				// away on the leader, so it can only have installed one.
				deadline := time.Now().Add(e.Timing.Catchup)
				for ctx.Err() == nil {
					if idx := snapshotIndex(f.Dir); idx > before {
						e.Note += fmt.Sprintf("; back, it installed a snapshot at index %d (died near %d)", idx, before)
						return nil
					}
					if time.Now().After(deadline) {
						e.Note += "; back, but holds no snapshot past the index it died at"
						return fmt.Errorf("%s did not catch up by snapshot within %v", f.Name, e.Timing.Catchup)
					}
					sleep(ctx, 200*time.Millisecond)
				}
				return ctx.Err()
			}, nil
		}},
	}
}

func (e *Env) follower(ctx context.Context) (*Manager, error) {
	l, err := e.Cluster.Leader(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range e.Cluster.Managers {
		if m != l && m.Running() {
			return m, nil
		}
	}
	return nil, fmt.Errorf("no follower running")
}

// raftIndex is the highest object version the leader shows: versions are
// raft indexes, so it tells how far the log has moved.
func (e *Env) raftIndex(ctx context.Context) uint64 {
	l, err := e.Cluster.Leader(ctx)
	if err != nil {
		return 0
	}
	cl, _ := l.Client()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var max uint64
	if r, err := cl.Control.ListServices(cctx, &api.ListServicesRequest{}); err == nil {
		for _, s := range r.GetServices() {
			max = maxU(max, s.GetMeta().GetVersion())
		}
	}
	if r, err := cl.Control.ListNodes(cctx, &api.ListNodesRequest{}); err == nil {
		for _, n := range r.GetNodes() {
			max = maxU(max, n.GetMeta().GetVersion())
		}
	}
	return max
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Config says how to run scenarios.
type Config struct {
	Bin     string // the minsw binary
	Dir     string // per-run scratch directory
	Timing  Timing
	Clients int
	Keys    int
	// GidBase is the first group ID the managers run as (see Partition).
	GidBase int
	Log     io.Writer
}

// Run runs one scenario on a fresh three-manager cluster and checks the
// history.
func Run(ctx context.Context, cfg Config, sc Scenario) Row {
	row := Row{Fault: sc.Name, FirstWrite: -1, AfterHeal: -1}
	dir := filepath.Join(cfg.Dir, strings.NewReplacer(" ", "-", "/", "-", ":", "").Replace(sc.Name))
	c, err := NewCluster(cfg.Bin, dir, 3, cfg.GidBase)
	if err != nil {
		row.Err = err
		return row
	}
	defer c.Close()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = c.Start(sctx)
	cancel()
	if err != nil {
		row.Err = fmt.Errorf("start: %w", err)
		return row
	}
	part := Partition{Table: fmt.Sprintf("minsw_chaos_%d", os.Getpid())}
	defer part.Heal()
	var keys []string
	for i := 0; i < cfg.Keys; i++ {
		keys = append(keys, fmt.Sprintf("key%d", i))
	}
	rec := NewRecorder()
	w := &Workload{Keys: keys, Clients: cfg.Clients, OpTimeout: 3 * time.Second, Rec: rec}
	env := &Env{Cluster: c, Workload: w, Timing: cfg.Timing, Partition: part}
	w.Run(c, time.Now().UnixNano())
	sleep(ctx, cfg.Timing.Warm)
	env.faultAt = rec.Now()
	heal, err := sc.Inject(ctx, env)
	faultAt := env.faultAt
	var healAt int64
	if err == nil {
		healAt = rec.Now()
		err = heal()
	}
	if err != nil {
		w.Stop()
		row.Err = fmt.Errorf("fault: %w", err)
		return row
	}
	sleep(ctx, cfg.Timing.After)
	w.Stop()
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.WaitHealthy(hctx); err != nil {
		row.Err = fmt.Errorf("cluster did not heal: %w", err)
	}
	final, ferr := FinalValues(hctx, c, keys)
	ops := rec.Ops()
	row.Ops = len(ops)
	for _, op := range ops {
		if op.In.Kind == Read {
			continue
		}
		switch op.Out.Result {
		case OK:
			row.Acknowledged++
			if op.Call >= faultAt {
				if d := time.Duration(op.Return - faultAt); row.FirstWrite < 0 || d < row.FirstWrite {
					row.FirstWrite = d
				}
			}
			if op.Call >= healAt {
				if d := time.Duration(op.Return - healAt); row.AfterHeal < 0 || d < row.AfterHeal {
					row.AfterHeal = d
				}
			}
		case Unknown:
			row.Unknown++
		}
	}
	if ferr != nil && row.Err == nil {
		row.Err = fmt.Errorf("final reads: %w", ferr)
	}
	if ferr == nil {
		row.Lost = Lost(ops, final)
	}
	row.Stale = StaleReads(ops)
	row.Linearizable = Linearizable(ops, 60*time.Second)
	if row.Linearizable != "yes" {
		page := dir + ".html"
		if err := Explain(ops, 60*time.Second, page); err == nil {
			row.Note = strings.TrimSpace(row.Note + " history: " + page)
		}
	}
	row.Note = strings.TrimSpace(env.Note + " " + row.Note)
	return row
}

// Print writes the report table.
func Print(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FAULT\tOPERATIONS\tACKNOWLEDGED\tUNKNOWN\tLOST\tSTALE READS\tLINEARIZABLE\tFIRST WRITE AFTER FAULT\tAFTER HEAL\tNOTE")
	for _, r := range rows {
		fw, ah := "none", "none"
		if r.FirstWrite >= 0 {
			fw = r.FirstWrite.Round(time.Millisecond).String()
		}
		if r.AfterHeal >= 0 {
			ah = r.AfterHeal.Round(time.Millisecond).String()
		}
		note := r.Note
		if r.Err != nil {
			note = strings.TrimSpace(note + " error: " + r.Err.Error())
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", r.Fault, r.Ops, r.Acknowledged, r.Unknown, r.Lost, r.Stale, r.Linearizable, fw, ah, note)
	}
	tw.Flush()
}

// Pass reports whether a row meets the bar: nothing acknowledged
// lost, no stale read, a linearizable history, no harness error.
func (r Row) Pass() bool {
	return r.Err == nil && r.Lost == 0 && r.Stale == 0 && r.Linearizable == "yes"
}

// snapshotIndex is the highest index of the raft snapshots under dir
// (hashicorp/raft names them <term>-<index>-<ms>), 0 if none.
func snapshotIndex(dir string) uint64 {
	var max uint64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || filepath.Base(filepath.Dir(path)) != "snapshots" {
			return nil
		}
		parts := strings.Split(d.Name(), "-")
		if len(parts) == 3 {
			if idx, err := strconv.ParseUint(parts[1], 10, 64); err == nil && idx > max {
				max = idx
			}
		}
		return nil
	})
	return max
}
