package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/ociimage"
)

// BusyboxBinary is where Debian's busybox-static puts its binary.
const BusyboxBinary = "/bin/busybox"

// PushBusybox builds the busybox test image from the host's static busybox
// and pushes it to reg as repo:tag (e.g. "library/busybox:latest", which a
// daemon using reg as its registry mirror knows as plain "busybox"). It
// returns the full reference "127.0.0.1:PORT/repo:tag".
func PushBusybox(t testing.TB, reg *Registry, repoTag string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec, err := ociimage.Busybox(ctx, BusyboxBinary)
	if err != nil {
		t.Fatalf("busybox image (apt-get install busybox-static): %v", err)
	}
	ref := reg.Host + "/" + repoTag
	if _, err := ociimage.BuildAndPush(ctx, ref, spec); err != nil {
		t.Fatal(err)
	}
	return ref
}
