package notify

import (
	"cmp"
	"errors"
	"fmt"
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

// Resolve fills the zero fields of b, which come from a notifier's
// options, from def, and checks the result. A zero Max becomes at least
// Initial, so that setting a long Initial alone is not an error; a zero
// MaxRetryAfter, in b and def, becomes Max.
func (b Backoff) Resolve(def Backoff) (Backoff, error) {
	b.Initial = cmp.Or(b.Initial, def.Initial)
	if b.Max == 0 {
		b.Max = max(def.Max, b.Initial)
	}
	b.MaxRetryAfter = cmp.Or(b.MaxRetryAfter, def.MaxRetryAfter, b.Max)
	switch {
	case b.Initial < 0 || b.Max < 0 || b.MaxRetryAfter < 0:
		return b, errors.New("backoffs must not be negative")
	case b.Max < b.Initial:
		return b, fmt.Errorf("max backoff %s is shorter than backoff %s", b.Max, b.Initial)
	}
	return b, nil
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
