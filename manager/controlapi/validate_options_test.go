package controlapi

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// TestBadServiceOptionsAreRefused: each bad docker service create option
// gets a one-line InvalidArgument in the user's words, and the store is
// left as it was.
func TestBadServiceOptionsAreRefused(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*api.ServiceSpec)
		msg    string
	}{
		{"unknown capability", func(s *api.ServiceSpec) { s.Task.Container.CapAdd = []string{"NET_WIZARD"} }, `unknown capability "NET_WIZARD"`},
		{"bad sysctl (not namespaced)", func(s *api.ServiceSpec) { s.Task.Container.Sysctls = map[string]string{"kernel.panic": "1"} }, `invalid sysctl "kernel.panic"`},
		{"bad sysctl name", func(s *api.ServiceSpec) { s.Task.Container.Sysctls = map[string]string{"net..x": "1"} }, "not a sysctl name"},
		{"unknown ulimit", func(s *api.ServiceSpec) { s.Task.Container.Ulimits = []*api.Ulimit{{Name: "files", Soft: 1, Hard: 1}} }, `unknown resource "files"`},
		{"oom-score-adj out of range", func(s *api.ServiceSpec) { s.Task.Container.OomScoreAdj = 2000 }, "between -1000 and 1000"},
		{"bad stop signal", func(s *api.ServiceSpec) { s.Task.Container.StopSignal = "SIGNOPE" }, "invalid stop-signal"},
		{"hostname template that doesn't parse", func(s *api.ServiceSpec) { s.Task.Container.Hostname = "{{.Service.Name" }, "invalid template in hostname"},
		{"hostname template naming an unknown field", func(s *api.ServiceSpec) { s.Task.Container.Hostname = "{{.Service.Nmae}}" }, "invalid template in hostname"},
		{"env template that doesn't parse", func(s *api.ServiceSpec) { s.Task.Container.Env = []string{"A={{.Task.Slot"} }, "invalid template in environment variable"},
		{"negative cpu limit", func(s *api.ServiceSpec) {
			s.Task.Resources = &api.ResourceRequirements{Limits: &api.Resources{NanoCpus: -1}}
		}, "invalid limit-cpu: must not be negative"},
		{"memory limit below 6MiB", func(s *api.ServiceSpec) {
			s.Task.Resources = &api.ResourceRequirements{Limits: &api.Resources{MemoryBytes: 1 << 20}}
		}, "minimum memory limit is 6MiB"},
		{"reservation larger than any node", func(s *api.ServiceSpec) {
			s.Task.Resources = &api.ResourceRequirements{Reservations: &api.Resources{NanoCpus: 100e9}}
		}, "reservation of 100 CPUs is larger than any node's (the largest has 4)"},
		{"memory reservation larger than any node", func(s *api.ServiceSpec) {
			s.Task.Resources = &api.ResourceRequirements{Reservations: &api.Resources{MemoryBytes: 64 << 30}}
		}, "reservation of 64GiB of memory is larger than any node's (the largest has 8GiB)"},
		{"unknown log driver", func(s *api.ServiceSpec) { s.Task.LogDriver = &api.LogDriver{Name: "syslog"} }, `log driver "syslog" is not supported`},
		{"bad log max-size", func(s *api.ServiceSpec) {
			s.Task.LogDriver = &api.LogDriver{Name: "json-file", Options: map[string]string{"max-size": "10XB"}}
		}, "invalid log-opt max-size=10XB"},
		{"bad log labels-regex", func(s *api.ServiceSpec) {
			s.Task.LogDriver = &api.LogDriver{Name: "json-file", Options: map[string]string{"labels-regex": "("}}
		}, "invalid log-opt labels-regex=(: not a regular expression"},
		{"unknown placement preference", func(s *api.ServiceSpec) {
			s.Task.Placement = &api.Placement{Preferences: []*api.PlacementPreference{{SpreadDescriptor: "zone"}}}
		}, "placement preference spread=zone"},
		{"max replicas per node on a global service", func(s *api.ServiceSpec) {
			s.Mode = &api.ServiceSpec_Global{Global: &api.GlobalService{}}
			s.Task.Placement = &api.Placement{MaxReplicas: 1}
		}, "replicas-max-per-node can only be used with replicated"},
		{"job with max-concurrent 0", func(s *api.ServiceSpec) {
			s.Mode = &api.ServiceSpec_ReplicatedJob{ReplicatedJob: &api.ReplicatedJob{TotalCompletions: 3}}
		}, "invalid max-concurrent 0"},
		{"dnsrr with an ingress port", func(s *api.ServiceSpec) {
			s.Endpoint = &api.EndpointSpec{Mode: api.EndpointMode_ENDPOINT_MODE_DNSRR, Ports: []*api.PortConfig{{TargetPort: 80, PublishedPort: 8080}}}
		}, "can't be used with dnsrr mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, st := newServer(t)
			setResources(t, st)
			before := st.Save()
			spec := webSpec("other")
			c.mutate(spec)
			_, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: spec})
			if edgeCode(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want InvalidArgument containing %q on one line", err, c.msg)
			}
			if !proto.Equal(before, st.Save()) {
				t.Fatal("a refused request changed the store")
			}
		})
	}
}

