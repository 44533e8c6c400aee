// Package deliverybench measures the task-delivery path at scale (its
// benchmark only; no code of its own): one manager daemon and worker
// daemons with the fake executor, services created through the real API,
// and the time, raft writes and manager memory it takes until every task
// is reported running, then again after the manager restarts (every worker
// reconnects at once) and after a worker daemon is killed and restarted.
//
//	go test -run '^$' -bench Delivery -benchtime 1x -timeout 30m ./manager/dispatcher/deliverybench/
package deliverybench
