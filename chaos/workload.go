package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minsw/minsw/client"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// label carries a key's value on its service.
const label = "chaos.value"

// Workload is a set of clients, each bound to one manager's socket, that
// read, create and compare-and-set a few services and record every call.
type Workload struct {
	Keys      []string
	Clients   int
	OpTimeout time.Duration
	Rec       *Recorder

	seq  atomic.Int64
	stop chan struct{}
	wg   sync.WaitGroup
}

// Run starts the clients against c's managers (client i uses manager
// i mod n); Stop ends them.
func (w *Workload) Run(c *Cluster, seed int64) {
	w.stop = make(chan struct{})
	for i := 0; i < w.Clients; i++ {
		m := c.Managers[i%len(c.Managers)]
		w.wg.Add(1)
		go func(id int, m *Manager) {
			defer w.wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(id)))
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				cl, err := m.Client()
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if !w.step(cl, id, w.Keys[rng.Intn(len(w.Keys))]) {
					// The manager did not answer: don't spin on a dead socket.
					select {
					case <-w.stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
		}(i, m)
	}
}

// Stop ends the clients and waits for their last calls.
func (w *Workload) Stop() {
	close(w.stop)
	w.wg.Wait()
}

// step reads key and then creates it or compare-and-sets it from the value
// read; it reports whether the manager answered at all.
func (w *Workload) step(cl *client.Client, id int, key string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), w.OpTimeout)
	defer cancel()
	call := w.Rec.Now()
	r, err := cl.Control.GetService(ctx, &api.GetServiceRequest{Ref: key})
	ret := w.Rec.Now()
	var svc *api.Service
	switch {
	case err == nil:
		svc = r.GetService()
		w.Rec.Add(Op{Client: id, In: Input{Kind: Read, Key: key}, Out: Output{Result: OK, Value: svc.GetSpec().GetLabels()[label]}, Call: call, Return: ret})
	case status.Code(err) == codes.NotFound:
		w.Rec.Add(Op{Client: id, In: Input{Kind: Read, Key: key}, Out: Output{Result: NotFound}, Call: call, Return: ret})
	default:
		// A failed read says nothing: it is left out of the history.
		return false
	}
	value := fmt.Sprintf("c%d-%d", id, w.seq.Add(1))
	in := Input{Kind: Create, Key: key, Value: value}
	call = w.Rec.Now()
	if svc == nil {
		_, err = cl.Control.CreateService(ctx, &api.CreateServiceRequest{Spec: spec(key, value)})
	} else {
		in = Input{Kind: Update, Key: key, Expect: svc.GetSpec().GetLabels()[label], Value: value}
		sp := svc.GetSpec()
		sp.Labels = map[string]string{label: value}
		_, err = cl.Control.UpdateService(ctx, &api.UpdateServiceRequest{Ref: svc.GetId(), Version: svc.GetMeta().GetVersion(), Spec: sp})
	}
	ret = w.Rec.Now()
	op := Op{Client: id, In: in, Out: Output{Result: classify(err)}, Call: call, Return: ret}
	if err != nil {
		op.Err = err.Error()
	}
	w.Rec.Add(op)
	return true
}

func spec(name, value string) *api.ServiceSpec {
	return &api.ServiceSpec{Name: name, Labels: map[string]string{label: value},
		Mode: &api.ServiceSpec_Replicated{Replicated: &api.ReplicatedService{Replicas: 0}},
		Task: &api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox"}}}
}

// classify maps a write's error to its outcome. Only an answer the server
// chose is definite; a broken connection or a timeout leaves the write's
// fate unknown.
func classify(err error) Result {
	if err == nil {
		return OK
	}
	s, _ := status.FromError(err)
	switch s.Code() {
	case codes.NotFound:
		return NotFound
	case codes.AlreadyExists:
		return Exists
	case codes.Aborted:
		return Conflict
	case codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied:
		return Failed
	case codes.Unavailable:
		msg := strings.ToLower(s.Message())
		for _, transport := range []string{"connection error", "transport", "eof", "reset", "closing", "broken pipe"} {
			if strings.Contains(msg, transport) {
				return Unknown
			}
		}
		return Failed
	}
	return Unknown
}

// FinalValues reads every key once the cluster is whole again, retrying
// until a manager answers, for Lost.
func FinalValues(ctx context.Context, c *Cluster, keys []string) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range keys {
		err := retry(ctx, func() error {
			l, err := c.Leader(ctx)
			if err != nil {
				return err
			}
			cl, _ := l.Client()
			r, err := cl.Control.GetService(ctx, &api.GetServiceRequest{Ref: k})
			if status.Code(err) == codes.NotFound {
				return nil
			}
			if err != nil {
				return err
			}
			out[k] = r.GetService().GetSpec().GetLabels()[label]
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
