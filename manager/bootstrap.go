package manager

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/manager/ca"
	"github.com/minsw/minsw/manager/jointoken"
	"github.com/minsw/minsw/manager/keymanager"
	"github.com/minsw/minsw/manager/membershipapi"
	"github.com/minsw/minsw/manager/orchestrator"
	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// InitCluster writes a new swarm's first objects: the cluster with its root
// CA (made by swarm init with ca.Bootstrap, which also issued this node's
// certificate), its join tokens and first gossip key, this node as leader
// and manager (with the availability swarm init gave it), and the ingress
// network. Called once, on the bootstrapped
// manager, after it leads.
func (m *Manager) InitCluster(ctx context.Context, desc *api.NodeDescription, nodeAddr string, root *ca.RootCA, availability api.NodeAvailability) (*api.Cluster, error) {
	for m.allocator() == nil {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	id, err := m.cfg.Credentials.Identity()
	if err != nil {
		return nil, err
	}
	if id.NodeID != m.cfg.NodeID || !id.IsManager() || !root.Cert.Equal(m.rootOf(id)) {
		return nil, fmt.Errorf("init: this manager's certificate is not a manager certificate from the new root")
	}
	rootKey, err := root.KeyDER()
	if err != nil {
		return nil, err
	}
	gossipKey, err := keymanager.NewKey()
	if err != nil {
		return nil, err
	}
	clusterID := id.ClusterID
	hb := m.cfg.Dispatcher.HeartbeatPeriod
	if hb <= 0 {
		hb = 5 * time.Second
	}
	c := &api.Cluster{
		Id:                    clusterID,
		Meta:                  &api.Meta{},
		RootCaCert:            root.Cert.Raw,
		RootCaKey:             rootKey,
		GossipKeys:            [][]byte{gossipKey},
		GossipKeysRotatedUnix: m.cfg.Clock().UnixNano(),
		Spec: &api.ClusterSpec{Name: "default", HeartbeatPeriod: durationpb.New(hb),
			TaskHistoryLimit: orchestrator.DefaultTaskHistoryLimit, CertExpiry: durationpb.New(90 * 24 * time.Hour)},
	}
	wt, err := jointoken.New(membershipapi.CABytes(c), nil)
	if err != nil {
		return nil, err
	}
	mt, err := jointoken.New(membershipapi.CABytes(c), nil)
	if err != nil {
		return nil, err
	}
	c.JoinTokens = &api.JoinTokens{Worker: wt.String(), Manager: mt.String()}
	host, _, _ := net.SplitHostPort(nodeAddr)
	_, leafPEM, _ := m.cfg.Credentials.PEM()
	leaf, _ := pem.Decode(leafPEM)
	err = m.st.Update(ctx, func(tx *store.Tx) error {
		if existing := tx.Cluster(); existing != nil {
			c = existing
			return nil
		}
		if err := tx.Create(c); err != nil {
			return err
		}
		return tx.Create(&api.Node{
			Id:            m.cfg.NodeID,
			Meta:          &api.Meta{},
			Spec:          &api.NodeSpec{DesiredRole: api.NodeRole_NODE_ROLE_MANAGER, Availability: availability},
			Description:   desc,
			Role:          api.NodeRole_NODE_ROLE_MANAGER,
			Status:        &api.NodeStatus{State: api.NodeState_NODE_STATE_UNKNOWN, Addr: host},
			ManagerStatus: &api.ManagerStatus{Addr: m.cfg.AdvertiseAddr},
			Certificate:   pem.EncodeToMemory(leaf),
		})
	})
	if err != nil {
		return nil, err
	}
	_, err = m.control.CreateNetwork(ctx, &api.CreateNetworkRequest{Spec: &api.NetworkSpec{
		Name: "ingress", Driver: "overlay", Ingress: true,
		Labels: map[string]string{"com.docker.swarm.internal": "true"},
	}})
	if err != nil && !errdefs.Is(err, errdefs.KindAlreadyExists) {
		return nil, err
	}
	return c, nil
}

// rootOf returns the root among the manager's trusted roots that signed its
// own certificate (nil if none did).
func (m *Manager) rootOf(ca.Identity) *x509.Certificate {
	leaf := m.cfg.Credentials.Leaf()
	_, _, rootsPEM := m.cfg.Credentials.PEM()
	roots, err := ca.ParseCertificates(rootsPEM)
	if err != nil || leaf == nil {
		return nil
	}
	for _, r := range roots {
		if leaf.CheckSignatureFrom(r) == nil {
			return r
		}
	}
	return nil
}
