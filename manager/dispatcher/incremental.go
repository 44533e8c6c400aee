package dispatcher

import (
	"sort"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// A worker that asks for incremental sets (SessionRequest.
// incremental_assignments) gets its complete set once per session and then
// only what changed: a node with 25,000 tasks would otherwise be sent (and
// the dispatcher would encode) all of them again for every task placed on
// it, which made delivering a large swarm quadratic.

// ref is one object a task makes its node hold: a network, or a secret or
// config while the task is meant to run.
type ref struct {
	table string // store.TableNetwork, TableSecret or TableConfig
	id    string
}

// taskRefs lists what t makes its node hold, as assignments and addFiles
// read it. The strings are t's own (no copies).
func taskRefs(t *api.Task) []ref {
	var out []ref
	for _, na := range t.GetNetworks() {
		out = append(out, ref{store.TableNetwork, na.GetNetworkId()})
	}
	for _, nc := range t.GetSpec().GetNetworks() {
		out = append(out, ref{store.TableNetwork, nc.GetTarget()})
	}
	if needsFiles(t) {
		c := t.GetSpec().GetContainer()
		for _, r := range c.GetSecrets() {
			out = append(out, ref{store.TableSecret, r.GetSecretId()})
		}
		for _, r := range c.GetConfigs() {
			out = append(out, ref{store.TableConfig, r.GetConfigId()})
		}
	}
	return out
}

// holding is what a session's worker holds: the IDs of the tasks sent to it
// (with the version sent and what each references) and how many of them
// reference each network, secret and config. It keeps no task: the store's
// objects are read again when a task changes.
type holding struct {
	tasks map[string]heldTask
	refs  map[ref]int
}

type heldTask struct {
	version uint64
	refs    []ref
}

func newHolding(n int) *holding {
	return &holding{tasks: make(map[string]heldTask, n), refs: map[ref]int{}}
}

// has reports whether the worker already holds t at its current version: a
// change the watcher reports after the complete set that already carried
// it (the session opened while the store's events were still queued) is
// not sent twice.
func (h *holding) has(t *api.Task) bool {
	ht, ok := h.tasks[t.GetId()]
	return ok && ht.version == t.GetMeta().GetVersion()
}

// put records t as sent (replacing an earlier version of it).
func (h *holding) put(t *api.Task) {
	h.remove(t.GetId())
	rs := taskRefs(t)
	h.tasks[t.GetId()] = heldTask{version: t.GetMeta().GetVersion(), refs: rs}
	for _, r := range rs {
		if r.id != "" {
			h.refs[r]++
		}
	}
}

// remove forgets task id and reports whether the worker held it.
func (h *holding) remove(id string) bool {
	ht, ok := h.tasks[id]
	if !ok {
		return false
	}
	delete(h.tasks, id)
	for _, r := range ht.refs {
		if r.id == "" {
			continue
		}
		if h.refs[r]--; h.refs[r] <= 0 {
			delete(h.refs, r)
		}
	}
	return true
}

// fill puts into out the networks (the tasks' and the node's lb
// attachments'), secrets and configs the held tasks need, in ID order.
func (h *holding) fill(tx store.ReadTx, node *api.Node, out *api.Assignments) {
	ids := map[string][]string{}
	for r := range h.refs {
		ids[r.table] = append(ids[r.table], r.id)
	}
	for _, na := range node.GetLbAttachments() {
		if id := na.GetNetworkId(); id != "" && h.refs[ref{store.TableNetwork, id}] == 0 {
			ids[store.TableNetwork] = append(ids[store.TableNetwork], id)
		}
	}
	for _, l := range ids {
		sort.Strings(l)
	}
	for _, id := range ids[store.TableNetwork] {
		if n := tx.Network(id); n != nil {
			out.Networks = append(out.Networks, n)
		}
	}
	for _, id := range ids[store.TableSecret] {
		if s := tx.Secret(id); s != nil {
			out.Secrets = append(out.Secrets, s)
		}
	}
	for _, id := range ids[store.TableConfig] {
		if c := tx.Config(id); c != nil {
			out.Configs = append(out.Configs, c)
		}
	}
}

// incrementalMessage reads the node's session message for a worker that
// holds h: its complete set when complete is set (h is rebuilt), else the
// tasks of changed that are in the node's set (added or changed) and those
// of them that left it (removed_tasks). h is updated to what the message
// gives the worker.
func (d *Dispatcher) incrementalMessage(nodeID string, h *holding, complete bool, changed map[string]struct{}) (*api.SessionMessage, error) {
	m, err := d.message(nodeID, func(tx store.ReadTx, node *api.Node) *api.Assignments {
		out := &api.Assignments{}
		if complete {
			clear(h.tasks)
			clear(h.refs)
			for _, t := range tx.TasksByNode(nodeID) {
				if assigned(t) {
					out.Tasks = append(out.Tasks, t)
					h.put(t)
				}
			}
		} else {
			ids := make([]string, 0, len(changed))
			for id := range changed {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				t := tx.Task(id)
				if assigned(t) && t.GetNodeId() == nodeID {
					if h.has(t) {
						continue
					}
					out.Tasks = append(out.Tasks, t)
					h.put(t)
				} else if h.remove(id) {
					out.RemovedTasks = append(out.RemovedTasks, id)
				}
			}
		}
		h.fill(tx, node, out)
		return out
	})
	if err != nil {
		return nil, err
	}
	m.AssignmentsIncremental = !complete
	return m, nil
}
