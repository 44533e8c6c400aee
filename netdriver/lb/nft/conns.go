package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/netdriver/lb"
	"github.com/minsw/minsw/netdriver/netns"
)

var _ lb.ConnCounter = (*Backend)(nil)

// Conns implements lb.ConnCounter from the namespace's conntrack table:
// nftables keeps no per-backend counters, but every connection the lb
// forwarded is a conntrack entry whose reply comes from the backend it was
// sent to (ipvsadm's ActiveConn and InActConn, counted the same way).
func (b *Backend) Conns() ([]lb.Conns, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil, errors.New("nft: backend closed")
	}
	svcs, err := b.readKernel()
	if err != nil {
		return nil, err
	}
	for i, s := range svcs {
		if c, ok := b.cur[s.Mark]; ok && c.VIP == s.VIP {
			svcs[i].Draining = c.Draining
		}
	}
	var entries []*netlink.ConntrackFlow
	err = netns.WithNsHandle(vnetns.NsHandle(b.nsFd), func(h *netlink.Handle) (err error) {
		entries, err = h.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
		return err
	}, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("nft: conntrack in %s: %w", b.nsPath, err)
	}
	flows := make([]flow, 0, len(entries))
	for _, e := range entries {
		f := flow{tcp: e.Forward.Protocol == unix.IPPROTO_TCP}
		f.origDst, _ = netip.AddrFromSlice(e.Forward.DstIP.To4())
		f.replySrc, _ = netip.AddrFromSlice(e.Reverse.SrcIP.To4())
		if p, ok := e.ProtoInfo.(*netlink.ProtoInfoTCP); ok {
			f.established = p.State == nl.TCP_CONNTRACK_ESTABLISHED
		}
		flows = append(flows, f)
	}
	return countConns(svcs, flows), nil
}

// flow is what the count needs of one conntrack entry.
type flow struct {
	origDst, replySrc netip.Addr
	tcp, established  bool
}

// countConns counts, for every backend of svcs (draining ones too), the flows that were
// destination-NATed to it (the reply comes from another address than the
// one the client sent to): TCP established ones as active, the others
// (opening, closing, TIME_WAIT, UDP) as inactive, as IPVS counts. A task's
// address is a backend of one service per lb namespace, so the backend
// alone says which service a flow went through, whether the client sent
// it to a VIP or (in ingress_sbox) to a published port.
func countConns(svcs []lb.Service, flows []flow) []lb.Conns {
	type counts struct{ active, inactive uint32 }
	byBackend := map[netip.Addr]*counts{}
	for _, s := range svcs {
		for _, be := range slices.Concat(s.Backends, s.Draining) {
			byBackend[be] = &counts{}
		}
	}
	for _, f := range flows {
		c := byBackend[f.replySrc]
		if c == nil || f.origDst == f.replySrc {
			continue
		}
		if f.tcp && f.established {
			c.active++
		} else {
			c.inactive++
		}
	}
	var out []lb.Conns
	for _, s := range svcs {
		for _, be := range slices.Concat(s.Backends, s.Draining) {
			c := byBackend[be]
			out = append(out, lb.Conns{Mark: s.Mark, Backend: be, Active: c.active, Inactive: c.inactive})
		}
	}
	return out
}
