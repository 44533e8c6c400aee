package allocator

import (
	"context"
	"net/netip"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// batchSize bounds the actions of one store write, so one raft entry stays
// small even when a service of 100,000 tasks is created.
const batchSize = 5000

// Run allocates until ctx ends: NEW tasks get their addresses and become
// PENDING, nodes get an lb endpoint IP on each network a task assigned to
// them uses, and addresses of deleted tasks, services and nodes are freed.
func (a *Allocator) Run(ctx context.Context) error {
	w := a.st.Watch(store.ForTables(store.TableTask, store.TableService, store.TableNetwork, store.TableNode))
	defer w.Close()
	a.pass(ctx, nil, true)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.C:
		}
		a.pass(ctx, w.Drain(), false)
	}
}

// Pass runs one allocation round over the whole store (tests, benchmarks).
func (a *Allocator) Pass(ctx context.Context) { a.pass(ctx, nil, true) }

func (a *Allocator) pass(ctx context.Context, events []store.Event, full bool) {
	reset := false
	touched := map[string]bool{} // services created or updated
	for _, e := range events {
		switch e.Kind {
		case store.EventCreate, store.EventUpdate:
			switch o := e.Object.(type) {
			case *api.Service:
				touched[o.GetId()] = true
			case *api.Network:
				full = true // a new ingress network: publishing services need a VIP on it
			}
		case store.EventReset:
			full, reset = true, true
		case store.EventDelete:
			switch o := e.Object.(type) {
			case *api.Task:
				a.ReleaseAttachments(o.GetNetworks())
			case *api.Service:
				a.ReleaseVIPs(o.GetEndpoint().GetVirtualIps())
			case *api.Node:
				a.ReleaseAttachments(o.GetLbAttachments())
			case *api.Network:
				a.ForgetNetwork(o.GetId())
			}
		}
	}
	if reset {
		a.mu.Lock()
		a.pools = map[string]*Pool{}
		a.mu.Unlock()
	}
	// What the log holds is taken, even when the write that put it there
	// was reported to its caller as failed (an unknown outcome). Read from
	// the store, not the events: an old event may carry a VIP this loop has
	// since dropped and freed.
	a.st.View(func(tx store.ReadTx) {
		for id := range touched {
			if svc := tx.Service(id); svc != nil {
				a.reserveVIPs(svc.GetEndpoint().GetVirtualIps())
			}
		}
	})
	allocated := a.allocateServices(ctx, touched, full)

	var newTasks []*api.Task
	nodeNets := map[string]map[string]bool{}
	a.st.View(func(tx store.ReadTx) {
		consider := func(t *api.Task) {
			if t.GetStatus().GetState() == api.TaskState_TASK_STATE_NEW && t.GetDesiredState() <= api.TaskState_TASK_STATE_RUNNING {
				newTasks = append(newTasks, t)
			}
			if t.GetNodeId() != "" && len(t.GetNetworks()) > 0 && t.GetDesiredState() <= api.TaskState_TASK_STATE_RUNNING {
				m := nodeNets[t.GetNodeId()]
				if m == nil {
					m = map[string]bool{}
					nodeNets[t.GetNodeId()] = m
				}
				for _, na := range t.GetNetworks() {
					m[na.GetNetworkId()] = true
				}
			}
		}
		if full {
			for _, t := range tx.Tasks() {
				consider(t)
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range events {
			if t, ok := e.Object.(*api.Task); ok && e.Kind != store.EventDelete && !seen[t.GetId()] {
				seen[t.GetId()] = true
				if cur := tx.Task(t.GetId()); cur != nil {
					consider(cur)
				}
			}
		}
		// Tasks that waited for their service's addresses.
		for _, id := range allocated {
			for _, t := range tx.TasksByService(id) {
				if !seen[t.GetId()] && t.GetStatus().GetState() == api.TaskState_TASK_STATE_NEW {
					seen[t.GetId()] = true
					consider(t)
				}
			}
		}
	})
	// Every node takes part in the routing mesh: each gets an ingress
	// endpoint address, whether or not it runs a task.
	a.st.View(func(tx store.ReadTx) {
		in := IngressNetwork(tx)
		if in == nil {
			return
		}
		for _, n := range tx.Nodes() {
			has := false
			for _, att := range n.GetLbAttachments() {
				if att.GetNetworkId() == in.GetId() {
					has = true
				}
			}
			if has {
				continue
			}
			m := nodeNets[n.GetId()]
			if m == nil {
				m = map[string]bool{}
				nodeNets[n.GetId()] = m
			}
			m[in.GetId()] = true
		}
	})
	a.allocateTasks(ctx, newTasks)
	a.allocateNodes(ctx, nodeNets)
}

func (a *Allocator) allocateTasks(ctx context.Context, tasks []*api.Task) {
	for start := 0; start < len(tasks); start += batchSize {
		batch := tasks[start:min(start+batchSize, len(tasks))]
		var made []*api.Task
		err := a.st.Update(ctx, func(tx *store.Tx) error {
			made = made[:0]
			for _, t := range batch {
				cur := tx.Task(t.GetId())
				if cur == nil || cur.GetStatus().GetState() != api.TaskState_TASK_STATE_NEW {
					continue
				}
				if svc := tx.Service(cur.GetServiceId()); svc != nil && !ServiceAllocated(tx.ReadTx, svc) {
					continue // its VIPs first: the task carries the service's endpoint
				}
				nt, err := a.allocateTask(tx.ReadTx, cur)
				if err != nil {
					a.log.Warn("allocating task addresses", "task", t.GetId(), "err", err)
					continue
				}
				nt.Status.Timestamp = nowProto()
				if err := tx.Update(nt); err != nil {
					a.ReleaseAttachments(nt.GetNetworks())
					continue
				}
				made = append(made, nt)
			}
			return nil
		})
		if err != nil {
			// The write did not land: give the addresses back; the tasks are
			// still NEW and the next event retries them.
			for _, t := range made {
				a.ReleaseAttachments(t.GetNetworks())
			}
			a.log.Warn("storing task allocations", "err", err)
		}
	}
}

func (a *Allocator) allocateNodes(ctx context.Context, nodeNets map[string]map[string]bool) {
	for nodeID, nets := range nodeNets {
		var ids []string
		for id := range nets {
			ids = append(ids, id)
		}
		var added []*api.NetworkAttachment
		err := a.st.Update(ctx, func(tx *store.Tx) error {
			n := tx.Node(nodeID)
			if n == nil {
				return nil
			}
			atts, err := a.lbAttachments(tx.ReadTx, n, ids)
			if err != nil || atts == nil {
				return err
			}
			added = atts[len(n.GetLbAttachments()):]
			nn := proto.Clone(n).(*api.Node)
			nn.LbAttachments = atts
			return tx.Update(nn)
		})
		if err != nil {
			a.ReleaseAttachments(added)
			a.log.Warn("allocating lb endpoint", "node", nodeID, "err", err)
		}
	}
}

// reserveVIPs marks the VIPs and marks of a committed service as taken.
func (a *Allocator) reserveVIPs(vips []*api.VirtualIP) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, v := range vips {
		if p, ok := a.pools[v.GetNetworkId()]; ok {
			if pf, err := netip.ParsePrefix(v.GetAddr()); err == nil {
				_ = p.Reserve(pf.Addr())
			}
		}
		if v.GetFwmark() != 0 {
			_ = a.marks.Reserve(v.GetFwmark())
		}
	}
}
