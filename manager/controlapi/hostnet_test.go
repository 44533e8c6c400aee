package controlapi

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// `service create --network host`: the spec keeps the target host, the
// service gets no VIP, and what host networking cannot give is refused
// with the reason.
func TestServiceOnHostNetwork(t *testing.T) {
	s, _ := newServer(t)
	ctx := context.Background()
	spec := webSpec("hostweb")
	spec.Task.Networks = []*api.NetworkAttachmentConfig{{Target: "host"}}
	if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	r, err := s.GetService(ctx, &api.GetServiceRequest{Ref: "hostweb"})
	if err != nil {
		t.Fatal(err)
	}
	if n := r.GetService().GetSpec().GetTask().GetNetworks(); len(n) != 1 || n[0].GetTarget() != api.HostNetwork {
		t.Errorf("networks %v, want host", n)
	}
	if v := r.GetService().GetEndpoint().GetVirtualIps(); len(v) != 0 {
		t.Errorf("VIPs %v on the host network", v)
	}

	for _, tc := range []struct {
		name   string
		mutate func(*api.ServiceSpec)
		code   codes.Code
		want   string
	}{
		{"host with an overlay", func(sp *api.ServiceSpec) {
			sp.Task.Networks = []*api.NetworkAttachmentConfig{{Target: "host"}, {Target: "mynet"}}
		}, codes.InvalidArgument, "network host cannot be combined with other networks"},
		{"host publishing a port", func(sp *api.ServiceSpec) {
			sp.Task.Networks = []*api.NetworkAttachmentConfig{{Target: "host"}}
			sp.Endpoint = &api.EndpointSpec{Ports: []*api.PortConfig{{TargetPort: 80, PublishedPort: 8080}}}
		}, codes.InvalidArgument, "remove --publish 8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := webSpec("bad")
			tc.mutate(sp)
			_, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: sp})
			if edgeCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %v %q", err, tc.code, tc.want)
			}
			if _, err := s.GetService(ctx, &api.GetServiceRequest{Ref: "bad"}); edgeCode(err) != codes.NotFound {
				t.Fatalf("refused service stored: %v", err)
			}
		})
	}
	for _, name := range []string{"host", "none"} {
		_, err := s.CreateNetwork(ctx, &api.CreateNetworkRequest{Spec: &api.NetworkSpec{Name: name, Driver: "overlay"}})
		if edgeCode(err) != codes.AlreadyExists {
			t.Errorf("network create %s: %v", name, err)
		}
	}
}
