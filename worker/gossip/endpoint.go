package gossip

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
)

// Endpoint is what the netdriver needs to know of one container on one
// overlay network: where it is (VTEP), how to reach it (IP, MAC) and which
// service it backs (for DNS and the lb).
//
// It is stored as JSON: the value is small (about 300 bytes, well within a
// gossip packet), fields can be added without breaking older nodes (unknown
// ones are ignored), and a dump of the table reads as text. The hot, hostile
// path — the gossip envelope — has its own bounded binary format.
type Endpoint struct {
	NetworkID   string
	ContainerID string
	TaskID      string
	Name        string // task or container name, e.g. web.1.<taskid>
	ServiceID   string
	ServiceName string
	IP          netip.Addr
	MAC         net.HardwareAddr
	VTEP        netip.Addr // underlay address of the node the container runs on
	VIP         netip.Addr // service VIP on this network; invalid for dnsrr or no service
	// Mark is the firewall mark the lb namespaces give VIP, so every node
	// programs the same service from the table alone.
	Mark uint32
	// IngressPorts are the service's ports published through the routing
	// mesh, carried on its tasks' ingress endpoints so that every node,
	// with or without a task, maps them to Mark in its ingress_sbox.
	IngressPorts []IngressPort
	// Aliases are the service's other names on this network (the task's
	// network attachment aliases): they resolve as the service name does.
	Aliases []string
	// Draining is set on a task told to stop: every lb keeps its
	// established connections but gives it no new one, and DNS no longer
	// names it, until the entry goes when its container has stopped.
	Draining bool
	// Withdrawn, on a node's lb endpoint, lists the draining task keys
	// whose withdrawal that node's lb and DNS have applied: the stopping
	// task's node waits for every lb's word before the stop signal.
	Withdrawn []string
}

// IngressPort is one port published through the routing mesh.
type IngressPort struct {
	Protocol  string `json:"proto"` // "tcp" or "udp"
	Published uint16 `json:"published"`
	Target    uint16 `json:"target"`
}

// Key is the table key of ep: the task ID, or the container ID for a
// container that is not a task.
func (ep Endpoint) Key() string {
	if ep.TaskID != "" {
		return ep.TaskID
	}
	return ep.ContainerID
}

type endpointJSON struct {
	NetworkID   string        `json:"network"`
	ContainerID string        `json:"container,omitempty"`
	TaskID      string        `json:"task,omitempty"`
	Name        string        `json:"name,omitempty"`
	ServiceID   string        `json:"service_id,omitempty"`
	ServiceName string        `json:"service,omitempty"`
	IP          netip.Addr    `json:"ip"`
	MAC         string        `json:"mac,omitempty"`
	VTEP        netip.Addr    `json:"vtep"`
	VIP         netip.Addr    `json:"vip,omitzero"`
	Mark        uint32        `json:"mark,omitempty"`
	Ingress     []IngressPort `json:"ingress_ports,omitempty"`
	Aliases     []string      `json:"aliases,omitempty"`
	Draining    bool          `json:"draining,omitempty"`
	Withdrawn   []string      `json:"withdrawn,omitempty"`
}

// MarshalEndpoint encodes ep as a table value.
func MarshalEndpoint(ep Endpoint) ([]byte, error) {
	if ep.NetworkID == "" || ep.Key() == "" || !ep.IP.IsValid() {
		return nil, fmt.Errorf("gossip: endpoint: %w: needs a network, a task or container ID and an IP", ErrInvalid)
	}
	j := endpointJSON{
		NetworkID: ep.NetworkID, ContainerID: ep.ContainerID, TaskID: ep.TaskID, Name: ep.Name,
		ServiceID: ep.ServiceID, ServiceName: ep.ServiceName, IP: ep.IP, VTEP: ep.VTEP, VIP: ep.VIP, Mark: ep.Mark,
		Ingress: ep.IngressPorts, Aliases: ep.Aliases, Draining: ep.Draining, Withdrawn: ep.Withdrawn,
	}
	if len(ep.MAC) > 0 {
		j.MAC = ep.MAC.String()
	}
	return json.Marshal(j)
}

// UnmarshalEndpoint decodes a table value written by MarshalEndpoint.
func UnmarshalEndpoint(b []byte) (Endpoint, error) {
	var j endpointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Endpoint{}, fmt.Errorf("gossip: endpoint: %w", err)
	}
	ep := Endpoint{
		NetworkID: j.NetworkID, ContainerID: j.ContainerID, TaskID: j.TaskID, Name: j.Name,
		ServiceID: j.ServiceID, ServiceName: j.ServiceName, IP: j.IP, VTEP: j.VTEP, VIP: j.VIP, Mark: j.Mark,
		IngressPorts: j.Ingress, Aliases: j.Aliases, Draining: j.Draining, Withdrawn: j.Withdrawn,
	}
	if j.MAC != "" {
		mac, err := net.ParseMAC(j.MAC)
		if err != nil {
			return Endpoint{}, fmt.Errorf("gossip: endpoint mac: %w", err)
		}
		ep.MAC = mac
	}
	return ep, nil
}

// PutEndpoint publishes ep in its network's table under ep.Key().
func (d *DB) PutEndpoint(ep Endpoint) error {
	b, err := MarshalEndpoint(ep)
	if err != nil {
		return err
	}
	return d.PutEntry(ep.NetworkID, ep.Key(), b)
}

// Endpoints decodes network's live entries; entries that are not endpoints
// are skipped.
func (d *DB) Endpoints(network string) []Endpoint {
	var out []Endpoint
	for _, e := range d.Entries(network) {
		if ep, err := UnmarshalEndpoint(e.Value); err == nil {
			out = append(out, ep)
		}
	}
	return out
}
