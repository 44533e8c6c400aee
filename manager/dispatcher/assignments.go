package dispatcher

import (
	"hash/fnv"
	"sort"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// assigned says whether a task belongs in its node's assignment set: the
// scheduler has placed it. Terminal tasks stay in the set until the
// orchestrator deletes them (history limit), so the worker keeps their
// exited containers for `container ls -a` and removes each one when its task
// goes: no orphans, no guessing.
func assigned(t *api.Task) bool {
	return t != nil && t.GetNodeId() != "" && t.GetStatus().GetState() >= api.TaskState_TASK_STATE_ASSIGNED
}

// affected is the set of nodes a batch of store events concerns; all means
// every session (networks, the cluster object, a store reset, managers).
type affected struct {
	all   bool
	reset bool // the store was replaced: every session needs its whole set
	nodes map[string]struct{}
	// tasks are, by node, the tasks whose change the node must hear of (an
	// incremental set carries only those).
	tasks map[string]map[string]struct{}
}

func (a *affected) add(nodeID string) {
	if nodeID == "" {
		return
	}
	if a.nodes == nil {
		a.nodes = map[string]struct{}{}
	}
	a.nodes[nodeID] = struct{}{}
}

// addTask records that node nodeID must hear of task taskID's change.
func (a *affected) addTask(nodeID, taskID string) {
	if nodeID == "" {
		return
	}
	a.add(nodeID)
	if a.tasks == nil {
		a.tasks = map[string]map[string]struct{}{}
	}
	if a.tasks[nodeID] == nil {
		a.tasks[nodeID] = map[string]struct{}{}
	}
	a.tasks[nodeID][taskID] = struct{}{}
}

// collect records which sessions must resend after e. A worker's own status
// reports change nothing it needs to hear back, so they wake nobody.
func (a *affected) collect(e store.Event) {
	if e.Kind == store.EventReset {
		a.all, a.reset = true, true
		return
	}
	switch e.Table {
	case store.TableNetwork, store.TableCluster:
		a.all = true
	case store.TableNode:
		n, _ := e.Object.(*api.Node)
		o, _ := e.Old.(*api.Node)
		switch {
		case e.Kind != store.EventUpdate:
			a.all = true // the managers list may have changed
		case o.GetRole() != n.GetRole() || !proto.Equal(o.GetManagerStatus(), n.GetManagerStatus()):
			a.all = true
		case !proto.Equal(o.GetSpec(), n.GetSpec()) || !equalAttachments(o.GetLbAttachments(), n.GetLbAttachments()):
			a.add(n.GetId())
		}
	case store.TableTask:
		n, _ := e.Object.(*api.Task)
		switch e.Kind {
		case store.EventCreate, store.EventDelete:
			if assigned(n) {
				a.addTask(n.GetNodeId(), n.GetId())
			}
		case store.EventUpdate:
			o, _ := e.Old.(*api.Task)
			if assigned(o) != assigned(n) || o.GetNodeId() != n.GetNodeId() {
				if assigned(o) {
					a.addTask(o.GetNodeId(), o.GetId())
				}
				if assigned(n) {
					a.addTask(n.GetNodeId(), n.GetId())
				}
				return
			}
			if assigned(n) && taskChanged(o, n) {
				a.addTask(n.GetNodeId(), n.GetId())
			}
		}
	}
}

// taskChanged compares what a worker acts on, leaving out the status the
// worker itself reported.
func taskChanged(o, n *api.Task) bool {
	return o.GetDesiredState() != n.GetDesiredState() ||
		o.GetSpecVersion() != n.GetSpecVersion() ||
		!proto.Equal(o.GetSpec(), n.GetSpec()) ||
		!equalAttachments(o.GetNetworks(), n.GetNetworks()) ||
		!proto.Equal(o.GetEndpoint(), n.GetEndpoint())
}

func equalAttachments(a, b []*api.NetworkAttachment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// assignments reads node nodeID's assignment set: its placed tasks and
// every network they or the node's lb endpoints attach to.
func assignments(tx store.ReadTx, node *api.Node) *api.Assignments {
	out := &api.Assignments{}
	netIDs := map[string]struct{}{}
	for _, t := range tx.TasksByNode(node.GetId()) {
		if !assigned(t) {
			continue
		}
		out.Tasks = append(out.Tasks, t)
		for _, na := range t.GetNetworks() {
			netIDs[na.GetNetworkId()] = struct{}{}
		}
		for _, nc := range t.GetSpec().GetNetworks() {
			netIDs[nc.GetTarget()] = struct{}{}
		}
	}
	for _, na := range node.GetLbAttachments() {
		netIDs[na.GetNetworkId()] = struct{}{}
	}
	ids := make([]string, 0, len(netIDs))
	for id := range netIDs {
		if id != "" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		if n := tx.Network(id); n != nil {
			out.Networks = append(out.Networks, n)
		}
	}
	addFiles(tx, out)
	return out
}

// fingerprint identifies a session message's content by object versions, so
// a wake-up that changed nothing sends nothing. Without withTasks it leaves
// the tasks out (an incremental set's tasks are changes, sent anyway).
func fingerprint(m *api.SessionMessage, withTasks bool) uint64 {
	h := fnv.New64a()
	put := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	putV := func(id string, v uint64) { put(id); put(strconv.FormatUint(v, 36)) }
	putV(m.GetNode().GetId(), m.GetNode().GetMeta().GetVersion())
	if withTasks {
		for _, t := range m.GetAssignments().GetTasks() {
			putV(t.GetId(), t.GetMeta().GetVersion())
		}
	}
	put("|")
	for _, n := range m.GetAssignments().GetNetworks() {
		putV(n.GetId(), n.GetMeta().GetVersion())
	}
	put("|")
	fileIDs(m.GetAssignments(), putV)
	put("|")
	for _, a := range m.GetManagers() {
		put(a)
	}
	put("|")
	for _, id := range m.GetManagerIds() {
		put(id)
	}
	put(m.GetHeartbeatPeriod().AsDuration().String())
	for _, k := range m.GetGossipKeys() {
		put(string(k))
	}
	return h.Sum64()
}
