package dns

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"sync/atomic"

	mdns "github.com/miekg/dns"
)

// verdict is what the transport does with a query after the handler saw it.
type verdict uint8

const (
	vDrop    verdict = iota // send nothing
	vReply                  // send the returned bytes
	vForward                // relay the query to an upstream resolver
)

const (
	headerLen = 12
	// maxUDPAnswer is the largest UDP answer we send to an EDNS client. The
	// path is loopback inside the container, so fragmentation is no concern;
	// 4096 is the common ceiling resolvers advertise.
	maxUDPAnswer = 4096
	// maxQuery bounds what we accept as a query on either transport. A
	// question plus EDNS options fits in a few hundred bytes; anything near
	// this is garbage or an attack and is dropped.
	maxQuery = 4096
)

// handler decides the answer to one query. It does no I/O, so the fuzz target
// and the table tests drive it directly.
type handler struct {
	records    Resolver
	ttl        uint32
	canForward bool
	rr         atomic.Uint32 // rotates multi-address answers (poor man's DNS round robin)
}

// handle answers query q from a container in scope. buf is scratch space the
// answer may be packed into. udp selects the size limit (and truncation).
func (h *handler) handle(q []byte, scope Scope, udp bool, buf []byte) ([]byte, verdict) {
	if len(q) < headerLen || len(q) > maxQuery {
		return nil, vDrop
	}
	flags := binary.BigEndian.Uint16(q[2:4])
	if flags&(1<<15) != 0 { // QR: a response, never answer it (no loops)
		return nil, vDrop
	}
	var req mdns.Msg
	if err := req.Unpack(q); err != nil {
		return headerReply(q, mdns.RcodeFormatError, buf), vReply
	}
	if req.Opcode != mdns.OpcodeQuery {
		return h.pack(new(mdns.Msg).SetRcode(&req, mdns.RcodeNotImplemented), &req, udp, buf)
	}
	if len(req.Question) != 1 {
		return h.pack(new(mdns.Msg).SetRcode(&req, mdns.RcodeFormatError), &req, udp, buf)
	}
	qq := req.Question[0]
	if qq.Qclass != mdns.ClassINET {
		return h.pack(new(mdns.Msg).SetRcode(&req, mdns.RcodeRefused), &req, udp, buf)
	}
	name := canonical(qq.Name)
	fwd := h.canForward || len(scope.Upstreams) > 0

	if qq.Qtype == mdns.TypePTR {
		if addr, ok := ptrAddr(name); ok {
			if names := h.records.LookupAddr(addr, scope); len(names) > 0 {
				resp := h.reply(&req, fwd)
				for _, n := range names {
					resp.Answer = append(resp.Answer, &mdns.PTR{
						Hdr: mdns.RR_Header{Name: qq.Name, Rrtype: mdns.TypePTR, Class: mdns.ClassINET, Ttl: h.ttl},
						Ptr: mdns.Fqdn(n),
					})
				}
				return h.pack(resp, &req, udp, buf)
			}
		}
		return h.elsewhere(&req, name, udp, buf, fwd)
	}

	addrs, known := h.records.LookupHost(name, scope)
	switch {
	case len(addrs) > 0:
		resp := h.reply(&req, fwd)
		if qq.Qtype == mdns.TypeA || qq.Qtype == mdns.TypeANY {
			start := 0
			if len(addrs) > 1 {
				start = int(h.rr.Add(1) % uint32(len(addrs)))
			}
			resp.Answer = make([]mdns.RR, 0, len(addrs))
			for i := range addrs {
				a := addrs[(start+i)%len(addrs)]
				resp.Answer = append(resp.Answer, &mdns.A{
					Hdr: mdns.RR_Header{Name: qq.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: h.ttl},
					A:   a.AsSlice(),
				})
			}
		}
		// Other types (AAAA above all, which stub resolvers ask in parallel
		// with A) get NOERROR with no records: the name exists, IPv4 only.
		return h.pack(resp, &req, udp, buf)
	case known:
		// A swarm name, but on none of this container's networks.
		return h.pack(h.reply(&req, fwd).SetRcode(&req, mdns.RcodeNameError), &req, udp, buf)
	}
	return h.elsewhere(&req, name, udp, buf, fwd)
}

