package containerd

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minsw/minsw/internal/ociimage"
	"github.com/minsw/minsw/internal/testenv"
	"github.com/minsw/minsw/worker/executor"
)

// TestPullWithRegistryAuth: a registry that wants a login refuses the
// plain pull and serves the one carrying the task's credentials
// (--with-registry-auth), which are sent to that registry only.
func TestPullWithRegistryAuth(t *testing.T) {
	ctx := testCtx(t)
	reg := testenv.RegistryHandler(testenv.RegistryOptions{})
	open := httptest.NewServer(reg)
	defer open.Close()
	var sawCreds atomic.Int32
	locked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "alice" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="minsw-test"`)
			http.Error(w, "login required", http.StatusUnauthorized)
			return
		}
		sawCreds.Add(1)
		reg.ServeHTTP(w, r)
	}))
	defer locked.Close()
	openHost := strings.TrimPrefix(open.URL, "http://")
	lockedHost := strings.TrimPrefix(locked.URL, "http://")
	spec, err := ociimage.Busybox(ctx, testenv.BusyboxBinary)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ociimage.BuildAndPush(ctx, openHost+"/private/box:1", spec); err != nil {
		t.Fatal(err)
	}
	e := newExecutor(t)
	image := lockedHost + "/private/box:1"
	if err := e.Pull(ctx, image); !errors.Is(err, executor.ErrImagePull) {
		t.Fatalf("pull without credentials: %v, want a pull error", err)
	}
	auth := func(user, pass, server string) string {
		b, _ := json.Marshal(map[string]string{"username": user, "password": pass, "serveraddress": server})
		return base64.URLEncoding.EncodeToString(b)
	}
	if err := e.PullWithAuth(ctx, image, auth("alice", "s3cret", "other.example")); err == nil {
		t.Fatal("credentials for another registry were sent")
	}
	if err := e.PullWithAuth(ctx, image, auth("alice", "s3cret", lockedHost)); err != nil {
		t.Fatalf("pull with credentials: %v", err)
	}
	if sawCreds.Load() == 0 {
		t.Error("the registry never saw the credentials")
	}
}
