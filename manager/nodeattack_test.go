package manager

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/minsw/minsw/client/join"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// TestHostnameClaimAttacks: a worker may not take a manager's hostname, at
// join or later through its session (it would receive the tasks constrained
// to node.hostname==<the manager>).
func TestHostnameClaimAttacks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, c := oneManager(t)
	var mgrHost string
	m.st.View(func(tx store.ReadTx) { mgrHost = tx.Node(m.cfg.NodeID).GetDescription().GetHostname() })
	anon := ca.NewCredentials(nil)
	root, err := join.FetchRootCA(ctx, m.cfg.AdvertiseAddr, c.JoinTokens.Worker)
	if err != nil {
		t.Fatal(err)
	}
	if err := anon.SetRoots(root); err != nil {
		t.Fatal(err)
	}
	mem := api.NewMembershipClient(dialAs(t, m.cfg.AdvertiseAddr, anon))
	before := storeDigest(m)
	at := newAttack(t, "worker claims a manager's hostname (join, session)")
	for _, tok := range []string{c.JoinTokens.Worker, c.JoinTokens.Manager} {
		_, err := mem.JoinCluster(ctx, &api.JoinClusterRequest{Token: tok, Addr: "127.0.0.1:1", Csr: csr(t), Description: &api.NodeDescription{Hostname: mgrHost}})
		at.try(err, code(codes.AlreadyExists, "hostname "+mgrHost+" is already taken by node "+m.cfg.NodeID+"; use --node-name"))
	}
	if after := storeDigest(m); after != before {
		t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
	}
	worker, workerID := joinNode(t, ctx, m, c.JoinTokens.Worker)
	var own string
	m.st.View(func(tx store.ReadTx) { own = tx.Node(workerID).GetDescription().GetHostname() })
	st, err := api.NewDispatcherClient(dialAs(t, m.cfg.AdvertiseAddr, worker)).Session(ctx, &api.SessionRequest{NodeId: workerID, Description: &api.NodeDescription{Hostname: mgrHost}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	var got string
	m.st.View(func(tx store.ReadTx) { got = tx.Node(workerID).GetDescription().GetHostname() })
	if got == mgrHost {
		at.try(nil, func(error) bool { return false })
	} else {
		at.try(errSessionHostnameKept(own), func(error) bool { return got == own })
	}
	at.done()
}

type errSessionHostnameKept string

func (e errSessionHostnameKept) Error() string {
	return "session's hostname ignored: the node keeps " + string(e)
}

// TestUnknownTaskStatus: a worker reporting the status of a task the store
// does not hold is refused and counted, and no task appears.
func TestUnknownTaskStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, c := oneManager(t)
	worker, workerID := joinNode(t, ctx, m, c.JoinTokens.Worker)
	d := api.NewDispatcherClient(dialAs(t, m.cfg.AdvertiseAddr, worker))
	st, err := d.Session(ctx, &api.SessionRequest{NodeId: workerID})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	before, counted := storeDigest(m), m.disp.UnknownTaskReports()
	at := newAttack(t, "UpdateTaskStatus for a task that does not exist")
	for _, id := range []string{"made-up-task", "0000000000000000000000000"} {
		_, err := d.UpdateTaskStatus(ctx, &api.UpdateTaskStatusRequest{NodeId: workerID, SessionId: msg.GetSessionId(),
			Updates: []*api.TaskStatusUpdate{{TaskId: id, Status: &api.TaskStatus{State: api.TaskState_TASK_STATE_RUNNING}}}})
		at.try(err, code(codes.InvalidArgument, "task "+id+" is not known to this swarm"))
	}
	at.done()
	if got := m.disp.UnknownTaskReports() - counted; got != 2 {
		t.Fatalf("counted %d unknown task reports, want 2", got)
	}
	var tasks int
	m.st.View(func(tx store.ReadTx) { tasks = len(tx.Tasks()) })
	if after := storeDigest(m); after != before || tasks != 0 {
		t.Fatalf("store changed (%d tasks):\nbefore %s\nafter  %s", tasks, before, after)
	}
}

// A valid token pasted with a trailing space or newline is the token.
func TestTokenWithSpacesAround(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, c := oneManager(t)
	for _, tok := range []string{c.JoinTokens.Worker + " ", " " + c.JoinTokens.Worker + "\n"} {
		if _, id := joinNode(t, ctx, m, tok); id == "" {
			t.Fatalf("token %q: no node ID", tok)
		}
	}
}
