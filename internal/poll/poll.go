// Package poll waits for a condition in tests that drive real servers and
// goroutines: one loop, one timeout message, one place to tune the pace.
package poll

import (
	"errors"
	"testing"
	"time"
)

// Interval is how often Until checks its condition.
const Interval = 20 * time.Millisecond

// Until checks cond every Interval until it holds, and fails the test with
// what it was waiting for once limit has passed.
func Until(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := Wait(limit, Interval, cond); err != nil {
		t.Fatalf("timed out after %s waiting for %s", limit, what)
	}
}

// Wait checks cond every interval until it holds or limit passes, and then
// returns ErrTimeout. It serves callers that report the failure themselves,
// with more to say than Until does.
func Wait(limit, interval time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return ErrTimeout
		}
		time.Sleep(interval)
	}
	return nil
}

// ErrTimeout is what Wait returns when the condition never held.
var ErrTimeout = errors.New("condition did not hold in time")
