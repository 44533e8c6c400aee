package agent

import (
	"context"
	"errors"
	"io"
	"slices"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/internal/dialerr"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// The error detail a follower's dispatcher attaches to say where the leader
// is (manager/dispatcher.NotLeaderError); matched here by value so the
// worker does not import the manager.
const (
	notLeaderReason = "NOT_LEADER"
	leaderKey       = "leader"
	maxRedirects    = 3
)

// leaderFrom returns the leader address a follower's refusal names.
func leaderFrom(err error) (string, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return "", false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == notLeaderReason {
			if addr := info.GetMetadata()[leaderKey]; addr != "" {
				return addr, true
			}
		}
	}
	return "", false
}

// sessionLoop keeps one session open: to a redirect target if the last
// manager named one, else to the next manager in turn, backing off while
// none answers.
func (a *Agent) sessionLoop(ctx context.Context) {
	delay := a.cfg.ReconnectDelay
	next := 0
	redirect := ""
	redirects := 0
	for ctx.Err() == nil {
		addr := redirect
		redirect = ""
		if addr == "" {
			a.mu.Lock()
			addr = a.managers[next%len(a.managers)]
			a.mu.Unlock()
			next++
		}
		established, err := a.session(ctx, addr)
		if ctx.Err() != nil {
			return
		}
		a.mu.Lock()
		a.lastErr = dialerr.Unreachable(addr, err)
		others := len(a.managers) > 1
		a.notifyLocked()
		a.mu.Unlock()
		if established {
			delay = a.cfg.ReconnectDelay
			redirects = 0
		}
		if leader, ok := leaderFrom(err); ok && leader != addr && redirects < maxRedirects {
			a.log.Info("following the leader", "from", addr, "leader", leader)
			redirect = leader
			redirects++
			a.addManagers([]string{leader})
			continue
		}
		redirects = 0
		if dialerr.IsUnreachable(dialerr.Unreachable(addr, err)) && others {
			// The next turn of the loop tries the next manager it knows.
			a.log.Warn(dialerr.Unreachable(addr, err).Error()+"; retrying another manager", "retry_in", delay)
		} else {
			a.log.Warn("session ended", "manager", addr, "err", err, "retry_in", delay)
		}
		if !sleep(ctx, a.clock, delay) {
			return
		}
		if !established {
			delay = min(2*delay, a.cfg.MaxReconnectDelay)
		}
	}
}

func (a *Agent) addManagers(addrs []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range addrs {
		if m != "" && !slices.Contains(a.managers, m) {
			a.managers = append(a.managers, m)
		}
	}
}

// session runs one session with the manager at addr until it fails.
// established says whether the manager accepted it.
func (a *Agent) session(ctx context.Context, addr string) (established bool, err error) {
	conn, err := a.cfg.Dial(ctx, addr)
	if err != nil {
		return false, err
	}
	if c, ok := conn.(io.Closer); ok {
		defer c.Close()
	}
	client := api.NewDispatcherClient(conn)
	sctx, end := context.WithCancelCause(ctx)
	defer end(nil)
	stream, err := client.Session(sctx, &api.SessionRequest{
		NodeId: a.cfg.NodeID, Description: a.cfg.Description, Addr: a.cfg.Addr,
		IncrementalAssignments: true,
	})
	if err != nil {
		return false, err
	}
	msg, err := recvWhole(stream)
	if err != nil {
		return false, err
	}
	s := &activeSession{client: client, id: msg.GetSessionId(), addr: addr, end: end}
	a.log.Info("session opened", "manager", addr, "session", s.id)
	a.apply(msg)
	a.setSession(s)
	defer a.clearSession(s)

	period := msg.GetHeartbeatPeriod().AsDuration()
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); a.heartbeat(sctx, s, period) }()
	defer func() { <-hbDone }()
	logsDone := make(chan struct{})
	go func() { defer close(logsDone); a.logLoop(sctx, s) }()
	defer func() { <-logsDone }()
	for {
		msg, err := recvWhole(stream)
		if err != nil {
			if cause := context.Cause(sctx); cause != nil && sctx.Err() != nil && ctx.Err() == nil {
				err = cause
			}
			end(err)
			return true, err
		}
		a.apply(msg)
	}
}

// recvWhole receives one whole session message: an assignment set sent in
// parts (assignments_more) is put back together before it is applied, so
// the agent never takes the first part for the whole set.
func recvWhole(stream interface {
	Recv() (*api.SessionMessage, error)
}) (*api.SessionMessage, error) {
	msg, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	for msg.GetAssignmentsMore() {
		next, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if msg.Assignments == nil {
			msg.Assignments = &api.Assignments{}
		}
		msg.Assignments.Tasks = append(msg.Assignments.Tasks, next.GetAssignments().GetTasks()...)
		msg.Assignments.RemovedTasks = append(msg.Assignments.RemovedTasks, next.GetAssignments().GetRemovedTasks()...)
		msg.AssignmentsMore = next.GetAssignmentsMore()
	}
	return msg, nil
}

// apply takes in a session message: node, managers, assignments.
func (a *Agent) apply(msg *api.SessionMessage) {
	a.addManagers(msg.GetManagers())
	a.mu.Lock()
	if msg.GetNode() != nil {
		a.node = msg.GetNode()
	}
	if as := msg.GetAssignments(); as != nil {
		a.networks = as.GetNetworks()
	}
	if ks := msg.GetGossipKeys(); len(ks) > 0 {
		a.gossipKeys = ks
	}
	if ids := msg.GetManagerIds(); len(ids) > 0 {
		a.managerIDs = ids
	}
	a.notifyLocked()
	a.mu.Unlock()
	if as := msg.GetAssignments(); as != nil {
		a.files.set(as)
		if msg.GetAssignmentsIncremental() {
			a.assignChanges(as.GetTasks(), as.GetRemovedTasks())
		} else {
			a.assign(as.GetTasks())
		}
	}
}

func (a *Agent) setSession(s *activeSession) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sess = s
	a.leader = s.addr
	a.lastErr = nil
	close(a.sessCh)
	a.sessCh = make(chan struct{})
	a.notifyLocked()
}

func (a *Agent) clearSession(s *activeSession) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sess != s {
		return
	}
	a.sess = nil
	a.leader = ""
	close(a.sessCh)
	a.sessCh = make(chan struct{})
	a.notifyLocked()
}

// currentSession returns the live session (or nil) and a channel closed
// when that changes.
func (a *Agent) currentSession() (*activeSession, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sess, a.sessCh
}

// heartbeat keeps the session alive at the period the dispatcher asks;
// a failed heartbeat ends the session, so the loop finds a live manager.
func (a *Agent) heartbeat(ctx context.Context, s *activeSession, period time.Duration) {
	for {
		if period <= 0 {
			period = time.Second
		}
		if !sleep(ctx, a.clock, period) {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, min(a.cfg.RPCTimeout, period))
		resp, err := s.client.Heartbeat(cctx, &api.HeartbeatRequest{NodeId: a.cfg.NodeID, SessionId: s.id})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.end(errors.Join(errors.New("heartbeat failed"), err))
			}
			return
		}
		if p := resp.GetPeriod().AsDuration(); p > 0 {
			period = p
		}
	}
}

// sessionGone says whether err means the session must be opened again.
func sessionGone(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.FailedPrecondition, codes.Unavailable:
		return true
	}
	return false
}
