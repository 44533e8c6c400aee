package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Transcript is what the replay saw, for the end-to-end test to check.
type Transcript struct {
	// Tool is the CLI the seed's commands were typed with (ToolMinsw,
	// ToolDocker).
	Tool                               string
	NetworkCreate, NetworkLs           Result
	WebCreate, ServiceLs, WebPs        Result
	ClientCreate, ServiceLs2, ClientPs Result
	// ClientNode is where client.1 was placed (service ps client); the
	// container steps run there, as the seed runs them on the manager.
	ClientNode      Node
	ContainerLs     Result
	ClientContainer string // the id `container ls` showed for client.1, "" if none
	Exec            Session
	NetworkInspect  Result
	MynetID         string
	NetnsLs         Result
	LBNetns         string // <exec-root>/netns/lb_<mynet id[:9]> on the client's node
	// LBShell is the interactive shell in the lb namespace where `ip a`
	// and `nft list ruleset` are typed; LBAddrs and LBRuleset are what
	// each showed.
	LBShell   Session
	LBAddrs   Result
	LBInspect Result
	LBRuleset Result
}

// Curls are the outputs of the three `curl web` typed in the client.
func (t *Transcript) Curls() []Typed { return t.typed("curl web") }

// Pings are the outputs of `ping web -c 2`.
func (t *Transcript) Pings() []Typed { return t.typed("ping web -c 2") }

func (t *Transcript) typed(in string) []Typed {
	var out []Typed
	for _, ty := range t.Exec.Typed {
		if ty.Input == in {
			out = append(out, ty)
		}
	}
	return out
}

// Replay runs the tutorial's commands in order, `minsw` for `docker`, and
// narrates them on l.Log. It stops only when the lab itself fails; a
// command that fails is shown with its real output and the replay goes on,
// so the transcript shows how far the tutorial gets.
func (l *Lab) Replay(ctx context.Context) (*Transcript, error) {
	return l.ReplayWith(ctx, ToolMinsw)
}

