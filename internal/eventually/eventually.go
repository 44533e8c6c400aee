// Package eventually is the one polling helper of minsw's tests: a test
// that waits for something the system does on its own (a session opens, a
// task runs) polls a condition with a generous deadline, never sleeps a
// guessed time. Deadlines are long because the machines that run the
// tests are loaded (load average 10 is normal); a passing condition
// returns at once.
package eventually

import (
	"testing"
	"time"
)

// DefaultWithin is how long True waits.
const DefaultWithin = 30 * time.Second

// interval is the polling period: short, so a met condition costs little.
const interval = 5 * time.Millisecond

// True polls cond until it holds, failing t after DefaultWithin.
func True(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Within(t, DefaultWithin, what, cond)
}

// Within polls cond until it holds, failing t after d.
func Within(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(interval)
	}
}

// Stays checks that cond keeps holding for d, failing t the first time it
// does not: the test of something that must not happen (a heartbeating
// node is never marked down). It polls, so a break shows at once.
func Stays(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if !cond() {
			t.Fatalf("%s stopped holding within %v", what, d)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(interval)
	}
}

// Succeeds calls f until it returns nil, failing t with f's last error
// after d. f may stop the test itself on an error that is not worth
// retrying.
func Succeeds(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	var err error
	deadline := time.Now().Add(d)
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", d, what, err)
		}
		time.Sleep(interval)
	}
}
