package engineapi

import (
	"net/http"

	"github.com/docker/docker/api/types/swarm"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func (s *Server) nodeList(w http.ResponseWriter, r *http.Request) error {
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), convert.NodeFilterKeys...)
	if err != nil {
		return err
	}
	resp, err := s.b.Control.ListNodes(r.Context(), &api.ListNodesRequest{})
	if err != nil {
		return err
	}
	root := s.rootCA(r)
	out := []swarm.Node{}
	for _, n := range resp.GetNodes() {
		if convert.MatchNode(args, n) {
			sn := convert.Node(n)
			convert.NodeTLSInfo(&sn, n, root)
			out = append(out, sn)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// rootCA is the cluster's root certificate (DER), nil if it cannot be
// read: nodes are then shown without their TLS info.
func (s *Server) rootCA(r *http.Request) []byte {
	resp, err := s.b.Control.GetCluster(r.Context(), &api.GetClusterRequest{})
	if err != nil {
		return nil
	}
	return resp.GetCluster().GetRootCaCert()
}

func (s *Server) nodeInspect(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.Control.GetNode(r.Context(), &api.GetNodeRequest{Ref: r.PathValue("id")})
	if err != nil {
		return err
	}
	sn := convert.Node(resp.GetNode())
	convert.NodeTLSInfo(&sn, resp.GetNode(), s.rootCA(r))
	return writeJSON(w, http.StatusOK, sn)
}

func (s *Server) nodeUpdate(w http.ResponseWriter, r *http.Request) error {
	version, err := uintValue(r, "version")
	if err != nil {
		return err
	}
	if version == 0 {
		return errdefs.InvalidArgument("invalid node version: the version query parameter is required")
	}
	var spec swarm.NodeSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	ns, err := convert.NodeSpec(spec)
	if err != nil {
		return err
	}
	if _, err := s.b.Control.UpdateNode(r.Context(), &api.UpdateNodeRequest{Ref: r.PathValue("id"), Version: version, Spec: ns}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) nodeRemove(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.b.Control.RemoveNode(r.Context(), &api.RemoveNodeRequest{Ref: r.PathValue("id"), Force: boolValue(r, "force")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
