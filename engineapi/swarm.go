package engineapi

import (
	"net/http"

	"github.com/docker/docker/api/types/swarm"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

func (s *Server) swarmInspect(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.Control.GetCluster(r.Context(), &api.GetClusterRequest{})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.Swarm(resp.GetCluster()))
}

// checkJoinOptions refuses what docker's init/join may ask that minsw
// does not do (a separate data path address), and reads the availability
// the node starts with.
func checkJoinOptions(dataPathAddr string, availability swarm.NodeAvailability) (api.NodeAvailability, error) {
	if dataPathAddr != "" {
		return 0, errdefs.Unimplemented("minsw does not support a separate data path address (DataPathAddr): VXLAN uses the advertise address")
	}
	return convert.Availability(availability)
}

func (s *Server) swarmInit(w http.ResponseWriter, r *http.Request) error {
	var req swarm.InitRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	availability, err := checkJoinOptions(req.DataPathAddr, req.Availability)
	if err != nil {
		return err
	}
	switch {
	case req.DataPathPort != 0 && req.DataPathPort != 4789:
		return errdefs.Unimplemented("minsw does not support a data path port other than 4789")
	case req.SubnetSize != 0 && req.SubnetSize != 24:
		return errdefs.Unimplemented("minsw does not support a subnet size other than 24")
	case len(req.DefaultAddrPool) > 1 || (len(req.DefaultAddrPool) == 1 && req.DefaultAddrPool[0] != "10.0.0.0/8"):
		return errdefs.Unimplemented("minsw does not support a default address pool other than 10.0.0.0/8")
	}
	// Check the spec before the swarm exists, so a refusal leaves none.
	if _, err := convert.ClusterSpecFrom(req.Spec, nil); err != nil {
		return err
	}
	resp, err := s.b.Swarm.Init(r.Context(), &api.InitRequest{
		AdvertiseAddr: req.AdvertiseAddr, ListenAddr: req.ListenAddr,
		ForceNewCluster: req.ForceNewCluster, Autolock: req.AutoLockManagers,
		Availability: availability,
	})
	if err != nil {
		return err
	}
	if err := s.applyInitSpec(r, req.Spec); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp.GetNodeId())
}

// applyInitSpec sets the cluster settings `docker swarm init` was given
// (--task-history-limit, --dispatcher-heartbeat, --cert-expiry).
func (s *Server) applyInitSpec(r *http.Request, spec swarm.Spec) error {
	if spec.Orchestration.TaskHistoryRetentionLimit == nil && spec.Dispatcher.HeartbeatPeriod == 0 && spec.CAConfig.NodeCertExpiry == 0 {
		return nil
	}
	cur, err := s.b.Control.GetCluster(r.Context(), &api.GetClusterRequest{})
	if err != nil {
		return err
	}
	spec.EncryptionConfig.AutoLockManagers = cur.GetCluster().GetSpec().GetAutolock()
	next, err := convert.ClusterSpecFrom(spec, cur.GetCluster().GetSpec())
	if err != nil {
		return err
	}
	_, err = s.b.Control.UpdateCluster(r.Context(), &api.UpdateClusterRequest{Version: cur.GetCluster().GetMeta().GetVersion(), Spec: next})
	return err
}

func (s *Server) swarmJoin(w http.ResponseWriter, r *http.Request) error {
	var req swarm.JoinRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	availability, err := checkJoinOptions(req.DataPathAddr, req.Availability)
	if err != nil {
		return err
	}
	if _, err := s.b.Swarm.Join(r.Context(), &api.JoinRequest{
		RemoteAddrs: req.RemoteAddrs, JoinToken: req.JoinToken,
		AdvertiseAddr: req.AdvertiseAddr, ListenAddr: req.ListenAddr,
		Availability: availability,
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) swarmLeave(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.b.Swarm.Leave(r.Context(), &api.LeaveRequest{Force: boolValue(r, "force")}); err != nil {
		// docker's own answer to leaving no swarm, not its manager-call one.
		if errdefs.Is(err, errdefs.KindFailedPrecondition) && message(err) == msgNoSwarm {
			return &statusError{status: http.StatusServiceUnavailable, msg: msgNoSwarm}
		}
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) swarmUpdate(w http.ResponseWriter, r *http.Request) error {
	version, err := uintValue(r, "version")
	if err != nil {
		return err
	}
	var spec swarm.Spec
	if err := decode(r, &spec); err != nil {
		return err
	}
	cur, err := s.b.Control.GetCluster(r.Context(), &api.GetClusterRequest{})
	if err != nil {
		return err
	}
	next, err := convert.ClusterSpecFrom(spec, cur.GetCluster().GetSpec())
	if err != nil {
		return err
	}
	if version != 0 && version != cur.GetCluster().GetMeta().GetVersion() {
		return errdefs.Conflict("update out of sequence")
	}
	if _, err := s.b.Control.UpdateCluster(r.Context(), &api.UpdateClusterRequest{
		Version:            cur.GetCluster().GetMeta().GetVersion(),
		Spec:               next,
		RotateWorkerToken:  boolValue(r, "rotateWorkerToken"),
		RotateManagerToken: boolValue(r, "rotateManagerToken"),
		RotateUnlockKey:    boolValue(r, "rotateManagerUnlockKey"),
	}); err != nil {
		return err
	}
	// `docker swarm ca --rotate` asks for a new root by bumping ForceRotate.
	if spec.CAConfig.ForceRotate != 0 {
		if _, err := s.b.Control.RotateRootCA(r.Context(), &api.RotateRootCARequest{}); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) swarmUnlock(w http.ResponseWriter, r *http.Request) error {
	var req swarm.UnlockRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if _, err := s.b.Swarm.Unlock(r.Context(), &api.UnlockRequest{UnlockKey: req.UnlockKey}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) swarmUnlockKey(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.Control.GetUnlockKey(r.Context(), &api.GetUnlockKeyRequest{})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, swarm.UnlockKeyResponse{UnlockKey: resp.GetUnlockKey()})
}
