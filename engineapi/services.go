package engineapi

import (
	"net/http"

	"github.com/docker/docker/api/types/swarm"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func (s *Server) serviceList(w http.ResponseWriter, r *http.Request) error {
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), convert.ServiceFilterKeys...)
	if err != nil {
		return err
	}
	key := requestVersion(r) + "?" + r.URL.RawQuery
	req := &api.ListServicesRequest{}
	cached, ok := s.lists.get(key)
	if ok {
		req.UnlessStoreVersion = cached.version
	}
	resp, err := s.b.Control.ListServices(r.Context(), req)
	if err != nil {
		return err
	}
	if ok && resp.GetUnchanged() && resp.GetStoreVersion() == cached.version {
		return writeBody(w, http.StatusOK, cached.body)
	}
	version := resp.GetStoreVersion()
	var matched []*api.Service
	for _, svc := range resp.GetServices() {
		if convert.MatchService(args, svc) {
			matched = append(matched, svc)
		}
	}
	var status map[string]*swarm.ServiceStatus
	if boolValue(r, "status") && len(matched) > 0 {
		req := &api.ListTasksRequest{}
		if len(matched) < len(resp.GetServices()) {
			for _, svc := range matched {
				req.ServiceIds = append(req.ServiceIds, svc.GetId())
			}
		}
		tasks, err := s.b.Control.ListTasks(r.Context(), req)
		if err != nil {
			return err
		}
		if tasks.GetStoreVersion() != version {
			version = 0 // services and tasks of two states: keep neither
		}
		status = convert.ServiceStatuses(matched, tasks.GetTasks())
	}
	out := make([]swarm.Service, 0, len(matched))
	for _, svc := range matched {
		out = append(out, convert.Service(svc, status[svc.GetId()]))
	}
	body, err := encodeJSON(out)
	if err != nil {
		return err
	}
	s.lists.put(key, version, body)
	return writeBody(w, http.StatusOK, body)
}

func (s *Server) serviceInspect(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.Control.GetService(r.Context(), &api.GetServiceRequest{Ref: r.PathValue("id")})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.Service(resp.GetService(), nil))
}

func (s *Server) serviceCreate(w http.ResponseWriter, r *http.Request) error {
	var spec swarm.ServiceSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	ms, err := convert.ServiceSpecFrom(spec)
	if err != nil {
		return err
	}
	// --with-registry-auth: the credentials reach only the pulling node.
	ms.GetTask().GetContainer().RegistryAuth = r.Header.Get("X-Registry-Auth")
	// docker's answer is the ID alone: no need to wait for the VIPs.
	resp, err := s.b.Control.CreateService(r.Context(), &api.CreateServiceRequest{Spec: ms, CommittedOnly: true})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, swarm.ServiceCreateResponse{ID: resp.GetService().GetId()})
}

func (s *Server) serviceUpdate(w http.ResponseWriter, r *http.Request) error {
	version, err := uintValue(r, "version")
	if err != nil {
		return err
	}
	if version == 0 {
		return errdefs.InvalidArgument("invalid service version: the version query parameter is required")
	}
	var spec swarm.ServiceSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	req := &api.UpdateServiceRequest{Ref: r.PathValue("id"), Version: version}
	switch rb := r.URL.Query().Get("rollback"); rb {
	case "previous":
		req.Rollback = true
	case "":
		if req.Spec, err = convert.ServiceSpecFrom(spec); err != nil {
			return err
		}
		req.Spec.GetTask().GetContainer().RegistryAuth = r.Header.Get("X-Registry-Auth")
	default:
		return errdefs.InvalidArgument("unrecognized rollback option %s", rb)
	}
	if _, err := s.b.Control.UpdateService(r.Context(), req); err != nil {
		if errdefs.Is(err, errdefs.KindConflict) {
			// docker's words for a spec edited from a stale read.
			return errdefs.Conflict("update out of sequence")
		}
		return err
	}
	return writeJSON(w, http.StatusOK, swarm.ServiceUpdateResponse{})
}

func (s *Server) serviceRemove(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.b.Control.RemoveService(r.Context(), &api.RemoveServiceRequest{Ref: r.PathValue("id")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
