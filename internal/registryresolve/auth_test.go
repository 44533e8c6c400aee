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

// TestParseAuth: the one X-Registry-Auth decoder (the Engine API's lookups
// and the executor's pulls both use it) takes docker's base64url and plain
// base64, keeps the identity token and the registry named, and refuses a
// bad value in one line.
func TestParseAuth(t *testing.T) {
	b64 := func(enc *base64.Encoding, s string) string { return enc.EncodeToString([]byte(s)) }
	// "?>" makes base64url and plain base64 differ ('-'/'_' against '+'/'/').
	body := `{"username":"al?>ce","password":"p?>w","serveraddress":"https://reg.example:5000/v1/"}`
	for _, tc := range []struct {
		name, header string
		want         *Credentials
		err          string
	}{
		{"none", "", nil, ""},
		{"base64url", b64(base64.URLEncoding, body), &Credentials{Username: "al?>ce", Password: "p?>w", ServerAddress: "https://reg.example:5000/v1/"}, ""},
		{"plain base64", b64(base64.StdEncoding, body), &Credentials{Username: "al?>ce", Password: "p?>w", ServerAddress: "https://reg.example:5000/v1/"}, ""},
		{"identity token", b64(base64.URLEncoding, `{"identitytoken":"tok","serveraddress":"reg.example"}`), &Credentials{IdentityToken: "tok", ServerAddress: "reg.example"}, ""},
		{"empty object", b64(base64.URLEncoding, `{}`), nil, ""},
		{"not base64", "!!!", nil, "invalid registry credentials (X-Registry-Auth): not base64"},
		{"not JSON", b64(base64.URLEncoding, "user:pw"), nil, "invalid registry credentials (X-Registry-Auth): not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseAuth(tc.header)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errdefs.Is(err, errdefs.KindInvalidArgument) {
					t.Fatalf("err %v, want %q (invalid argument)", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (c == nil) != (tc.want == nil) || c != nil && *c != *tc.want {
				t.Fatalf("got %+v, want %+v", c, tc.want)
			}
		})
	}
}

// TestCredentialsFor: credentials go only to the registry they name (any
// Docker Hub host is Docker Hub), or anywhere when they name none.
func TestCredentialsFor(t *testing.T) {
	for _, tc := range []struct {
		server, host string
		want         bool
	}{
		{"", "reg.example", true},
		{"reg.example:5000", "reg.example:5000", true},
		{"https://reg.example:5000/v2/", "reg.example:5000", true},
		{"reg.example:5000", "other.example", false},
		{"https://index.docker.io/v1/", "registry-1.docker.io", true},
		{"https://index.docker.io/v1/", "auth.docker.io", true},
		{"docker.io", "reg.example", false},
	} {
		c := &Credentials{Username: "u", Password: "p", ServerAddress: tc.server}
		if got := c.For(tc.host); got != tc.want {
			t.Errorf("credentials for %q shown to %q: %v, want %v", tc.server, tc.host, got, tc.want)
		}
	}
	var none *Credentials
	if none.For("reg.example") || none.Key() != "" {
		t.Error("no credentials are for no registry")
	}
	a, b := &Credentials{Username: "u", Password: "p"}, &Credentials{Username: "u", Password: "q"}
	if a.Key() == b.Key() || a.Key() != (&Credentials{Username: "u", Password: "p", ServerAddress: "x"}).Key() {
		t.Errorf("keys: %s %s", a.Key(), b.Key())
	}
}
