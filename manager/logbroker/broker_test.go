package logbroker

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/internal/eventually"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// node is a worker's side of the broker in memory: it listens, and answers
// each subscription from logs (task -> lines) with one publish stream.
type node struct {
	id    string
	logs  map[string]string
	subs  chan *api.LogSubscription
	stop  context.CancelFunc
	done  chan struct{}
	wrong string // publish for this task too: one not asked for
}

func listen(t *testing.T, b *Broker, id string, logs map[string]string) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{id: id, logs: logs, subs: make(chan *api.LogSubscription, 16), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		_ = b.Listen(ctx, id, func(m *api.LogSubscription) error { n.subs <- m; return nil })
	}()
	t.Cleanup(func() { cancel(); <-n.done })
	waitListening(t, b, id)
	return n
}

func waitListening(t *testing.T, b *Broker, id string) {
	t.Helper()
	eventually.True(t, "node "+id+" listening", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		_, ok := b.nodes[id]
		return ok
	})
}

// answer publishes sub's tasks' logs, each done; it returns Publish's error.
func (n *node) answer(b *Broker, sub *api.LogSubscription) error {
	var msgs []*api.PublishLogsMessage
	ids := append([]string(nil), sub.GetTaskIds()...)
	if n.wrong != "" {
		ids = append(ids, n.wrong)
	}
	for _, id := range ids {
		lines := strings.SplitAfter(n.logs[id], "\n")
		if tail := int(sub.GetTail()); tail >= 0 && tail < len(lines)-1 {
			lines = lines[len(lines)-1-tail:]
		}
		for _, l := range lines {
			if l != "" {
				msgs = append(msgs, &api.PublishLogsMessage{NodeId: n.id, SubscriptionId: sub.GetId(), TaskId: id, Records: []*api.LogRecord{{Data: []byte(l)}}})
			}
		}
		msgs = append(msgs, &api.PublishLogsMessage{NodeId: n.id, SubscriptionId: sub.GetId(), TaskId: id, Done: true})
	}
	return b.Publish(context.Background(), n.id, func() (*api.PublishLogsMessage, error) {
		if len(msgs) == 0 {
			return nil, io.EOF
		}
		m := msgs[0]
		msgs = msgs[1:]
		return m, nil
	})
}

// serve answers every subscription until the test ends.
func (n *node) serve(t *testing.T, b *Broker) {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-n.subs:
				if !m.GetClose() {
					_ = n.answer(b, m)
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func newBroker(t *testing.T, connectWait time.Duration) *Broker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ConnectWait = connectWait
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// collect runs Logs and returns "task: line" and "task: error" strings.
func collect(t *testing.T, ctx context.Context, b *Broker, req Request) ([]string, error) {
	t.Helper()
	var got []string
	err := b.Logs(ctx, req, func(m Message) error {
		if m.Err != nil {
			got = append(got, m.TaskID+": error: "+m.Err.Error())
			return nil
		}
		for _, r := range m.Records {
			got = append(got, m.TaskID+": "+string(r.GetData()))
		}
		return nil
	})
	return got, err
}

func TestLogsFromTwoNodes(t *testing.T) {
	b := newBroker(t, time.Second)
	listen(t, b, "n1", map[string]string{"t1": "a\nb\n"}).serve(t, b)
	listen(t, b, "n2", map[string]string{"t2": "c\nd\n"}).serve(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		tail int
		want map[string]bool
	}{
		{"all lines of both tasks", -1, map[string]bool{"t1: a\n": true, "t1: b\n": true, "t2: c\n": true, "t2: d\n": true}},
		{"the last line of each", 1, map[string]bool{"t1: b\n": true, "t2: d\n": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := collect(t, ctx, b, Request{Tasks: []Task{{"t1", "n1"}, {"t2", "n2"}}, Tail: tc.tail})
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("%q %v", got, err)
			}
			for _, g := range got {
				if !tc.want[g] {
					t.Errorf("unexpected %q in %q", g, got)
				}
			}
		})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs) != 0 {
		t.Errorf("%d subscriptions left after their readers", len(b.subs))
	}
}

func TestNodeNotConnectedIsReportedNotWaitedFor(t *testing.T) {
	b := newBroker(t, 10*time.Millisecond)
	listen(t, b, "n1", map[string]string{"t1": "a\n"}).serve(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := collect(t, ctx, b, Request{Tasks: []Task{{"t1", "n1"}, {"t2", "gone"}}, Tail: -1})
	if err != nil || len(got) != 2 || !strings.Contains(strings.Join(got, ""), "t2: error: node unavailable: node gone is not connected") {
		t.Fatalf("%q %v", got, err)
	}
}

func TestNodeConnectingLateIsHandedTheSubscription(t *testing.T) {
	b := newBroker(t, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := make(chan []string, 1)
	go func() {
		got, _ := collect(t, ctx, b, Request{Tasks: []Task{{"t1", "n1"}}, Tail: -1})
		res <- got
	}()
	eventually.True(t, "the subscription waiting for n1", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, s := range b.subs {
			if s.waiting["n1"] {
				return true
			}
		}
		return false
	})
	listen(t, b, "n1", map[string]string{"t1": "late\n"}).serve(t, b)
	if got := <-res; len(got) != 1 || got[0] != "t1: late\n" {
		t.Fatalf("%q", got)
	}
}

func TestNodeGoneWhileReadingEndsItsTasks(t *testing.T) {
	b := newBroker(t, time.Second)
	n := listen(t, b, "n1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := make(chan []string, 1)
	go func() {
		got, _ := collect(t, ctx, b, Request{Tasks: []Task{{"t1", "n1"}}, Follow: true, Tail: -1})
		res <- got
	}()
	<-n.subs // handed, never answered
	n.stop()
	if got := <-res; len(got) != 1 || !strings.Contains(got[0], "node n1 disconnected") {
		t.Fatalf("%q", got)
	}
}

func TestPublishingForAnotherNodesTaskIsRefused(t *testing.T) {
	b := newBroker(t, time.Second)
	n1 := listen(t, b, "n1", map[string]string{"t1": "mine\n", "t2": "not mine\n"})
	listen(t, b, "n2", map[string]string{"t2": "x\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		_, _ = collect(t, ctx, b, Request{Tasks: []Task{{"t1", "n1"}, {"t2", "n2"}}, Follow: true, Tail: -1})
	}()
	sub := <-n1.subs
	if len(sub.GetTaskIds()) != 1 || sub.GetTaskIds()[0] != "t1" {
		t.Fatalf("n1 was asked for %v", sub.GetTaskIds())
	}
	n1.wrong = "t2"
	if err := n1.answer(b, sub); !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("publishing t2 from n1: %v", err)
	}
	// Impersonation in the message is refused too.
	msgs := []*api.PublishLogsMessage{{NodeId: "n2", SubscriptionId: sub.GetId(), TaskId: "t2"}}
	err := b.Publish(ctx, "n1", func() (*api.PublishLogsMessage, error) {
		if len(msgs) == 0 {
			return nil, io.EOF
		}
		m := msgs[0]
		msgs = msgs[1:]
		return m, nil
	})
	if !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("publishing as n2: %v", err)
	}
}

func TestReaderGoneStopsTheNodes(t *testing.T) {
	b := newBroker(t, time.Second)
	n := listen(t, b, "n1", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := collect(t, ctx, b, Request{Tasks: []Task{{"t1", "n1"}}, Follow: true, Tail: -1})
		done <- err
	}()
	sub := <-n.subs
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Logs after cancel: %v", err)
	}
	if m := <-n.subs; !m.GetClose() || m.GetId() != sub.GetId() {
		t.Fatalf("node got %v, want close of %s", m, sub.GetId())
	}
	err := b.Publish(context.Background(), "n1", func() (*api.PublishLogsMessage, error) {
		return &api.PublishLogsMessage{NodeId: "n1", SubscriptionId: sub.GetId(), TaskId: "t1", Records: []*api.LogRecord{{Data: []byte("late\n")}}}, nil
	})
	if !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("publish after the reader went: %v", err)
	}
}

