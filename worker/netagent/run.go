package netagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	vnetns "github.com/vishvananda/netns"

	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/dns"
	"github.com/minsw/minsw/netdriver/gwbridge"
	"github.com/minsw/minsw/netdriver/netns"
	api "github.com/minsw/minsw/proto/minsw/v1"
	"github.com/minsw/minsw/worker/gossip"
)

// sweepGrace is how long after start a network or container namespace left
// by a previous run may wait for a task to claim it before it is removed.
const sweepGrace = 30 * time.Second

// Run waits for the node's first session message (the lb endpoint
// addresses and the gossip keys), starts gossip, adopts what a previous run
// left in the kernel, and then keeps publishing the node's running tasks and
// programming peers, lb services and DNS names from the endpoint table
// until ctx ends. It then leaves gossip and stops DNS, but leaves the
// kernel as it is: containers keep running, and a restarted daemon adopts
// them. Teardown removes everything.
func (a *Agent) Run(ctx context.Context, view View) error {
	first := false
	a.runOnce.Do(func() { first = true })
	if !first {
		return errors.New("netagent: Run called twice")
	}
	defer close(a.stopped)
	a.view = view
	for view.Node() == nil {
		select {
		case <-ctx.Done():
			return nil
		case <-view.Changed():
		}
	}
	keys := view.GossipKeys()
	db, err := a.startGossip(ctx, keys)
	if err != nil {
		return err
	}
	a.db = db
	defer func() {
		a.kmu.Lock()
		if err := db.Leave(time.Second); err != nil {
			a.log.Debug("leaving gossip", "err", err)
		}
		a.closeDNS()
		a.kmu.Unlock()
	}()
	joinDelay := minJoinDelay
	if a.join(ctx) {
		joinDelay = a.cfg.JoinInterval
	}
	leftovers := a.adopt(ctx)
	close(a.ready)
	a.syncIngress(ctx)
	ingressRetry := time.NewTimer(time.Hour)
	ingressRetry.Stop()
	defer ingressRetry.Stop()

	events, cancel := db.Watch("")
	defer cancel()
	start := time.Now()
	joinTimer := time.NewTimer(joinDelay)
	defer joinTimer.Stop()
	rec := time.NewTimer(time.Hour)
	rec.Stop()
	armed := false
	arm := func(d time.Duration) {
		if !armed {
			rec.Reset(d)
			armed = true
		}
	}
	changed := view.Changed()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			a.markDirty(ev.Network)
			arm(a.cfg.Coalesce)
		case <-a.wakeRec:
			arm(a.cfg.Coalesce)
		case <-changed:
			changed = view.Changed()
			if ks := view.GossipKeys(); len(ks) > 0 && len(keys) > 0 && !slices.EqualFunc(ks, keys, slices.Equal) {
				if err := db.SetKeys(ks); err != nil {
					a.log.Warn("gossip key rotation", "err", err)
				} else {
					keys = ks
				}
			}
			a.syncPublished()
			a.syncIngress(ctx)
		case <-a.wakeIngress:
			ingressRetry.Reset(a.cfg.RetryDelay)
		case <-ingressRetry.C:
			a.syncIngress(ctx)
		case <-a.wakePub:
			a.syncPublished()
		case <-rec.C:
			armed = false
			if failed := a.reconcile(ctx); failed {
				arm(a.cfg.RetryDelay)
			}
		case <-joinTimer.C:
			// Peers that are not up yet are tried again soon, backing off
			// to JoinInterval; once all are members, every JoinInterval.
			if a.join(ctx) {
				joinDelay = a.cfg.JoinInterval
			} else {
				joinDelay = min(2*joinDelay, a.cfg.JoinInterval)
			}
			joinTimer.Reset(joinDelay)
			if leftovers != nil && time.Since(start) > sweepGrace {
				a.sweep(ctx, leftovers)
				leftovers = nil
			}
		}
	}
}

