package engineapi

import (
	"context"
	"net/http"

	"github.com/docker/docker/api/types/swarm"

	"github.com/minsw/minsw/engineapi/convert"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// networksByID is every swarm network, for the network objects docker
// nests in task attachments.
func (s *Server) networksByID(ctx context.Context) map[string]*api.Network {
	out := map[string]*api.Network{}
	resp, err := s.b.Control.ListNetworks(ctx, &api.ListNetworksRequest{})
	if err != nil {
		return out
	}
	for _, n := range resp.GetNetworks() {
		out[n.GetId()] = n
	}
	return out
}

func (s *Server) taskList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), convert.TaskFilterKeys...)
	if err != nil {
		return err
	}
	req := &api.ListTasksRequest{}
	services := map[string]*api.Service{}
	var serviceIDs, nodeIDs map[string]bool
	if refs := args.Get("service"); len(refs) > 0 {
		serviceIDs = map[string]bool{}
		for _, ref := range refs {
			resp, err := s.b.Control.GetService(ctx, &api.GetServiceRequest{Ref: ref})
			if err != nil {
				return err
			}
			svc := resp.GetService()
			services[svc.GetId()] = svc
			serviceIDs[svc.GetId()] = true
			req.ServiceIds = append(req.ServiceIds, svc.GetId())
		}
	} else {
		resp, err := s.b.Control.ListServices(ctx, &api.ListServicesRequest{})
		if err != nil {
			return err
		}
		for _, svc := range resp.GetServices() {
			services[svc.GetId()] = svc
		}
	}
	if refs := args.Get("node"); len(refs) > 0 {
		nodeIDs = map[string]bool{}
		for _, ref := range refs {
			resp, err := s.b.Control.GetNode(ctx, &api.GetNodeRequest{Ref: ref})
			if err != nil {
				return err
			}
			nodeIDs[resp.GetNode().GetId()] = true
			req.NodeIds = append(req.NodeIds, resp.GetNode().GetId())
		}
	}
	resp, err := s.b.Control.ListTasks(ctx, req)
	if err != nil {
		return err
	}
	networks := s.networksByID(ctx)
	out := []swarm.Task{}
	for _, t := range resp.GetTasks() {
		if svc := services[t.GetServiceId()]; convert.MatchTask(args, t, svc, serviceIDs, nodeIDs) {
			dt := convert.Task(t, networks)
			convert.SetJobIteration(&dt, t, svc)
			out = append(out, dt)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) taskInspect(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.Control.GetTask(r.Context(), &api.GetTaskRequest{Ref: r.PathValue("id")})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.Task(resp.GetTask(), s.networksByID(r.Context())))
}
