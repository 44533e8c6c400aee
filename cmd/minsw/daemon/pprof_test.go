package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
)

func TestPprofSocketServesProfilesOnlyWhenAsked(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	off := &pprofOptions{}
	if _, err := off.serve(dir, log); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pprofSocket(dir)); !os.IsNotExist(err) {
		t.Fatalf("without --pprof the socket exists (stat: %v)", err)
	}

	on := &pprofOptions{on: true}
	stop, err := on.serve(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(pprofSocket(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", pprofSocket(dir))
	}}}
	resp, err := hc.Get("http://minsw/debug/pprof/heap")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("heap profile: %s, %d bytes", resp.Status, len(body))
	}
	hc.CloseIdleConnections()

	stop()
	if _, err := os.Stat(pprofSocket(dir)); !os.IsNotExist(err) {
		t.Fatalf("the socket outlives the daemon (stat: %v)", err)
	}
}
