package controlapi

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"

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
	var all []*api.Service
	s.st.View(func(tx store.ReadTx) { all = tx.Services() })
	all = filterList(all, func(sv *api.Service) bool { return MatchService(sv, f) })
	out, next, err := listPage(all, func(s *api.Service) string { return s.GetSpec().GetName() }, r.GetPageSize(), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &api.ListServicesResponse{Services: redactServices(out), NextPageToken: next}, nil
}

// resolveNetworks replaces each attachment's target (name, ID or prefix)
// by the network's ID, refusing unknown networks and the ingress network.
func resolveNetworks(tx store.ReadTx, spec *api.ServiceSpec) error {
	seen := map[string]bool{}
	var out []*api.NetworkAttachmentConfig
	for _, a := range spec.GetTask().GetNetworks() {
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
	ea, done, err := s.endpointAllocation()
	if err != nil {
		return nil, err
	}
	defer done()
	var id string
	err = s.update(ctx, func(tx *store.Tx) error {
		ea.release() // a previous attempt lost a race: give back what it took
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
		if err := ea.allocate(tx.ReadTx, svc); err != nil {
			return err
		}
		id = svc.GetId()
		return tx.Create(svc)
	})
	if err != nil {
		ea.releaseUnlessCommitted(err)
		if prior := s.racedService(r, err); prior != nil {
			return &api.CreateServiceResponse{Service: prior}, nil
		}
		return nil, err
	}
	return &api.CreateServiceResponse{Service: redactService(s.storedService(id))}, nil
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
	ea, done, err := s.endpointAllocation()
	if err != nil {
		return nil, err
	}
	defer done()
	var id string
	var dropped []*api.VirtualIP
	err = s.update(ctx, func(tx *store.Tx) error {
		ea.release()
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
		if err := ea.allocate(tx.ReadTx, svc); err != nil {
			return err
		}
		dropped = allocator.DroppedVIPs(cur, svc)
		id = svc.GetId()
		return tx.Update(svc)
	})
	if err != nil {
		ea.releaseUnlessCommitted(err)
		return nil, err
	}
	ea.alloc.ReleaseVIPs(dropped)
	return &api.UpdateServiceResponse{Service: redactService(s.storedService(id))}, nil
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

// endpointAlloc gives a service its published ports, VIPs and marks inside a
// store write that may be re-run after losing a race: allocate first gives
// back what the previous run took, and release gives it back when the
// write did not land.
type endpointAlloc struct {
	alloc *allocator.Allocator
	undo  func()
}

// endpointAllocation returns the leader's allocator with port planning
// locked; call done when the write is over.
func (s *Server) endpointAllocation() (ea *endpointAlloc, done func(), err error) {
	alloc, err := s.allocator()
	if err != nil {
		return nil, nil, err
	}
	return &endpointAlloc{alloc: alloc}, alloc.LockPorts(), nil
}

func (e *endpointAlloc) allocate(tx store.ReadTx, svc *api.Service) error {
	e.release()
	if err := allocator.PlanPorts(tx, svc); err != nil {
		return err
	}
	undo, err := e.alloc.AllocateVIPs(tx, svc)
	if err != nil {
		return err
	}
	e.undo = undo
	return nil
}

// releaseUnlessCommitted gives back what the write took when it failed
// for certain. A write whose outcome is unknown (the caller's context ended,
// leadership was lost mid-commit) may still commit, and then the service
// holds these addresses: they stay taken. If it never commits they are
// lost only until the next leader rebuilds its pools from the store, which
// is the safe side (the store refuses a second holder anyway).
func (e *endpointAlloc) releaseUnlessCommitted(err error) {
	if mayHaveCommitted(err) {
		e.undo = nil
		return
	}
	e.release()
}

// mayHaveCommitted reports whether a failed write's entry may still be
// applied.
func mayHaveCommitted(err error) bool {
	return errdefs.Is(err, errdefs.KindOutcomeUnknown) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (e *endpointAlloc) release() {
	if e.undo != nil {
		e.undo()
		e.undo = nil
	}
}
