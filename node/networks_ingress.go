package node

import (
	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/ingress"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// lbIngress is the API's view of the node's routing mesh: each published
// port with the mark ingress_sbox gives it (ingress mode) or the local
// task it goes to (host mode).
func lbIngress(in *netdriver.IngressInfo) *api.LBIngress {
	if in == nil {
		return nil
	}
	out := &api.LBIngress{SboxAddr: in.SboxAddr.String()}
	marks := map[ingress.Port]uint32{}
	for _, m := range in.Marks {
		marks[m.Port] = m.Mark
	}
	for _, p := range in.Published {
		lp := &api.LBPublishedPort{Protocol: ingress.ProtoName(p.Proto), Port: uint32(p.Port.Port), Fwmark: marks[p.Port]}
		if lp.Fwmark == 0 {
			lp.To = p.To.String()
		}
		out.Published = append(out.Published, lp)
	}
	return out
}
