package eventually

import (
	"errors"
	"testing"
	"time"
)

func TestTrueReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	start := time.Now()
	True(t, "the third poll", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("polled %d times", n)
	}
	t.Logf("three polls took %v", time.Since(start))
}

type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
	panic(r)
}

func TestWithinFailsAfterTheDeadline(t *testing.T) {
	r := &recorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		Within(r, 20*time.Millisecond, "never", func() bool { return false })
	}()
	if r.failed == "" {
		t.Fatal("a condition never met did not fail the test")
	}
}

func TestStaysFailsWhenTheConditionBreaks(t *testing.T) {
	r := &recorder{TB: t}
	n := 0
	func() {
		defer func() { _ = recover() }()
		Stays(r, time.Minute, "a condition that breaks", func() bool { n++; return n < 3 })
	}()
	if r.failed == "" || n != 3 {
		t.Fatalf("a broken condition: failed %q after %d polls", r.failed, n)
	}
	Stays(t, 20*time.Millisecond, "a condition that holds", func() bool { return true })
}

func TestSucceedsRetriesUntilNoError(t *testing.T) {
	n := 0
	Succeeds(t, time.Minute, "the third try", func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	r := &recorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		Succeeds(r, 20*time.Millisecond, "never", func() error { return errors.New("no") })
	}()
	if r.failed == "" {
		t.Fatal("an error that never went did not fail the test")
	}
}
