// Package clock holds the waiting that retry loops share, so that every
// one of them gives up as soon as its context ends.
package clock

import (
	"context"
	"time"
)

// Sleep waits for d, or returns ctx's error as soon as ctx ends. Unlike
// time.Sleep it lets a shutdown interrupt a retry backoff.
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
