package controlapi

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// CA is what the Control API needs of the certificate authority.
type CA interface {
	// RotateRootCA starts a root rotation and returns the cluster.
	RotateRootCA(ctx context.Context) (*api.Cluster, error)
}

// RotateRootCA starts a root rotation (swarm ca --rotate).
func (s *Server) RotateRootCA(ctx context.Context, _ *api.RotateRootCARequest) (*api.RotateRootCAResponse, error) {
	if s.ca == nil {
		return nil, errdefs.FailedPrecondition("this manager has no certificate authority")
	}
	c, err := s.ca.RotateRootCA(ctx)
	if err != nil {
		return nil, err
	}
	return &api.RotateRootCAResponse{Cluster: redactCluster(c)}, nil
}

// redactCluster drops the CA keys and the unlock key from a cluster object
// leaving the manager: every answer of this API that carries the cluster
// goes through it, so no wiring can leak them. (The unlock key has its own
// call, GetUnlockKey.)
func redactCluster(c *api.Cluster) *api.Cluster {
	if c == nil {
		return nil
	}
	nc := proto.Clone(c).(*api.Cluster)
	nc.RootCaKey, nc.UnlockKey = nil, ""
	if r := nc.GetRootRotation(); r != nil {
		r.CaKey = nil
	}
	return nc
}