// startGossip starts memberlist, retrying while its port is busy (a
// previous daemon still shutting down).
func (a *Agent) startGossip(ctx context.Context, keys [][]byte) (*gossip.DB, error) {
	gcfg := a.cfg.Gossip
	gcfg.Keyring = keys
	for {
		db, err := gossip.New(gcfg)
		if err == nil {
			a.log.Info("gossip started", "addr", db.LocalAddr(), "encrypted", len(keys) > 0)
			return db, nil
		}
		a.log.Warn("starting gossip", "addr", net.JoinHostPort(gcfg.BindAddr, fmt.Sprint(gcfg.BindPort)), "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("netagent: gossip: %w", err)
		case <-time.After(a.cfg.RetryDelay):
		}
	}
}

// minJoinDelay is the first wait before joining peers again when some
// were not reachable (or not known yet).
const minJoinDelay = 200 * time.Millisecond

// join contacts the configured peers that are not members yet; it reports
// whether there were peers and all of them are members now.
func (a *Agent) join(ctx context.Context) bool {
	if a.cfg.Peers == nil {
		return true
	}
	have := map[string]bool{a.db.LocalAddr(): true}
	for _, m := range a.db.Members() {
		have[m.Addr] = true
	}
	var missing []string
	peers := a.cfg.Peers()
	for _, p := range peers {
		if !have[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return len(peers) > 0 || len(a.db.Members()) > 1
	}
	jctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	n, err := a.db.Join(jctx, missing)
	if err != nil {
		a.log.Debug("gossip join", "peers", missing, "err", err)
		return false
	}
	a.log.Info("gossip joined", "peers", missing, "answered", n)
	return n == len(missing)
}

// leftovers are what a previous run left: networks adopted at start and
// container namespaces no task has claimed yet.
type leftovers struct {
	nets       []string
	containers []string
}

// adopt takes over the networks a previous run left (those the node still
// has an lb endpoint on), deletes the other network namespaces, and notes
// what to sweep if no task claims it soon.
func (a *Agent) adopt(ctx context.Context) *leftovers {
	a.kmu.Lock()
	defer a.kmu.Unlock()
	names, _ := a.sbx.List(a.dir)
	have := map[string]bool{}
	lo := &leftovers{}
	for _, n := range names {
		have[n] = true
		if containerNetnsName.MatchString(n) {
			lo.containers = append(lo.containers, n)
		}
	}
	byID := map[string]*api.Network{}
	for _, n := range a.view.Networks() {
		byID[n.GetId()] = n
	}
	var want []netdriver.Network
	for _, att := range a.view.Node().GetLbAttachments() {
		n := byID[att.GetNetworkId()]
		if n == nil || len(att.GetAddresses()) == 0 || !have[netns.SandboxName(n.GetId())] {
			continue
		}
		p, err := netip.ParsePrefix(att.GetAddresses()[0])
		if err != nil {
			continue
		}
		if dn, err := driverNetwork(n, p); err == nil {
			want = append(want, dn)
		}
	}
	if err := a.drv.Reconcile(ctx, want); err != nil {
		a.log.Warn("adopting networks left by a previous run", "err", err)
	}
	for _, n := range want {
		if err := a.ensureNetworkLocked(ctx, n); err != nil {
			a.log.Warn("adopting network", "network", n.ID, "err", err)
			continue
		}
		lo.nets = append(lo.nets, n.ID)
	}
	if len(want) > 0 || len(lo.containers) > 0 {
		a.log.Info("adopted what a previous run left", "networks", len(lo.nets), "container_netns", len(lo.containers))
	}
	return lo
}

// sweep removes adopted networks and container namespaces that no task
// claimed within the grace period.
func (a *Agent) sweep(ctx context.Context, lo *leftovers) {
	a.kmu.Lock()
	defer a.kmu.Unlock()
	claimed := map[string]bool{}
	for _, lt := range a.tasks {
		claimed[filepath.Base(lt.netns)] = true
	}
	for _, name := range lo.containers {
		if !claimed[name] {
			a.log.Info("removing unclaimed container namespace", "netns", name)
			_ = a.sbx.Delete(filepath.Join(a.dir, name))
		}
	}
	for _, id := range lo.nets {
		if _, ok := a.nets[id]; ok && !a.networkUsedLocked(id) {
			a.log.Info("removing network no task uses", "network", id)
			if err := a.removeNetworkLocked(ctx, id); err != nil {
				a.log.Warn("removing network", "network", id, "err", err)
			}
		}
	}
}

// syncPublished publishes the endpoints of tasks that run, drains those of
// running tasks told to stop, and withdraws those of tasks that stopped:
// only running tasks are lb backends, and only those not told to stop take
// new connections.
func (a *Agent) syncPublished() {
	a.kmu.Lock()
	defer a.kmu.Unlock()
	if !a.isReady() {
		return
	}
	running := map[string]bool{} // task ID -> not told to stop
	for _, t := range a.view.Tasks() {
		if t.GetStatus().GetState() == api.TaskState_TASK_STATE_RUNNING {
			running[t.GetId()] = t.GetDesiredState() <= api.TaskState_TASK_STATE_RUNNING
		}
	}
	for _, lt := range a.tasks {
		serve, run := running[lt.id]
		want := serve && !lt.withdrawn
		switch {
		case run && !want && lt.published && !lt.draining:
			a.drainLocked(lt)
		case !run && lt.published:
			a.unpublishLocked(lt)
			a.markDirty(publishKey)
		case want && !lt.published:
			var errs []error
			for _, ep := range lt.eps {
				errs = append(errs, a.db.PutEndpoint(ep))
				a.markDirty(ep.NetworkID)
			}
			if err := errors.Join(errs...); err != nil {
				a.log.Warn("publishing task endpoints", "task", lt.id, "err", err)
			}
			lt.published = true
			a.markDirty(publishKey)
		}
	}
}

func (a *Agent) unpublishLocked(lt *localTask) {
	if !lt.published || a.db == nil {
		return
	}
	for _, ep := range lt.eps {
		err := a.db.DeleteEntry(ep.NetworkID, ep.Key())
		if err != nil && !errors.Is(err, gossip.ErrNotFound) && !errors.Is(err, gossip.ErrNotJoined) && a.isReady() {
			a.log.Warn("withdrawing task endpoint", "task", lt.id, "network", ep.NetworkID, "err", err)
		}
		a.markDirty(ep.NetworkID)
	}
	lt.published, lt.draining = false, false
}

func (a *Agent) markDirty(network string) {
	a.dmu.Lock()
	a.dirty[network] = true
	a.dmu.Unlock()
	a.poke(a.wakeRec)
}

func (a *Agent) poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// reconcile programs every dirty network from its table; it reports
// whether one failed (it stays dirty and is tried again).
func (a *Agent) reconcile(ctx context.Context) (failed bool) {
	a.dmu.Lock()
	dirty := a.dirty
	a.dirty = map[string]bool{}
	a.dmu.Unlock()
	a.kmu.Lock()
	defer a.kmu.Unlock()
	for id := range dirty {
		if err := a.applyLocked(ctx, id); err != nil {
			if ctx.Err() != nil {
				return false
			}
			a.log.Warn("programming network", "network", id, "err", err)
			a.dmu.Lock()
			a.dirty[id] = true
			a.dmu.Unlock()
			failed = true
		}
	}
	return failed
}

// applyLocked makes one network's peers, lb services and DNS names what
// its gossip table says.
func (a *Agent) applyLocked(ctx context.Context, id string) error {
	if id == publishKey {
		if !a.isReady() {
			return nil
		}
		return a.applyPublishedLocked(ctx)
	}
	ln := a.nets[id]
	if ln == nil || !a.isReady() {
		return nil
	}
	d := compute(id, a.db.Endpoints(id), a.cfg.VTEP)
	if ln.net.Ingress {
		d.names = map[string]dns.Endpoint{} // no names on the routing mesh
		defer a.markDirty(publishKey)
	}
	if d.conflicts > 0 {
		a.log.Warn("services left out: VIP or mark taken by another service", "network", id, "count", d.conflicts)
	}
	var errs []error
	errs = append(errs, a.drv.SetPeers(ctx, id, d.peers))
	errs = append(errs, a.drv.SetServices(ctx, id, d.services))
	set, del := diffNames(ln.names, d.names)
	for _, e := range set {
		a.table.Set(e)
		ln.names[e.ID] = e
	}
	for _, k := range del {
		a.table.Delete(id, k)
		delete(ln.names, k)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Tell the stopping tasks' nodes that this lb gives them no new
	// connection any more (withdraw.go waits for every lb's word).
	if !slices.Equal(ln.lbEP.Withdrawn, d.withdrawn) {
		ep := ln.lbEP
		ep.Withdrawn = d.withdrawn
		if err := a.db.PutEndpoint(ep); err != nil {
			return fmt.Errorf("netagent: gossip: %w", err)
		}
		ln.lbEP = ep
		if len(d.withdrawn) > 0 {
			a.log.Debug("lb confirms draining tasks", "network", id, "tasks", d.withdrawn)
		}
	}
	if !ln.programmed {
		ln.programmed = true
		a.log.Info("network programmed", "network", id, "peers", len(d.peers), "services", len(d.services), "names", len(d.names))
	}
	return nil
}

// Teardown removes everything the netagent made on this node: container
// namespaces, networks with their namespaces, links and load balancers,
// and the gateway bridge. Call it after Run has returned, when the node
// leaves the swarm (its containers are gone).
func (a *Agent) Teardown(ctx context.Context) error {
	a.kmu.Lock()
	defer a.kmu.Unlock()
	defer a.storeEgressLocked()
	var errs []error
	a.closeDNS()
	for id, lt := range a.tasks {
		errs = append(errs, a.drv.DetachEgress(ctx, lt.cid), a.sbx.Delete(lt.netns))
		a.egress.release(lt.cid)
		delete(a.tasks, id)
	}
	for id := range a.nets {
		delete(a.nets, id)
	}
	a.ingressID = ""
	names, _ := a.sbx.List(a.dir)
	for _, n := range names {
		if containerNetnsName.MatchString(n) {
			errs = append(errs, a.sbx.Delete(filepath.Join(a.dir, n)))
		}
	}
	if a.cfg.Dataplane == nil { // a fake dataplane made no bridge to remove
		errs = append(errs, a.removeGatewayBridge())
	}
	errs = append(errs, a.drv.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netagent: teardown: %w", err)
	}
	a.log.Info("task networking torn down")
	return nil
}

// removeGatewayBridge deletes a gateway bridge this run did not make (the
// driver removes its own): one left by a previous run of the daemon.
func (a *Agent) removeGatewayBridge() error {
	if !gwbridge.Present(a.cfg.UnderlayNetns, gwbridge.DefaultName) {
		return nil // not there
	}
	var ns vnetns.NsHandle
	var err error
	if a.cfg.UnderlayNetns != "" {
		ns, err = netns.Open(a.cfg.UnderlayNetns)
	} else {
		ns, err = netns.Current()
	}
	if err != nil {
		return err
	}
	defer ns.Close()
	b, err := gwbridge.Ensure(ns, gwbridge.Config{Subnet: a.cfg.Egress})
	if err != nil {
		return err
	}
	return b.Remove()
}

// egressAddr reads the gateway bridge address a container namespace
// already has (after a restart), if any.
func egressAddr(path string, subnet netip.Prefix) (netip.Prefix, bool) {
	return gwbridge.ContainerAddr(path, subnet)
}

func parseMAC(s string) (net.HardwareAddr, error) {
	if s == "" {
		return nil, errors.New("no MAC")
	}
	return net.ParseMAC(s)
}

// closeDNS stops the DNS server once (a second Close would block).
func (a *Agent) closeDNS() { a.dnsOnce.Do(func() { a.dns.Close() }) }
