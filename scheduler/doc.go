// Package scheduler decides which node each pending task runs on.
//
// It owns placement and nothing else: given a snapshot of the nodes, the tasks
// already on them and a batch of pending tasks, it returns a Plan (task ID →
// node ID, or the reason a Swarm user would read in `service ps` ERROR). It is a
// pure function of its inputs so a table test covers every decision.
//
// It must not touch the store, the network, the clock or a logger, and it never
// mutates the objects it is given: the manager's scheduler adapter takes the
// snapshot, calls Schedule, and commits the Plan itself. Creating tasks (slots,
// global services' one-task-per-node) is the orchestrator's job; the scheduler
// only validates a node an orchestrator chose.
//
// A decision is made in two steps, as in Swarm: filters (node ready, node
// availability active, placement constraints, host-mode ports free; one idea
// per file) drop the nodes a task may not use, then spread picks among the rest the node with the fewest
// tasks of the same service, then the fewest tasks overall, then the smallest
// node ID, so the same input always gives the same plan.
package scheduler
