package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Result is one command run on a node.
type Result struct {
	Node string
	Argv []string
	Out  string // stdout and stderr, interleaved as written
	Code int    // exit status; -1 when it did not start or was killed
	Err  error  // why it did not run or finish (not set for a non-zero exit)
	Dur  time.Duration
	// Interrupted says the run hit its time limit and was sent SIGINT (what
	// a user's ^C does: the CLI detaches from a progress display).
	Interrupted bool
}

// OK says the command ran and exited 0.
func (r Result) OK() bool { return r.Err == nil && r.Code == 0 && !r.Interrupted }

// env is what the CLI run on node n sees: MINSW_HOST for minsw's,
// DOCKER_HOST (and a docker config of the lab's own) for docker's.
func (l *Lab) env(n Node) []string {
	env := append(os.Environ(), "MINSW_HOST="+l.Host(n), "DOCKER_HOST="+l.DockerHost(n), "DOCKER_CONFIG="+filepath.Join(l.Dir, "docker-config"))
	if l.VerifySeconds != "" {
		env = append(env, "MINSW_VERIFY_SECONDS="+l.VerifySeconds)
	}
	return env
}

// Run runs argv inside node n's network namespace (with MINSW_HOST naming
// its daemon), killing it with SIGINT after limit (0: 60 s).
func (l *Lab) Run(ctx context.Context, n Node, limit time.Duration, argv ...string) Result {
	if limit == 0 {
		limit = 60 * time.Second
	}
	r := Result{Node: n.Name, Argv: argv, Code: -1}
	t0 := time.Now()
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(rctx, "nsenter", append([]string{"--net=" + NetnsPath(n)}, argv...)...)
	cmd.Env = l.env(n)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r.Dur = time.Since(t0)
	r.Out = out.String()
	r.Interrupted = rctx.Err() != nil && ctx.Err() == nil
	var ee *exec.ExitError
	switch {
	case err == nil:
		r.Code = 0
	case errors.As(err, &ee) && ee.Exited():
		r.Code = ee.ExitCode()
	case r.Interrupted:
		// killed by our SIGINT (or SIGKILL after WaitDelay)
	default:
		r.Err = err
	}
	return r
}

// CLI runs `minsw args...` on node n.
func (l *Lab) CLI(ctx context.Context, n Node, limit time.Duration, args ...string) Result {
	return l.Run(ctx, n, limit, append([]string{l.Minsw}, args...)...)
}

// Show prints "[node] $ <command>" and its output to the lab's log, as a
// user would see it, and returns the result. display is what is printed as
// the command (the real argv has the full minsw path).
func (l *Lab) Show(r Result, display string) Result {
	fmt.Fprintf(l.Log, "[%s] $ %s\n", r.Node, display)
	out := r.Out
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	fmt.Fprint(l.Log, out)
	switch {
	case r.Interrupted:
		fmt.Fprintf(l.Log, "(lab: still not done after %.0fs; sent ^C, as a user would)\n", r.Dur.Seconds())
	case r.Err != nil:
		fmt.Fprintf(l.Log, "(lab: could not run: %v)\n", r.Err)
	case r.Code != 0:
		fmt.Fprintf(l.Log, "(exit status %d)\n", r.Code)
	}
	return r
}

// ShowCLI runs and shows `minsw args...` on node n.
func (l *Lab) ShowCLI(ctx context.Context, n Node, limit time.Duration, args ...string) Result {
	return l.Show(l.CLI(ctx, n, limit, args...), "minsw "+shellJoin(args))
}

// The CLIs a replay can type the seed's commands with.
const (
	ToolMinsw  = "minsw"
	ToolDocker = "docker" // the real docker CLI, through the node's Engine API
)

// ShowTool runs and shows `<tool> args...` on node n: minsw's CLI, or the
// docker CLI on PATH against the node's docker.sock.
func (l *Lab) ShowTool(ctx context.Context, tool string, n Node, limit time.Duration, args ...string) Result {
	if tool == ToolDocker {
		return l.Show(l.Run(ctx, n, limit, append([]string{"docker"}, args...)...), "docker "+shellJoin(args))
	}
	return l.ShowCLI(ctx, n, limit, args...)
}

// ShowRun runs and shows any command on node n.
func (l *Lab) ShowRun(ctx context.Context, n Node, limit time.Duration, argv ...string) Result {
	return l.Show(l.Run(ctx, n, limit, argv...), shellJoin(argv))
}

// Section prints a section title of the narration.
func (l *Lab) Section(title string, notes ...string) {
	fmt.Fprintf(l.Log, "\n## %s\n", title)
	for _, n := range notes {
		fmt.Fprintf(l.Log, "   %s\n", n)
	}
	fmt.Fprintln(l.Log)
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$*?|&;<>()[]{}") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// Table is a docker-style table (tabwriter-aligned columns) split into rows.
type Table struct {
	Header []string
	Rows   [][]string
}

// ParseTable reads a docker-style table: the header's column starts cut
// every row, so empty cells (ERROR, PORTS) stay in place.
func ParseTable(s string) Table {
	var t Table
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) == 0 {
		return t
	}
	head := lines[0]
	var starts []int
	for i := 0; i < len(head); {
		for i < len(head) && head[i] == ' ' {
			i++
		}
		if i >= len(head) {
			break
		}
		starts = append(starts, i)
		// A column name may hold single spaces ("DESIRED STATE").
		j := strings.Index(head[i:], "  ")
		if j < 0 {
			t.Header = append(t.Header, strings.TrimSpace(head[i:]))
			break
		}
		t.Header = append(t.Header, head[i:i+j])
		i += j
	}
	for _, line := range lines[1:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		row := make([]string, len(starts))
		for k, st := range starts {
			if st >= len(line) {
				break
			}
			end := len(line)
			if k+1 < len(starts) && starts[k+1] < end {
				end = starts[k+1]
			}
			row[k] = strings.TrimSpace(line[st:end])
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// Col is row's value in the column named name ("" when missing).
func (t Table) Col(row []string, name string) string {
	for i, h := range t.Header {
		if h == name && i < len(row) {
			return row[i]
		}
	}
	return ""
}

// Find is the first row whose column name satisfies match.
func (t Table) Find(name string, match func(string) bool) []string {
	for _, r := range t.Rows {
		if match(t.Col(r, name)) {
			return r
		}
	}
	return nil
}
