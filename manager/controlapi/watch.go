package controlapi

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Watch streams the committed changes of nodes, services, networks,
// secrets and configs until the caller hangs up (docker's /events).
func (s *Server) Watch(_ *api.WatchRequest, stream api.Control_WatchServer) error {
	w := s.st.Watch(func(e store.Event) bool { return e.Table != store.TableTask && e.Table != store.TableCluster })
	defer w.Close()
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.C:
		}
		for _, e := range w.Drain() {
			ev := watchEvent(e, time.Now())
			if ev == nil {
				continue
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

var watchActions = map[store.EventKind]string{store.EventCreate: "create", store.EventUpdate: "update", store.EventDelete: "remove"}

// watchEvent is the API form of a store event; nil for what Watch does not
// send. A change's time is the object's update time, or now for a removal.
func watchEvent(e store.Event, now time.Time) *api.WatchEvent {
	action, ok := watchActions[e.Kind]
	if !ok || e.Object == nil {
		return nil
	}
	ev := &api.WatchEvent{Action: action, Time: timestamppb.New(now)}
	if t := e.Object.GetMeta().GetUpdatedAt(); t != nil && e.Kind != store.EventDelete {
		ev.Time = t
	}
	switch o := e.Object.(type) {
	case *api.Node:
		ev.Object = &api.WatchEvent_Node{Node: o}
	case *api.Service:
		ev.Object = &api.WatchEvent_Service{Service: o}
	case *api.Network:
		ev.Object = &api.WatchEvent_Network{Network: o}
	case *api.Secret:
		// A secret's data never leaves the store through the API.
		c := proto.Clone(o).(*api.Secret)
		if c.Spec != nil {
			c.Spec.Data = nil
		}
		ev.Object = &api.WatchEvent_Secret{Secret: c}
	case *api.Config:
		ev.Object = &api.WatchEvent_Config{Config: o}
	default:
		return nil
	}
	return ev
}
