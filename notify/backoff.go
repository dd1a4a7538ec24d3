package notify

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the retry schedule of a failed delivery, the same for the
// Alertmanager send loops and the Dispatcher's outbox.
type Backoff struct {
	// Initial is the delay after the first failed attempt; it doubles with
	// every further one, up to Max.
	Initial, Max time.Duration
	// MaxRetryAfter caps a receiver's Retry-After, which is honoured up to
	// there, so that a broken header cannot park a queue for a day.
	MaxRetryAfter time.Duration
}

// Delay is how long to wait after attempt (from 1) failed with err. The
// backoff is jittered to between half and all of it, so that several
// sentinels recovering together do not hit a receiver in step; a longer
// Retry-After carried by err is waited for instead.
func (b Backoff) Delay(attempt int, err error) time.Duration {
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	wait := d/2 + rand.N(d/2+1)
	if ra := RetryAfter(err); ra > 0 {
		wait = max(wait, min(ra, b.MaxRetryAfter))
	}
	return wait
}

// Sleep waits for d, or returns ctx's error as soon as ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
