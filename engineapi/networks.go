package engineapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/docker/docker/api/types/network"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), convert.NetworkFilterKeys...)
	if err != nil {
		return err
	}
	dangling, err := danglingFilter(args.Get("dangling"))
	if err != nil {
		return err
	}
	out := []network.Inspect{}
	add := func(n network.Inspect) {
		if convert.MatchNetwork(args, n.Name, n.ID, n.Driver, n.Scope, n.Labels) && (dangling == nil || convert.NetworkDangling(n) == *dangling) {
			out = append(out, n)
		}
	}
	// Swarm networks from the managers; a worker shows the ones it takes
	// part in, as docker does.
	resp, err := s.b.Control.ListNetworks(ctx, &api.ListNetworksRequest{})
	switch {
	case err == nil:
		for _, n := range resp.GetNetworks() {
			add(convert.Network(n))
		}
	case errdefs.Is(err, errdefs.KindFailedPrecondition):
	default:
		return err
	}
	if local, err := s.b.Networks.ListLocalNetworks(ctx, &api.ListLocalNetworksRequest{}); err == nil {
		for _, n := range local.GetNetworks() {
			add(convert.LocalNetwork(n))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ref := r.PathValue("id")
	resp, err := s.b.Control.GetNetwork(ctx, &api.GetNetworkRequest{Ref: ref})
	if err == nil {
		n := resp.GetNetwork()
		out := convert.Network(n)
		var self string
		if info, err := s.b.Swarm.Info(ctx, &api.InfoRequest{}); err == nil {
			self = info.GetNodeId()
		}
		nodes, err := s.b.Control.ListNodes(ctx, &api.ListNodesRequest{})
		if err != nil {
			return err
		}
		tasks, err := s.b.Control.ListTasks(ctx, &api.ListTasksRequest{NodeIds: []string{self}})
		if err != nil {
			return err
		}
		convert.NetworkEndpoints(&out, n, self, nodes.GetNodes(), tasks.GetTasks())
		return writeJSON(w, http.StatusOK, out)
	}
	if !errdefs.Is(err, errdefs.KindFailedPrecondition) {
		if errdefs.Is(err, errdefs.KindNotFound) {
			if n, ok := s.localNetwork(r, ref); ok {
				return writeJSON(w, http.StatusOK, n)
			}
		}
		return err
	}
	// A worker answers from its own view of the networks it takes part in.
	local, lerr := s.b.Networks.InspectLocalNetwork(ctx, &api.InspectLocalNetworkRequest{Ref: ref})
	if lerr != nil {
		if n, ok := s.localNetwork(r, ref); ok {
			return writeJSON(w, http.StatusOK, n)
		}
		if errdefs.Is(lerr, errdefs.KindNotFound) {
			return lerr
		}
		return err
	}
	out := convert.Network(local.GetNetwork())
	convert.NetworkEndpoints(&out, local.GetNetwork(), local.GetNode().GetId(), []*api.Node{local.GetNode()}, local.GetTasks())
	out.Peers = nil
	for _, p := range local.GetPeers() {
		out.Peers = append(out.Peers, network.PeerInfo{Name: p.GetName(), IP: p.GetAddr()})
	}
	return writeJSON(w, http.StatusOK, out)
}

// localNetwork finds one of the node's own networks by name or ID.
func (s *Server) localNetwork(r *http.Request, ref string) (network.Inspect, bool) {
	local, err := s.b.Networks.ListLocalNetworks(r.Context(), &api.ListLocalNetworksRequest{})
	if err != nil {
		return network.Inspect{}, false
	}
	for _, n := range local.GetNetworks() {
		if n.GetName() == ref || n.GetId() == ref {
			return convert.LocalNetwork(n), true
		}
	}
	return network.Inspect{}, false
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	spec, err := convert.NetworkSpecFrom(req)
	if err != nil {
		return err
	}
	resp, err := s.b.Control.CreateNetwork(r.Context(), &api.CreateNetworkRequest{Spec: spec})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, network.CreateResponse{ID: resp.GetNetwork().GetId()})
}

// networkDrainWait bounds how long a network removal waits for the tasks
// of removed services to stop.
const networkDrainWait = 60 * time.Second

// networkRemove removes a network. minsw refuses while a task still holds
// an address on it; docker's clients (`docker stack rm`) remove a stack's
// services and then at once its networks, so when no service uses the
// network any more the removal waits, bounded, for those tasks to stop.
func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), networkDrainWait)
	defer cancel()
	ref := r.PathValue("id")
	for {
		_, err := s.b.Control.RemoveNetwork(ctx, &api.RemoveNetworkRequest{Ref: ref})
		if err == nil {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if !errdefs.Is(err, errdefs.KindFailedPrecondition) || !strings.Contains(err.Error(), "in use by task") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// danglingFilter reads the dangling filter's value: nil when not given.
func danglingFilter(vals []string) (*bool, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	var d bool
	for _, v := range vals {
		switch v {
		case "1", "true":
			d = true
		case "0", "false":
		default:
			return nil, errdefs.InvalidArgument(`invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`)
		}
	}
	return &d, nil
}