// elsewhere handles a name the swarm does not hold: names shaped like swarm
// names get NXDOMAIN at once, the rest go to the upstream resolvers (fwd
// says whether the container has any).
func (h *handler) elsewhere(req *mdns.Msg, name string, udp bool, buf []byte, fwd bool) ([]byte, verdict) {
	if swarmShaped(name) {
		return h.pack(h.reply(req, fwd).SetRcode(req, mdns.RcodeNameError), req, udp, buf)
	}
	if !fwd {
		return h.pack(h.reply(req, fwd).SetRcode(req, mdns.RcodeServerFailure), req, udp, buf)
	}
	return nil, vForward
}

// swarmShaped reports whether name looks like a swarm name (a single label,
// or tasks.<label>) so it must not leak to resolvers outside the swarm.
// Dotted names that the swarm does not hold are assumed to be outside names.
func swarmShaped(name string) bool {
	if name == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(name, "tasks."); ok {
		return !strings.Contains(rest, ".")
	}
	return !strings.Contains(name, ".")
}

func (h *handler) reply(req *mdns.Msg, fwd bool) *mdns.Msg {
	resp := new(mdns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = fwd
	return resp
}

// pack encodes resp, echoing EDNS when the client used it and truncating to
// what the client can take over UDP.
func (h *handler) pack(resp, req *mdns.Msg, udp bool, buf []byte) ([]byte, verdict) {
	size := mdns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = min(max(int(opt.UDPSize()), mdns.MinMsgSize), maxUDPAnswer)
		resp.SetEdns0(maxUDPAnswer, false)
	}
	if udp {
		resp.Truncate(size)
	}
	out, err := resp.PackBuffer(buf)
	if err != nil {
		return headerReply(mustHeader(req, buf), mdns.RcodeServerFailure, buf), vReply
	}
	return out, vReply
}

// headerReply builds a question-less answer from the 12-byte header of q,
// for queries too broken to parse.
func headerReply(q []byte, rcode int, buf []byte) []byte {
	out := append(buf[:0], q[:headerLen]...)
	flags := binary.BigEndian.Uint16(q[2:4])
	// keep opcode and RD, set QR and RA off, AA off, TC off, rcode.
	flags = flags&(0xF<<11|1<<8) | 1<<15 | uint16(rcode&0xF)
	binary.BigEndian.PutUint16(out[2:4], flags)
	clear(out[4:headerLen]) // no sections
	return out
}

func mustHeader(req *mdns.Msg, buf []byte) []byte {
	var h [headerLen]byte
	binary.BigEndian.PutUint16(h[0:2], req.Id)
	flags := uint16(req.Opcode&0xF) << 11
	if req.RecursionDesired {
		flags |= 1 << 8
	}
	binary.BigEndian.PutUint16(h[2:4], flags)
	return h[:]
}

// ptrAddr turns d.c.b.a.in-addr.arpa into a.b.c.d.
func ptrAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i := 3; i >= 0; i-- {
		label := rest
		if i > 0 {
			var found bool
			label, rest, found = strings.Cut(rest, ".")
			if !found {
				return netip.Addr{}, false
			}
		}
		if len(label) == 0 || len(label) > 3 {
			return netip.Addr{}, false
		}
		v := 0
		for _, c := range []byte(label) {
			if c < '0' || c > '9' {
				return netip.Addr{}, false
			}
			v = v*10 + int(c-'0')
		}
		if v > 255 {
			return netip.Addr{}, false
		}
		b[i] = byte(v)
	}
	return netip.AddrFrom4(b), true
}
