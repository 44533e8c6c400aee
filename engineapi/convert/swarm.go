package convert

import (
	"time"

	"github.com/docker/docker/api/types/swarm"
	"google.golang.org/protobuf/types/known/durationpb"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Raft ticks as docker reports them: minsw's raft runs on hashicorp/raft
// timeouts, not ticks, so these only fill the fields docker's CLI prints.
// The log settings are the managers' (raftnode.DefaultConfig): a snapshot
// every 2,048 entries (and half a snapshot's bytes), 1,024 entries kept
// behind it for slow followers, and one older snapshot kept on disk.
const (
	electionTick               = 10
	heartbeatTick              = 1
	snapshotInterval           = 2048
	logEntriesForSlowFollowers = 1024
	keepOldSnapshots           = 1
)

// raftConfig is the managers' raft settings in docker's terms.
func raftConfig() swarm.RaftConfig {
	keep := uint64(keepOldSnapshots)
	return swarm.RaftConfig{ElectionTick: electionTick, HeartbeatTick: heartbeatTick, SnapshotInterval: snapshotInterval,
		LogEntriesForSlowFollowers: logEntriesForSlowFollowers, KeepOldSnapshots: &keep}
}

// raftChanged names the raft setting r changes from raftConfig's, if any
// (zero fields are unset: docker sends what it showed, or nothing).
func raftChanged(r swarm.RaftConfig) string {
	cur := raftConfig()
	switch {
	case r.SnapshotInterval != 0 && r.SnapshotInterval != cur.SnapshotInterval:
		return "Raft.SnapshotInterval"
	case r.LogEntriesForSlowFollowers != 0 && r.LogEntriesForSlowFollowers != cur.LogEntriesForSlowFollowers:
		return "Raft.LogEntriesForSlowFollowers"
	case r.KeepOldSnapshots != nil && *r.KeepOldSnapshots != *cur.KeepOldSnapshots:
		return "Raft.KeepOldSnapshots"
	case r.ElectionTick != 0 && r.ElectionTick != cur.ElectionTick:
		return "Raft.ElectionTick"
	case r.HeartbeatTick != 0 && r.HeartbeatTick != cur.HeartbeatTick:
		return "Raft.HeartbeatTick"
	}
	return ""
}

// Swarm is the cluster object as `GET /swarm` answers it.
func Swarm(c *api.Cluster) swarm.Swarm {
	s := c.GetSpec()
	limit := s.GetTaskHistoryLimit()
	out := swarm.Swarm{
		ClusterInfo: swarm.ClusterInfo{
			ID:   c.GetId(),
			Meta: meta(c.GetMeta()),
			Spec: swarm.Spec{
				Annotations:      swarm.Annotations{Name: s.GetName(), Labels: map[string]string{}},
				Orchestration:    swarm.OrchestrationConfig{TaskHistoryRetentionLimit: &limit},
				Raft:             raftConfig(),
				Dispatcher:       swarm.DispatcherConfig{HeartbeatPeriod: s.GetHeartbeatPeriod().AsDuration()},
				CAConfig:         swarm.CAConfig{NodeCertExpiry: s.GetCertExpiry().AsDuration()},
				EncryptionConfig: swarm.EncryptionConfig{AutoLockManagers: s.GetAutolock()},
			},
			RootRotationInProgress: c.GetRootRotation() != nil,
			DefaultAddrPool:        []string{"10.0.0.0/8"},
			SubnetSize:             24,
			DataPathPort:           4789,
		},
		JoinTokens: swarm.JoinTokens{Worker: c.GetJoinTokens().GetWorker(), Manager: c.GetJoinTokens().GetManager()},
	}
	out.TLSInfo = rootTLSInfo(c.GetRootCaCert())
	return out
}

// ClusterSpecFrom is the minsw cluster spec for a `POST /swarm/update`
// body; cur is the spec it replaces (fields docker sends back unchanged
// but minsw has no knob for are accepted as they were shown).
func ClusterSpecFrom(s swarm.Spec, cur *api.ClusterSpec) (*api.ClusterSpec, error) {
	switch {
	case len(s.CAConfig.ExternalCAs) > 0:
		return nil, unsupported("CAConfig.ExternalCAs", "external CAs")
	case s.CAConfig.SigningCACert != "" || s.CAConfig.SigningCAKey != "":
		return nil, unsupported("CAConfig.SigningCACert", "a root CA given by the user")
	case s.TaskDefaults.LogDriver != nil && s.TaskDefaults.LogDriver.Name != "":
		return nil, unsupported("TaskDefaults.LogDriver", "log drivers")
	case len(s.Labels) > 0:
		return nil, unsupported("Labels", "swarm labels")
	case raftChanged(s.Raft) != "":
		return nil, unsupported(raftChanged(s.Raft), "changing the managers' raft settings (they are the daemon's)")
	}
	out := &api.ClusterSpec{
		Name:             s.Name,
		HeartbeatPeriod:  cur.GetHeartbeatPeriod(),
		TaskHistoryLimit: cur.GetTaskHistoryLimit(),
		CertExpiry:       cur.GetCertExpiry(),
		Autolock:         s.EncryptionConfig.AutoLockManagers,
	}
	if out.Name == "" {
		out.Name = cur.GetName()
	}
	if l := s.Orchestration.TaskHistoryRetentionLimit; l != nil {
		out.TaskHistoryLimit = *l
	}
	if d := s.Dispatcher.HeartbeatPeriod; d != 0 {
		out.HeartbeatPeriod = durationpb.New(d)
	}
	if d := s.CAConfig.NodeCertExpiry; d != 0 {
		if d < time.Hour {
			return nil, invalid("minimum certificate expiry time is 1h0m0s")
		}
		out.CertExpiry = durationpb.New(d)
	}
	return out, nil
}

// LocalNodeState is docker's word for the node's state in the swarm, from
// minsw's Swarm.Info answer.
func LocalNodeState(info *api.InfoResponse) swarm.LocalNodeState {
	switch info.GetLocalNodeState() {
	case "active":
		return swarm.LocalNodeStateActive
	case "pending":
		return swarm.LocalNodeStatePending
	case "locked":
		return swarm.LocalNodeStateLocked
	case "error":
		return swarm.LocalNodeStateError
	}
	return swarm.LocalNodeStateInactive
}

// Info is the Swarm section of `GET /info`; cluster may be nil (workers,
// or a manager that could not read it).
func Info(info *api.InfoResponse, cluster *api.Cluster) swarm.Info {
	out := swarm.Info{
		NodeID:           info.GetNodeId(),
		NodeAddr:         info.GetNodeAddr(),
		LocalNodeState:   LocalNodeState(info),
		ControlAvailable: info.GetControlAvailable(),
		Error:            info.GetError(),
		Nodes:            int(info.GetNodes()),
		Managers:         int(info.GetManagerCount()),
	}
	for _, m := range info.GetManagers() {
		out.RemoteManagers = append(out.RemoteManagers, swarm.Peer{Addr: m})
	}
	if cluster != nil {
		ci := Swarm(cluster).ClusterInfo
		out.Cluster = &ci
	}
	return out
}
