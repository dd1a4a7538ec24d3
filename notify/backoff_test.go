package notify

import (
	"errors"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	b := Backoff{Initial: time.Second, Max: 5 * time.Second, MaxRetryAfter: time.Minute}
	for _, tc := range []struct {
		attempt int
		full    time.Duration // before jitter
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 5 * time.Second}, {100, 5 * time.Second},
	} {
		for range 100 {
			if d := b.Delay(tc.attempt, errors.New("x")); d < tc.full/2 || d > tc.full {
				t.Fatalf("attempt %d: jittered delay %s outside [%s, %s]", tc.attempt, d, tc.full/2, tc.full)
			}
		}
	}
	asked := &StatusError{Code: 429, RetryAfter: 10 * time.Second}
	if d := b.Delay(1, asked); d != 10*time.Second {
		t.Errorf("Retry-After 10s: delay %s", d)
	}
	b.MaxRetryAfter = 5 * time.Second
	if d := b.Delay(1, asked); d != 5*time.Second {
		t.Errorf("Retry-After 10s, cap 5s: delay %s", d)
	}
	if d := b.Delay(1, &StatusError{Code: 429, RetryAfter: time.Millisecond}); d < 500*time.Millisecond {
		t.Errorf("a short Retry-After shortened the backoff to %s", d)
	}
}

func TestIdle(t *testing.T) {
	t.Parallel()
	var i Idle
	closed := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	if !closed(i.Done()) {
		t.Fatal("the zero Idle is not idle")
	}
	i.Set(false)
	busy := i.Done()
	if closed(busy) {
		t.Fatal("busy, yet Done is closed")
	}
	i.Set(false)
	if i.Done() != busy {
		t.Fatal("staying busy replaced the channel a Flush may wait on")
	}
	i.Set(true)
	if !closed(busy) {
		t.Fatal("becoming idle did not wake the waiters")
	}
	i.Set(true) // staying idle must not close twice
}