// setResources makes the test nodes report 4 CPUs and 8 GiB.
func setResources(t *testing.T, st *store.Store) {
	t.Helper()
	if err := st.Update(context.Background(), func(tx *store.Tx) error {
		for _, n := range tx.Nodes() {
			nn := proto.Clone(n).(*api.Node)
			nn.Description.Resources = &api.Resources{NanoCpus: 4e9, MemoryBytes: 8 << 30}
			if err := tx.Update(nn); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRegistryAuthIsNeverShown(t *testing.T) {
	s, _ := newServer(t)
	spec := webSpec("private")
	spec.Task.Container.RegistryAuth = "eyJ1c2VybmFtZSI6InUifQ=="
	resp, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetService().GetSpec().GetTask().GetContainer().GetRegistryAuth() != "" {
		t.Error("create answered with the credentials")
	}
	got, err := s.GetService(context.Background(), &api.GetServiceRequest{Ref: "private"})
	if err != nil || got.GetService().GetSpec().GetTask().GetContainer().GetRegistryAuth() != "" {
		t.Errorf("inspect shows the credentials (%v)", err)
	}
	// The store keeps them, for the node that pulls.
	var stored string
	s.st.View(func(tx store.ReadTx) {
		stored = tx.ServiceByName("private").GetSpec().GetTask().GetContainer().GetRegistryAuth()
	})
	if stored == "" {
		t.Error("the credentials were not kept for the pulling node")
	}
}

func TestJobModeCannotChange(t *testing.T) {
	s, _ := newServer(t)
	spec := webSpec("batch")
	spec.Mode = &api.ServiceSpec_ReplicatedJob{ReplicatedJob: &api.ReplicatedJob{TotalCompletions: 2, MaxConcurrent: 1}}
	created, err := s.CreateService(context.Background(), &api.CreateServiceRequest{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateService(context.Background(), &api.UpdateServiceRequest{Ref: "batch", Version: created.GetService().GetMeta().GetVersion(), Spec: webSpec("batch")})
	if edgeCode(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "mode change is not allowed") {
		t.Fatalf("replicated-job -> replicated: %v", err)
	}
}

// TestDNSRRServiceHasNoVIP: --endpoint-mode dnsrr gives no VIP (and so no
// lb entry; its name resolves to the task addresses), and switching a vip
// service to dnsrr gives its VIP back.
func TestDNSRRServiceHasNoVIP(t *testing.T) {
	s, _ := newServer(t)
	ctx := context.Background()
	spec := webSpec("rr")
	spec.Endpoint = &api.EndpointSpec{Mode: api.EndpointMode_ENDPOINT_MODE_DNSRR}
	created, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if vips := created.GetService().GetEndpoint().GetVirtualIps(); len(vips) != 0 {
		t.Errorf("dnsrr service got VIPs %v", vips)
	}
	web, err := s.GetService(ctx, &api.GetServiceRequest{Ref: "web"})
	if err != nil || len(web.GetService().GetEndpoint().GetVirtualIps()) != 1 {
		t.Fatalf("web: %v %v", web, err)
	}
	rr := proto.Clone(web.GetService().GetSpec()).(*api.ServiceSpec)
	rr.Endpoint = &api.EndpointSpec{Mode: api.EndpointMode_ENDPOINT_MODE_DNSRR}
	up, err := s.UpdateService(ctx, &api.UpdateServiceRequest{Ref: "web", Version: web.GetService().GetMeta().GetVersion(), Spec: rr})
	if err != nil {
		t.Fatal(err)
	}
	if vips := up.GetService().GetEndpoint().GetVirtualIps(); len(vips) != 0 {
		t.Errorf("web switched to dnsrr keeps VIPs %v", vips)
	}
}
