package service

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

type fakeImages struct {
	err   error
	asked []string
	auths []string
}

func (f *fakeImages) DistributionInspect(_ context.Context, r *minswv1.DistributionInspectRequest, _ ...grpc.CallOption) (*minswv1.DistributionInspectResponse, error) {
	f.asked = append(f.asked, r.GetImage())
	f.auths = append(f.auths, r.GetRegistryAuth())
	if f.err != nil {
		return nil, f.err
	}
	return &minswv1.DistributionInspectResponse{Digest: testDigest, Platforms: []*minswv1.Platform{{Os: "linux", Architecture: "amd64"}}}, nil
}

func TestPinImage(t *testing.T) {
	for _, tc := range []struct {
		name, image string
		noResolve   bool
		err         error
		want        string
		asks        bool
		warns       bool
	}{
		{"a tag is pinned to the registry's digest", "busybox:1.36", false, nil, "busybox:1.36@" + testDigest, true, false},
		{"no tag pins latest, as docker shows it", "busybox", false, nil, "busybox:latest@" + testDigest, true, false},
		{"a registry host and path are kept", "127.0.0.1:5000/team/app:v2", false, nil, "127.0.0.1:5000/team/app:v2@" + testDigest, true, false},
		{"--no-resolve-image keeps the tag and asks nothing", "busybox:1.36", true, nil, "busybox:1.36", false, false},
		{"a digest given by the user is kept", "busybox@" + testDigest, false, nil, "busybox@" + testDigest, false, false},
		{"an unreachable registry keeps the tag with docker's warning", "busybox", false, status.Error(codes.Unavailable, "registry unreachable"), "busybox", true, true},
		{"a daemon that does not look Hub names up keeps the tag silently", "busybox", false, status.Error(codes.Unimplemented, "no registry mirror"), "busybox", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeImages{err: tc.err}
			var errOut bytes.Buffer
			got, platforms := pinImage(context.Background(), &errOut, f, tc.image, "", tc.noResolve)
			if pinned := strings.Contains(got, "@") && !strings.Contains(tc.image, "@"); pinned != (len(platforms) == 1) {
				t.Errorf("platforms %v with image %q", platforms, got)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if (len(f.asked) > 0) != tc.asks {
				t.Errorf("asked the daemon %v, want asked=%v", f.asked, tc.asks)
			}
			if warned := strings.Contains(errOut.String(), "could not be accessed on a registry to record\nits digest"); warned != tc.warns {
				t.Errorf("warning %q, want warned=%v", errOut.String(), tc.warns)
			}
		})
	}
}

// --with-registry-auth: the lookup carries the user's login, as docker's
// X-Registry-Auth on GET /distribution.
func TestPinImageSendsTheLogin(t *testing.T) {
	f := &fakeImages{}
	var errOut bytes.Buffer
	if got, _ := pinImage(context.Background(), &errOut, f, "127.0.0.1:5000/app:v1", "eyJ1c2VybmFtZSI6InUifQ==", false); got != "127.0.0.1:5000/app:v1@"+testDigest {
		t.Fatalf("got %q", got)
	}
	if len(f.auths) != 1 || f.auths[0] != "eyJ1c2VybmFtZSI6InUifQ==" {
		t.Fatalf("the lookup carried %q", f.auths)
	}
}
