package service_test

import (
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

// service create whose first attempt committed but came back "unknown"
// retries with the same request ID and gets the service that attempt made:
// exit 0, one service, no "name in use".
func TestServiceCreateRetriesAnUnknownOutcomeWithItsKey(t *testing.T) {
	d := clitest.Seed()
	d.Unsure = 1
	sock := d.Serve(t)
	out, errOut, code := clitest.RunWith(t, sock, "", fastRetries, "service", "create", "--name", "api", "-d", "containous/whoami")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if len(d.CreateKeys) != 2 || d.CreateKeys[0] == "" || d.CreateKeys[0] != d.CreateKeys[1] {
		t.Fatalf("request IDs sent: %q, want one ID sent twice", d.CreateKeys)
	}
	n := 0
	for _, s := range d.Services {
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
	d := clitest.Seed()
	d.Unknown = true
	sock := d.Serve(t)
	_, errOut, code := clitest.RunWith(t, sock, "", fastRetries, "service", "create", "--name", "api", "-d", "containous/whoami")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	if want := "Error response from daemon: the request may or may not have been applied: check with service ls\n"; errOut != want {
		t.Fatalf("stderr %q, want %q", errOut, want)
	}
	if len(d.CreateKeys) != 3 {
		t.Fatalf("%d attempts, want 3", len(d.CreateKeys))
	}
	// Two CLI runs are two requests: they do not share a key.
	_, _, _ = clitest.RunWith(t, sock, "", fastRetries, "service", "create", "--name", "other", "-d", "containous/whoami")
	if d.CreateKeys[3] == d.CreateKeys[0] {
		t.Fatal("a second service create reused the first one's request ID")
	}
}

// fastRetries retries an unknown outcome twice, without waiting long.
func fastRetries(c *cli.CLI) {
	c.UnknownRetries = []time.Duration{time.Millisecond, time.Millisecond}
}
