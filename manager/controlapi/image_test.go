package controlapi

import (
	"context"
	"testing"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// The image is normalised once, when stored, so service ls, service ps,
// container ls and inspect all show the same reference.
func TestImageIsNormalisedOnce(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"containous/whoami", "containous/whoami:latest"},
		{"containous/whoami:v2", "containous/whoami:v2"},
		{"busybox", "busybox:latest"},
		{"registry.lab:5000/net-box", "registry.lab:5000/net-box:latest"},
		{"registry.lab:5000/net-box:1.0", "registry.lab:5000/net-box:1.0"},
		{"containous/whoami@sha256:0123456789012345678901234567890123456789012345678901234567890123", "containous/whoami@sha256:0123456789012345678901234567890123456789012345678901234567890123"},
	} {
		if got := NormaliseImage(tc.in); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.in, got, tc.want)
		}
	}
	s, _ := newServer(t) // creates web from "containous/whoami"
	r, err := s.GetService(context.Background(), &api.GetServiceRequest{Ref: "web"})
	if err != nil || r.Service.Spec.Task.Container.Image != "containous/whoami:latest" {
		t.Fatalf("stored image: %v %v", r.GetService().GetSpec().GetTask().GetContainer().GetImage(), err)
	}
}
