// Package logbroker routes task logs on the leader. A reader's Logs call
// becomes a subscription handed to the nodes that run its tasks, over the
// subscription streams those nodes opened (Listen); the lines they publish
// back (Publish) go to the reader. Workers never listen: logs travel on
// connections the workers open, as their sessions do.
//
// The broker reads neither the store nor any container: the caller names
// the tasks and their nodes, and each worker reads its own containers. Every
// buffer is bounded: a slow reader holds back only the publish streams of
// its own subscription, and a node with too many pending subscriptions has
// the new ones refused rather than queued without end.
package logbroker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// ErrNotPermitted is wrapped by Publish's refusal of a node publishing for a
// task the subscription did not ask that node for.
var ErrNotPermitted = errors.New("permission denied")

// ErrNodeUnavailable is wrapped by the error a reader gets for a task whose
// node did not answer: not connected to the leader, or gone while reading.
var ErrNodeUnavailable = errors.New("node unavailable")

// Config tunes the broker. Start from DefaultConfig.
type Config struct {
	// Buffer is how many messages a subscription holds for its reader;
	// when it is full, publishers wait.
	Buffer int
	// Backlog is how many subscription messages may wait for one node's
	// stream; a subscription beyond that gets the node's tasks reported
	// unavailable.
	Backlog int
	// ConnectWait is how long a subscription waits for a node with no
	// subscription stream open (its agent may be reconnecting) before it
	// reports that node's tasks unavailable.
	ConnectWait time.Duration
	Logger      *slog.Logger
}

// DefaultConfig holds 256 messages per reader, 64 pending subscriptions per
// node, and waits 2 s for a node to connect.
func DefaultConfig() Config {
	return Config{Buffer: 256, Backlog: 64, ConnectWait: 2 * time.Second}
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	switch {
	case c.Buffer < 1:
		return fmt.Errorf("logbroker: buffer must be at least 1, got %d", c.Buffer)
	case c.Backlog < 1:
		return fmt.Errorf("logbroker: backlog must be at least 1, got %d", c.Backlog)
	case c.ConnectWait < 0:
		return fmt.Errorf("logbroker: connect wait must not be negative, got %v", c.ConnectWait)
	}
	return nil
}

// Task is one task a reader wants the logs of, and the node running it.
type Task struct {
	ID     string
	NodeID string
}

// Request is what a reader asks for.
type Request struct {
	Tasks  []Task
	Follow bool
	// Tail < 0 means all lines, else the last Tail lines of each task.
	Tail int
	// Since and Until keep the lines written in [Since, Until]; zero is
	// open.
	Since, Until time.Time
}

// Message is what a reader gets: lines of one task's log (with the log's
// attributes, once), or, with Err set, why that task's log ends unread.
type Message struct {
	TaskID  string
	NodeID  string
	Records []*api.LogRecord
	Attrs   []*api.LogAttr
	Err     error
}

// Broker implements the routing; one per manager, used while it leads.
type Broker struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	nodes map[string]*listener     // by node ID: the node's current stream
	subs  map[string]*subscription // by subscription ID
}

// listener is one node's open subscription stream.
type listener struct {
	nodeID string
	queue  chan *api.LogSubscription
}

// subscription is one reader's request. Its maps are fixed at creation
// except waiting and sentTo, which Broker.mu guards.
type subscription struct {
	id     string
	req    Request
	tasks  map[string]string   // task ID -> node ID
	byNode map[string][]string // node ID -> task IDs
	events chan event
	ended  chan struct{} // closed when the reader has gone

	waiting map[string]bool      // nodes not connected yet
	sentTo  map[string]*listener // node ID -> the stream it was handed to
}

type event struct {
	taskID  string
	nodeID  string
	records []*api.LogRecord
	attrs   []*api.LogAttr
	done    bool
	err     error
}

// New returns a broker.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, nodes: map[string]*listener{}, subs: map[string]*subscription{}}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	return b, nil
}

func newID() string {
	var x [12]byte
	_, _ = rand.Read(x[:])
	return hex.EncodeToString(x[:])
}

