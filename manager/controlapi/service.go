package controlapi

import (
	"context"
	"crypto/rand"
	"math/big"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/allocator"
	"github.com/minsw/minsw/manager/orchestrator/update"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func (s *Server) GetService(_ context.Context, r *api.GetServiceRequest) (*api.GetServiceResponse, error) {
	var out *api.Service
	err := s.view(func(tx store.ReadTx) error {
		svc, err := tx.ResolveService(r.GetRef())
		out = svc
		return err
	})
	if err != nil {
		return nil, err
	}
	return &api.GetServiceResponse{Service: redactService(out)}, nil
}

func (s *Server) ListServices(_ context.Context, r *api.ListServicesRequest) (*api.ListServicesResponse, error) {
	f, err := ParseFilters(r.GetFilters(), serviceFilterKeys)
	if err != nil {
		return nil, err
	}
	var (
		all     []*api.Service
		version uint64
	)
	s.st.ViewVersion(func(tx store.ReadTx, v uint64) {
		if version = v; v == 0 || v != r.GetUnlessStoreVersion() {
			all = tx.Services()
		}
	})
	if version != 0 && version == r.GetUnlessStoreVersion() {
		return &api.ListServicesResponse{StoreVersion: version, Unchanged: true}, nil
	}
	all = filterList(all, func(sv *api.Service) bool { return MatchService(sv, f) })
	out, next, err := listPage(all, func(s *api.Service) string { return s.GetSpec().GetName() }, r.GetPageSize(), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &api.ListServicesResponse{Services: redactServices(out), NextPageToken: next, StoreVersion: version}, nil
}

// resolveNetworks replaces each attachment's target (name, ID or prefix)
// by the network's ID, refusing unknown networks and the ingress network.
func resolveNetworks(tx store.ReadTx, spec *api.ServiceSpec) error {
	seen := map[string]bool{}
	var out []*api.NetworkAttachmentConfig
	if err := checkHostNetwork(spec); err != nil {
		return err
	}
	for _, a := range spec.GetTask().GetNetworks() {
		if a.GetTarget() == api.HostNetwork {
			out = append(out, &api.NetworkAttachmentConfig{Target: api.HostNetwork})
			continue
		}
		n, err := tx.ResolveNetwork(a.GetTarget())
		if err != nil {
			if errdefs.Is(err, errdefs.KindNotFound) {
				return errdefs.NotFound("network %s not found", a.GetTarget())
			}
			return err
		}
		if n.GetSpec().GetIngress() {
			return errdefs.InvalidArgument("service cannot be explicitly attached to the ingress network %q", n.GetSpec().GetName())
		}
		if seen[n.GetId()] {
			return errdefs.InvalidArgument("network %s is given twice", n.GetSpec().GetName())
		}
		seen[n.GetId()] = true
		out = append(out, &api.NetworkAttachmentConfig{Target: n.GetId(), Aliases: a.GetAliases()})
	}
	spec.Task.Networks = out
	return nil
}

func (s *Server) CreateService(ctx context.Context, r *api.CreateServiceRequest) (*api.CreateServiceResponse, error) {
	if r.GetSpec() == nil {
		return nil, errdefs.InvalidArgument("no service spec given")
	}
	if err := checkRequest(r); err != nil {
		return nil, err
	}
	spec := proto.Clone(r.GetSpec()).(*api.ServiceSpec)
	if spec.GetName() == "" {
		spec.Name = randomName()
	}
	if err := validateServiceSpec(spec); err != nil {
		return nil, err
	}
	if c := spec.GetTask().GetContainer(); c != nil {
		c.Image = NormaliseImage(c.GetImage())
	}
	alloc, err := s.allocator()
	if err != nil {
		return nil, err // not the leader of a term: no allocator to answer with VIPs
	}
	w := s.st.Watch(store.ForTables(store.TableService))
	defer w.Close()
	var id string
	err = s.update(ctx, func(tx *store.Tx) error {
		if prior, err := priorService(tx.ReadTx, r); prior != nil || err != nil {
			id = prior.GetId() // a retry: the earlier attempt made it
			return err
		}
		spec := proto.Clone(spec).(*api.ServiceSpec)
		if other := tx.ServiceByName(spec.GetName()); other != nil {
			return errdefs.AlreadyExists("service %s already exists", spec.GetName())
		}
		if err := resolveNetworks(tx.ReadTx, spec); err != nil {
			return err
		}
		if err := resolveReferences(tx.ReadTx, spec); err != nil {
			return err
		}
		if err := checkReservationsFit(tx.ReadTx, spec); err != nil {
			return err
		}
		svc := &api.Service{Id: s.newID(), Meta: &api.Meta{IdempotencyKey: r.GetIdempotencyKey()}, Spec: spec, SpecVersion: 1}
		if err := checkAddresses(tx.ReadTx, alloc, svc); err != nil {
			return err
		}
		id = svc.GetId()
		return tx.Create(svc)
	})
	if err != nil {
		if prior := s.racedService(r, err); prior != nil {
			return &api.CreateServiceResponse{Service: prior}, nil
		}
		return nil, err
	}
	if r.GetCommittedOnly() {
		var out *api.Service
		s.st.View(func(tx store.ReadTx) { out = tx.Service(id) })
		return &api.CreateServiceResponse{Service: redactService(out)}, nil
	}
	return &api.CreateServiceResponse{Service: redactService(s.allocatedService(ctx, w, id))}, nil
}

// specChanged reports whether an update needs new tasks: anything but the
// replica count changed.
func specChanged(a, b *api.ServiceSpec) bool {
	ac, bc := proto.Clone(a).(*api.ServiceSpec), proto.Clone(b).(*api.ServiceSpec)
	ac.Mode, bc.Mode = nil, nil
	ac.Update, bc.Update = nil, nil
	return !proto.Equal(ac, bc)
}

// storedService reads a service back after a write, with the version the
// write gave it: the write itself only proposed the change, so the object it
// built still carries the version it was read at.
func (s *Server) storedService(id string) *api.Service {
	var out *api.Service
	s.st.View(func(tx store.ReadTx) { out = tx.Service(id) })
	return out
}

func (s *Server) UpdateService(ctx context.Context, r *api.UpdateServiceRequest) (*api.UpdateServiceResponse, error) {
	if err := checkRequest(r); err != nil {
		return nil, err
	}
	var rollback *api.UpdateStatus
	if r.GetRollback() {
		rollback = &api.UpdateStatus{State: api.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, Message: update.MsgManualRollback}
	}
	return s.updateService(ctx, r, rollback, true)
}

// RollbackService restores a service's previous spec for the updater, when
// an update fails with failure action rollback; status says why. The
// updater is guarded by the spec version it saw fail, not by a version
// read, so it skips the API's sequence check.
func (s *Server) RollbackService(ctx context.Context, serviceID string, status *api.UpdateStatus) error {
	_, err := s.updateService(ctx, &api.UpdateServiceRequest{Ref: serviceID, Rollback: true}, status, false)
	return err
}

// updateService applies r; rollback, set with r.Rollback, is the update
// status the rollback starts with; sequenced says r must carry the version
// it read.
func (s *Server) updateService(ctx context.Context, r *api.UpdateServiceRequest, rollback *api.UpdateStatus, sequenced bool) (*api.UpdateServiceResponse, error) {
	alloc, err := s.allocator()
	if err != nil {
		return nil, err
	}
	w := s.st.Watch(store.ForTables(store.TableService))
	defer w.Close()
	var id string
	err = s.update(ctx, func(tx *store.Tx) error {
		cur, err := tx.ResolveService(r.GetRef())
		if err != nil {
			return err
		}
		if rollback.GetSpecVersion() != 0 && rollback.GetSpecVersion() != cur.GetSpecVersion() {
			return errdefs.Conflict("service %s changed meanwhile: rollback of spec version %d dropped", cur.GetSpec().GetName(), rollback.GetSpecVersion())
		}
		if sequenced {
			if err := checkVersion("service", cur.GetSpec().GetName(), r.GetVersion(), cur.GetMeta().GetVersion()); err != nil {
				return err
			}
		}
		var spec *api.ServiceSpec
		switch {
		case r.GetRollback():
			if cur.GetPreviousSpec() == nil {
				return errdefs.FailedPrecondition("service %s has no previous spec to roll back to", cur.GetSpec().GetName())
			}
			spec = proto.Clone(cur.GetPreviousSpec()).(*api.ServiceSpec)
		case r.GetSpec() == nil:
			return errdefs.InvalidArgument("no service spec given")
		default:
			spec = proto.Clone(r.GetSpec()).(*api.ServiceSpec)
		}
		if spec.GetName() != cur.GetSpec().GetName() {
			return errdefs.InvalidArgument("renaming services is not supported")
		}
		if modeKind(spec) != modeKind(cur.GetSpec()) {
			return errdefs.InvalidArgument("service mode change is not allowed")
		}
		if err := validateServiceSpec(spec); err != nil {
			return err
		}
		if c := spec.GetTask().GetContainer(); c != nil {
			c.Image = NormaliseImage(c.GetImage())
		}
		if err := resolveNetworks(tx.ReadTx, spec); err != nil {
			return err
		}
		if err := resolveReferences(tx.ReadTx, spec); err != nil {
			return err
		}
		if err := checkReservationsFit(tx.ReadTx, spec); err != nil {
			return err
		}
		svc := proto.Clone(cur).(*api.Service)
		svc.PreviousSpec = cur.GetSpec()
		svc.Spec = spec
		if specChanged(cur.GetSpec(), spec) {
			svc.SpecVersion++
		}
		// A new spec starts a new update (the updater writes its status
		// once it has work); a rollback says so at once.
		svc.UpdateStatus = nil
		if rollback != nil {
			st := proto.Clone(rollback).(*api.UpdateStatus)
			st.StartedAt = timestamppb.Now()
			st.SpecVersion = svc.GetSpecVersion()
			svc.UpdateStatus = st
		}
		if err := checkAddresses(tx.ReadTx, alloc, svc); err != nil {
			return err
		}
		id = svc.GetId()
		return tx.Update(svc)
	})
	if err != nil {
		return nil, err
	}
	if !sequenced {
		// The updater's own rollback: nobody prints the answer, so it does
		// not wait for the allocator (which runs beside the updater).
		return &api.UpdateServiceResponse{Service: redactService(s.storedService(id))}, nil
	}
	return &api.UpdateServiceResponse{Service: redactService(s.allocatedService(ctx, w, id))}, nil
}

func (s *Server) RemoveService(ctx context.Context, r *api.RemoveServiceRequest) (*api.RemoveServiceResponse, error) {
	err := s.update(ctx, func(tx *store.Tx) error {
		svc, err := tx.ResolveService(r.GetRef())
		if err != nil {
			return err
		}
		// Its tasks are told to go in the same write, so no worker starts
		// one in between; the orchestrator deletes them once stopped.
		for _, t := range tx.TasksByService(svc.GetId()) {
			if t.GetDesiredState() < api.TaskState_TASK_STATE_REMOVE {
				nt := proto.Clone(t).(*api.Task)
				nt.DesiredState = api.TaskState_TASK_STATE_REMOVE
				if err := tx.Update(nt); err != nil {
					return err
				}
			}
		}
		return tx.Delete(svc)
	})
	if err != nil {
		return nil, err
	}
	return &api.RemoveServiceResponse{}, nil
}

// Names for services created without --name, as docker makes them up:
// adjective_noun.
var (
	adjectives = []string{"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nimble", "proud", "quiet", "swift", "tender", "vivid", "witty", "zen"}
	nouns      = []string{"albatross", "badger", "condor", "dolphin", "falcon", "gecko", "heron", "ibis", "jaguar", "kestrel", "lynx", "marmot", "narwhal", "otter", "puffin", "quokka", "raven", "stork"}
)

func randomName() string {
	pick := func(s []string) string {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(s))))
		if err != nil {
			return s[0]
		}
		return s[n.Int64()]
	}
	return pick(adjectives) + "_" + pick(nouns)
}