// ReplayWith is Replay typing the seed's commands with tool: ToolDocker
// types them verbatim with the real docker CLI, through each node's Engine
// API. The steps that are not docker commands (ls, nsenter, lb inspect)
// are the same in both.
func (l *Lab) ReplayWith(ctx context.Context, tool string) (*Transcript, error) {
	t := &Transcript{Tool: tool}
	m := l.Manager()

	l.Section("1. An overlay network mynet and a service web with two replicas",
		"(the seed's `network ls` already lists mynet, so it is created first)")
	t.NetworkCreate = l.ShowTool(ctx, tool, m, 0, "network", "create", "-d", "overlay", "mynet")
	t.NetworkLs = l.ShowTool(ctx, tool, m, 0, "network", "ls")
	t.WebCreate = l.ShowTool(ctx, tool, m, 60*time.Second, "service", "create", "--name", "web", "--network", "mynet", "--replicas", "2", "containous/whoami")
	t.ServiceLs = l.ShowTool(ctx, tool, m, 0, "service", "ls")
	t.WebPs = l.ShowTool(ctx, tool, m, 0, "service", "ps", "web")

	l.Section("2. A client service on mynet",
		"(ping 8.8.8.8 goes nowhere: the lab has no route out)")
	t.ClientCreate = l.ShowTool(ctx, tool, m, 20*time.Second, "service", "create", "--name", "client", "--network", "mynet", "xiaopeng163/net-box:latest", "ping", "8.8.8.8")
	t.ServiceLs2 = l.ShowTool(ctx, tool, m, 0, "service", "ls")
	t.ClientPs = l.ShowTool(ctx, tool, m, 0, "service", "ps", "client")

	t.ClientNode = m
	ps := ParseTable(t.ClientPs.Out)
	if row := ps.Find("NAME", func(s string) bool { return s == "client.1" }); row != nil {
		if n, ok := l.NodeByName(ps.Col(row, "NODE")); ok {
			t.ClientNode = n
		}
	}
	cn := t.ClientNode

	l.Section("3. Into the client container: curl web, ping web (the VIP)",
		fmt.Sprintf("(on %s, where client.1 runs; `container exec -it` through a pseudo-terminal)", cn.Name))
	t.ContainerLs = l.ShowTool(ctx, tool, cn, 0, "container", "ls")
	cl := ParseTable(t.ContainerLs.Out)
	if row := cl.Find("NAMES", func(s string) bool { return strings.HasPrefix(s, "client.1.") }); row != nil {
		t.ClientContainer = cl.Col(row, "CONTAINER ID")
	}
	if t.ClientContainer == "" {
		fmt.Fprintf(l.Log, "(lab: no running client.1 container on %s, so there is nothing to exec into)\n", cn.Name)
	} else {
		short := t.ClientContainer[:4]
		fmt.Fprintf(l.Log, "[%s] $ %s container exec -it %s sh\n", cn.Name, tool, short)
		if tool == ToolDocker {
			t.Exec = l.ShellSession(ctx, cn, 15*time.Second, []string{"docker", "container", "exec", "-it", short, "sh"}, "curl web", "curl web", "curl web", "ping web -c 2")
		} else {
			t.Exec = l.ExecSession(ctx, cn, short, 15*time.Second, "curl web", "curl web", "curl web", "ping web -c 2")
		}
		if t.Exec.Banner != "" {
			fmt.Fprintf(l.Log, "%s\n", t.Exec.Banner)
		}
		for _, ty := range t.Exec.Typed {
			fmt.Fprintf(l.Log, "%s%s\n%s", t.Exec.Prompt, ty.Input, ty.Out)
			if ty.TimedOut {
				fmt.Fprintln(l.Log, "(lab: no answer within 15s; sent ^C)")
			}
		}
		switch {
		case t.Exec.Err != nil:
			fmt.Fprintf(l.Log, "(lab: exec session: %v; the terminal showed:)\n%s\n", t.Exec.Err, t.Exec.Screen)
		default:
			fmt.Fprintf(l.Log, "%sexit\n", t.Exec.Prompt)
		}
	}

	l.Section("4. The VIP lives in a load-balancer namespace on mynet: network inspect shows lb-mynet")
	t.NetworkInspect = l.ShowTool(ctx, tool, cn, 0, "network", "inspect", "mynet")
	if !t.NetworkInspect.OK() && cn.Name != m.Name {
		// The seed runs this on the manager, where its client ran; here the
		// client is on a worker. Show the manager's view as well.
		fmt.Fprintf(l.Log, "(lab: and on the manager:)\n")
		t.NetworkInspect = l.ShowTool(ctx, tool, m, 0, "network", "inspect", "mynet")
	}
	var nets []struct {
		ID string `json:"Id"`
	}
	if err := json.Unmarshal([]byte(t.NetworkInspect.Out), &nets); err == nil && len(nets) == 1 {
		t.MynetID = nets[0].ID
	}

	l.Section("5. Its name under the node's exec root")
	netnsDir := filepath.Join(l.ExecRoot(cn), "netns")
	t.NetnsLs = l.ShowRun(ctx, cn, 0, "ls", netnsDir+"/")
	id9 := t.MynetID
	if len(id9) > 9 {
		id9 = id9[:9]
	}
	t.LBNetns = filepath.Join(netnsDir, "lb_"+id9)

	l.Section("6. Inside the lb namespace: the lb endpoint IP and one /32 per VIP",
		"(a shell entered with nsenter, as the seed does; the same shell shows the kernel's rules in 7)")
	shArgv := []string{"nsenter", "--net=" + t.LBNetns, "sh"}
	fmt.Fprintf(l.Log, "[%s] $ %s\n", cn.Name, shellJoin(shArgv))
	t.LBShell = l.ShellSession(ctx, cn, 15*time.Second, shArgv, "ip a", "nft list ruleset")
	if t.LBShell.Banner != "" {
		fmt.Fprintf(l.Log, "%s\n", t.LBShell.Banner)
	}
	t.LBAddrs = typedResult(cn, shArgv, t.LBShell, 0)
	t.LBRuleset = typedResult(cn, shArgv, t.LBShell, 1)
	l.showTyped(t.LBShell, 0)

	l.Section("7. Marks and backends",
		"the kernel's own view in that shell: this kernel has no IPVS, so the nftables backend (nft list ruleset); then minsw lb inspect")
	l.showTyped(t.LBShell, 1)
	switch {
	case t.LBShell.Err != nil:
		fmt.Fprintf(l.Log, "(lab: shell in the lb namespace: %v; the terminal showed:)\n%s\n", t.LBShell.Err, t.LBShell.Screen)
	default:
		fmt.Fprintf(l.Log, "%sexit\n", t.LBShell.Prompt)
	}
	t.LBInspect = l.ShowCLI(ctx, cn, 0, "lb", "inspect")
	return t, nil
}

// showTyped prints the i-th command typed in session s with what it showed.
func (l *Lab) showTyped(s Session, i int) {
	if i >= len(s.Typed) {
		return
	}
	ty := s.Typed[i]
	fmt.Fprintf(l.Log, "%s%s\n%s", s.Prompt, ty.Input, ty.Out)
	if ty.TimedOut {
		fmt.Fprintln(l.Log, "(lab: no answer within 15s; sent ^C)")
	}
}

// typedResult is the i-th command typed in shell session s as a Result:
// argv is the shell's, then the typed line; it ran (Code 0) when the shell
// prompted again, and its status is the shell's own business.
func typedResult(n Node, shell []string, s Session, i int) Result {
	if i >= len(s.Typed) {
		err := s.Err
		if err == nil {
			err = fmt.Errorf("not typed")
		}
		return Result{Node: n.Name, Argv: shell, Code: -1, Err: err}
	}
	ty := s.Typed[i]
	r := Result{Node: n.Name, Argv: append(slices.Clone(shell), ty.Input), Out: ty.Out}
	if ty.TimedOut {
		r.Code, r.Interrupted = -1, true
	}
	return r
}
