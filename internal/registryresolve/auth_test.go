package registryresolve

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/internal/testenv"
)

func TestLoginAndResolveWithCredentials(t *testing.T) {
	reg := httptest.NewServer(testenv.RegistryHandler(testenv.RegistryOptions{User: "alice", Password: "s3cret"}))
	defer reg.Close()
	host := reg.Listener.Addr().String()
	img, _ := random.Image(64, 1)
	ref, _ := name.ParseReference(host+"/app:v1", name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}
	r, _ := New(Config{})
	ctx := context.Background()
	good := Credentials{Username: "alice", Password: "s3cret", ServerAddress: host}
	for _, tc := range []struct {
		name  string
		creds *Credentials
		kind  errdefs.Kind
	}{
		{"the login for its registry", &good, errdefs.KindUnknown},
		{"a login naming no registry", &Credentials{Username: "alice", Password: "s3cret"}, errdefs.KindUnknown},
		{"no login", nil, errdefs.KindPermissionDenied},
		{"a login for another registry is not shown", &Credentials{Username: "alice", Password: "s3cret", ServerAddress: "other.example:5000"}, errdefs.KindPermissionDenied},
		{"a wrong password", &Credentials{Username: "alice", Password: "x", ServerAddress: host}, errdefs.KindPermissionDenied},
	} {
		t.Run("resolve with "+tc.name, func(t *testing.T) {
			_, _, err := r.Resolve(ctx, host+"/app:v1", tc.creds)
			if tc.kind == errdefs.KindUnknown && err != nil || tc.kind != errdefs.KindUnknown && !errdefs.Is(err, tc.kind) {
				t.Fatalf("err %v, want kind %d", err, tc.kind)
			}
		})
	}
	if err := r.Login(ctx, good); err != nil {
		t.Fatalf("login: %v", err)
	}
	if err := r.Login(ctx, Credentials{Username: "alice", Password: "x", ServerAddress: "http://" + host + "/"}); !errdefs.Is(err, errdefs.KindUnauthenticated) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := r.Login(ctx, Credentials{Username: "bob", Password: "pw", ServerAddress: "https://index.docker.io/v1/"}); !errdefs.Is(err, errdefs.KindUnimplemented) {
		t.Fatalf("Docker Hub: %v", err)
	}

	hdr := base64.URLEncoding.EncodeToString([]byte(`{"username":"alice","password":"s3cret","serveraddress":"` + host + `"}`))
	if c, err := ParseAuth(hdr); err != nil || *c != good {
		t.Fatalf("ParseAuth: %+v %v", c, err)
	}
	if c, err := ParseAuth(""); c != nil || err != nil {
		t.Fatalf("ParseAuth(\"\"): %+v %v", c, err)
	}
	if _, err := ParseAuth("!!!"); !errdefs.Is(err, errdefs.KindInvalidArgument) {
		t.Fatalf("ParseAuth(garbage): %v", err)
	}
}
