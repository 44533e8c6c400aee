package lb

import "net/netip"

// Conns is how many connections one backend of a service holds, as
// ipvsadm counts them: Active are TCP connections established, Inactive
// every other one (opening, closing, in TIME_WAIT, and UDP flows).
type Conns struct {
	Mark     uint32
	Backend  netip.Addr
	Active   uint32
	Inactive uint32
}

// ConnCounter is a Backend that can count its connections per backend
// (`minsw lb inspect`'s ActiveConn and InActConn columns).
type ConnCounter interface {
	Conns() ([]Conns, error)
}