// checkAddresses refuses, at once and in the user's words, a service the
// allocator loop could not give its addresses: a published port another
// service holds or asks for, a network with no address left. It hands out
// nothing; the loop does, and the store refuses a second holder of a port
// should two users race past this check.
func checkAddresses(tx store.ReadTx, alloc *allocator.Allocator, svc *api.Service) error {
	if err := allocator.CheckPorts(tx, svc); err != nil {
		return err
	}
	return alloc.CheckVIPs(tx, svc)
}

// allocationWait bounds how long a create or update waits for the
// allocator loop to give the service its VIPs and ports before answering
// with the service as stored.
const allocationWait = 10 * time.Second

// allocatedService reads a service back after a write, once the allocator
// loop has given it its addresses (so `service create` prints its VIP and
// inspect shows it at once), or as it is when ctx ends or allocationWait
// passes: the write itself succeeded either way. w watches the service
// table from before the write, so no allocation is missed.
func (s *Server) allocatedService(ctx context.Context, w *store.Watcher, id string) *api.Service {
	timer := time.NewTimer(allocationWait)
	defer timer.Stop()
	for {
		var out *api.Service
		done := false
		s.st.View(func(tx store.ReadTx) {
			out = tx.Service(id)
			done = out == nil || allocator.ServiceAllocated(tx, out)
		})
		if done {
			return out
		}
		select {
		case <-w.C:
			w.Drain()
		case <-timer.C:
			return out
		case <-ctx.Done():
			return out
		}
	}
}