func TestSlowReaderHoldsBackOnlyItsPublisher(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Buffer = 1
	b, _ := New(cfg)
	n := listen(t, b, "n1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	release := make(chan struct{})
	got := make(chan int, 1)
	go func() {
		count := 0
		_ = b.Logs(ctx, Request{Tasks: []Task{{"t1", "n1"}}, Tail: -1}, func(m Message) error {
			<-release
			count++
			return nil
		})
		got <- count
	}()
	sub := <-n.subs
	const lines = 50
	sent := 0
	pubDone := make(chan error, 1)
	go func() {
		pubDone <- b.Publish(ctx, "n1", func() (*api.PublishLogsMessage, error) {
			if sent == lines {
				sent++
				return &api.PublishLogsMessage{NodeId: "n1", SubscriptionId: sub.GetId(), TaskId: "t1", Done: true}, nil
			}
			if sent > lines {
				return nil, io.EOF
			}
			sent++
			return &api.PublishLogsMessage{NodeId: "n1", SubscriptionId: sub.GetId(), TaskId: "t1", Records: []*api.LogRecord{{Data: []byte("x\n")}}}, nil
		})
	}()
	select {
	case err := <-pubDone:
		t.Fatalf("publisher finished past a full buffer: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	if c := <-got; c != lines {
		t.Fatalf("reader got %d lines, want %d", c, lines)
	}
}

func TestSubscriptionCarriesTimesAndAttrs(t *testing.T) {
	b := newBroker(t, time.Second)
	n := listen(t, b, "n1", nil)
	since := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	until := since.Add(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		sub := <-n.subs
		if !sub.GetSince().AsTime().Equal(since) || !sub.GetUntil().AsTime().Equal(until) {
			t.Errorf("subscription since %v until %v", sub.GetSince(), sub.GetUntil())
		}
		msgs := []*api.PublishLogsMessage{
			{SubscriptionId: sub.GetId(), TaskId: "t1", Attrs: []*api.LogAttr{{Key: "tier", Value: "front"}},
				Records: []*api.LogRecord{{Time: timestamppb.New(since.Add(time.Minute)), Stderr: true, Data: []byte("oops\n")}}},
			{SubscriptionId: sub.GetId(), TaskId: "t1", Done: true},
		}
		_ = b.Publish(ctx, "n1", func() (*api.PublishLogsMessage, error) {
			if len(msgs) == 0 {
				return nil, io.EOF
			}
			m := msgs[0]
			msgs = msgs[1:]
			return m, nil
		})
	}()
	var got []Message
	err := b.Logs(ctx, Request{Tasks: []Task{{"t1", "n1"}}, Tail: -1, Since: since, Until: until}, func(m Message) error {
		got = append(got, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Attrs) != 1 || got[0].Attrs[0].GetKey() != "tier" || len(got[0].Records) != 1 ||
		!got[0].Records[0].GetStderr() || !got[0].Records[0].GetTime().AsTime().Equal(since.Add(time.Minute)) {
		t.Fatalf("reader got %v", got)
	}
}
