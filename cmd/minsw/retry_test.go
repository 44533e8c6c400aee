package main

import (
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
)

// service create whose first attempt committed but came back "unknown"
// retries with the same request ID and gets the service that attempt made:
// exit 0, one service, no "name in use".
func TestServiceCreateRetriesAnUnknownOutcomeWithItsKey(t *testing.T) {
	cli.UnknownRetries = []time.Duration{time.Millisecond, time.Millisecond}
	d := seedDaemon()
	d.unsure = 1
	sock := d.serve(t)
	out, errOut, code := runCLI(t, sock, "", "service", "create", "--name", "api", "-d", "containous/whoami")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if len(d.createKeys) != 2 || d.createKeys[0] == "" || d.createKeys[0] != d.createKeys[1] {
		t.Fatalf("request IDs sent: %q, want one ID sent twice", d.createKeys)
	}
	n := 0
	for _, s := range d.services {
		if s.GetSpec().GetName() == "api" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d services named api", n)
	}
	if strings.TrimSpace(out) != "skbcdfvgidwafbm4nciq82env" {
		t.Fatalf("printed %q", out)
	}
}

// When every attempt's outcome is unknown, the CLI says so and exits 1: it
// does not claim the create failed.
func TestServiceCreateReportsAnUnknownOutcome(t *testing.T) {
	cli.UnknownRetries = []time.Duration{time.Millisecond, time.Millisecond}
	d := seedDaemon()
	d.unknown = true
	sock := d.serve(t)
	_, errOut, code := runCLI(t, sock, "", "service", "create", "--name", "api", "-d", "containous/whoami")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	if want := "Error response from daemon: the request may or may not have been applied: check with service ls\n"; errOut != want {
		t.Fatalf("stderr %q, want %q", errOut, want)
	}
	if len(d.createKeys) != 3 {
		t.Fatalf("%d attempts, want 3", len(d.createKeys))
	}
	// Two CLI runs are two requests: they do not share a key.
	_, _, _ = runCLI(t, sock, "", "service", "create", "--name", "other", "-d", "containous/whoami")
	if d.createKeys[3] == d.createKeys[0] {
		t.Fatal("a second service create reused the first one's request ID")
	}
}