// Logs subscribes to req's tasks and calls fn with each message, from the
// caller's goroutine, until every task's log has ended (with Follow, when
// its container stops or its node goes), fn fails, or ctx ends. A task
// whose node cannot be asked gets one Message with Err. The subscription
// ends with the call: the nodes are told to stop.
func (b *Broker) Logs(ctx context.Context, req Request, fn func(Message) error) error {
	s := &subscription{
		id: newID(), req: req,
		tasks: map[string]string{}, byNode: map[string][]string{},
		events: make(chan event, b.cfg.Buffer), ended: make(chan struct{}),
		waiting: map[string]bool{}, sentTo: map[string]*listener{},
	}
	for _, t := range req.Tasks {
		if _, dup := s.tasks[t.ID]; dup || t.ID == "" {
			continue
		}
		s.tasks[t.ID] = t.NodeID
		s.byNode[t.NodeID] = append(s.byNode[t.NodeID], t.ID)
	}
	pending := make(map[string]string, len(s.tasks))
	for id, n := range s.tasks {
		pending[id] = n
	}
	var refused []string
	b.mu.Lock()
	b.subs[s.id] = s
	for nodeID := range s.byNode {
		switch l := b.nodes[nodeID]; {
		case nodeID == "":
			refused = append(refused, nodeID)
		case l == nil:
			s.waiting[nodeID] = true
		case !b.handLocked(s, nodeID, l):
			refused = append(refused, nodeID)
		}
	}
	waiting := len(s.waiting) > 0
	b.mu.Unlock()
	defer b.end(s)

	// fail ends a node's pending tasks with err.
	fail := func(nodeID string, err error) error {
		for _, id := range s.byNode[nodeID] {
			if _, ok := pending[id]; !ok {
				continue
			}
			delete(pending, id)
			if err := fn(Message{TaskID: id, NodeID: nodeID, Err: err}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, nodeID := range refused {
		why := fmt.Errorf("%w: node %s has too many log readers", ErrNodeUnavailable, nodeID)
		if nodeID == "" {
			why = fmt.Errorf("%w: the task is not assigned to a node", ErrNodeUnavailable)
		}
		if err := fail(nodeID, why); err != nil {
			return err
		}
	}
	var connectWait <-chan time.Time
	if waiting {
		t := time.NewTimer(b.cfg.ConnectWait)
		defer t.Stop()
		connectWait = t.C
	}
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-connectWait:
			connectWait = nil
			b.mu.Lock()
			var late []string
			for nodeID := range s.waiting {
				late = append(late, nodeID)
			}
			clear(s.waiting)
			b.mu.Unlock()
			for _, nodeID := range late {
				if err := fail(nodeID, fmt.Errorf("%w: node %s is not connected to the leader", ErrNodeUnavailable, nodeID)); err != nil {
					return err
				}
			}
		case ev := <-s.events:
			if _, ok := pending[ev.taskID]; !ok {
				continue // after its end: a late duplicate
			}
			if len(ev.records) > 0 || len(ev.attrs) > 0 {
				if err := fn(Message{TaskID: ev.taskID, NodeID: ev.nodeID, Records: ev.records, Attrs: ev.attrs}); err != nil {
					return err
				}
			}
			if !ev.done {
				continue
			}
			delete(pending, ev.taskID)
			if ev.err != nil {
				if err := fn(Message{TaskID: ev.taskID, NodeID: ev.nodeID, Err: ev.err}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Subscriptions is how many readers are being served.
func (b *Broker) Subscriptions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// handLocked queues s for node's stream l; false when l's backlog is full.
func (b *Broker) handLocked(s *subscription, nodeID string, l *listener) bool {
	m := &api.LogSubscription{Id: s.id, TaskIds: s.byNode[nodeID], Follow: s.req.Follow, Tail: int32(s.req.Tail)}
	if !s.req.Since.IsZero() {
		m.Since = timestamppb.New(s.req.Since)
	}
	if !s.req.Until.IsZero() {
		m.Until = timestamppb.New(s.req.Until)
	}
	select {
	case l.queue <- m:
		s.sentTo[nodeID] = l
		return true
	default:
		b.log.Warn("log subscription refused: node backlog full", "node", nodeID, "subscription", s.id)
		return false
	}
}

// end forgets s and tells the nodes it was handed to that it is over. A
// close that does not fit a full backlog is dropped: the node learns it from
// its next publish, which is refused.
func (b *Broker) end(s *subscription) {
	close(s.ended)
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s.id)
	for nodeID, l := range s.sentTo {
		if b.nodes[nodeID] != l {
			continue
		}
		select {
		case l.queue <- &api.LogSubscription{Id: s.id, Close: true}:
		default:
		}
	}
}

// Listen serves nodeID's subscription stream: it hands the node every
// subscription that concerns it, through send, until ctx ends or send
// fails. Subscriptions that were waiting for the node are handed at once.
// When it returns, the tasks of those subscriptions that the node had not
// finished are reported unavailable.
func (b *Broker) Listen(ctx context.Context, nodeID string, send func(*api.LogSubscription) error) error {
	l := &listener{nodeID: nodeID, queue: make(chan *api.LogSubscription, b.cfg.Backlog)}
	b.mu.Lock()
	b.nodes[nodeID] = l
	for _, s := range b.subs {
		// One that does not fit stays waiting: its reader's connect wait
		// reports it.
		if s.waiting[nodeID] && b.handLocked(s, nodeID, l) {
			delete(s.waiting, nodeID)
		}
	}
	b.mu.Unlock()
	defer b.unlisten(l)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-l.queue:
			if err := send(m); err != nil {
				return err
			}
		}
	}
}

// unlisten drops l and fails what it still owed.
func (b *Broker) unlisten(l *listener) {
	var owed []*subscription
	b.mu.Lock()
	if b.nodes[l.nodeID] == l {
		delete(b.nodes, l.nodeID)
	}
	for _, s := range b.subs {
		if s.sentTo[l.nodeID] == l {
			owed = append(owed, s)
		}
	}
	b.mu.Unlock()
	for _, s := range owed {
		b.failNode(s, l.nodeID, fmt.Errorf("%w: node %s disconnected from the leader", ErrNodeUnavailable, l.nodeID))
	}
}

// failNode ends every task s asked nodeID for with err; the reader ignores
// the ones already ended. It waits for room in the reader's buffer, or for
// the reader to go.
func (b *Broker) failNode(s *subscription, nodeID string, err error) {
	for _, id := range s.byNode[nodeID] {
		select {
		case s.events <- event{taskID: id, nodeID: nodeID, done: true, err: err}:
		case <-s.ended:
			return
		}
	}
}

// Publish serves one publish stream of nodeID: recv returns its messages
// (io.EOF at its end). All of them must be for one subscription and for
// tasks that subscription asked this node for. When the stream ends, the
// node's tasks it did not finish are reported unavailable, so a reader never
// waits on a publisher that has gone.
func (b *Broker) Publish(ctx context.Context, nodeID string, recv func() (*api.PublishLogsMessage, error)) (err error) {
	var s *subscription
	defer func() {
		if s == nil {
			return
		}
		why := fmt.Errorf("%w: node %s stopped publishing logs", ErrNodeUnavailable, nodeID)
		if err != nil {
			why = fmt.Errorf("%w: node %s: publishing logs: %v", ErrNodeUnavailable, nodeID, err)
		}
		b.failNode(s, nodeID, why)
	}()
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if m.GetNodeId() != "" && m.GetNodeId() != nodeID {
			return fmt.Errorf("%w: node %s may not publish as node %s", ErrNotPermitted, nodeID, m.GetNodeId())
		}
		if s == nil {
			b.mu.Lock()
			s = b.subs[m.GetSubscriptionId()]
			b.mu.Unlock()
			if s == nil {
				return errdefs.NotFound("log subscription %q has ended", m.GetSubscriptionId())
			}
		} else if m.GetSubscriptionId() != s.id {
			return errdefs.InvalidArgument("one publish stream carries one subscription: got %q after %q", m.GetSubscriptionId(), s.id)
		}
		if s.tasks[m.GetTaskId()] != nodeID || nodeID == "" {
			return fmt.Errorf("%w: node %s may not publish logs of task %s: it was not asked for them", ErrNotPermitted, nodeID, m.GetTaskId())
		}
		ev := event{taskID: m.GetTaskId(), nodeID: nodeID, records: m.GetRecords(), attrs: m.GetAttrs(), done: m.GetDone()}
		if e := m.GetError(); e != "" {
			ev.err = fmt.Errorf("node %s: %s", nodeID, e)
		}
		select {
		case s.events <- ev:
		case <-s.ended:
			return errdefs.NotFound("log subscription %q has ended", s.id)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
