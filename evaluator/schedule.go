package evaluator

import (
	"context"
	"time"
)

// Run evaluates every interval until ctx ends, at times aligned to the
// interval. Cycles never overlap: a slow cycle delays the next and the
// skipped slots are counted. The cycle in progress when ctx ends finishes
// first (with its own deadline), so its state is saved and sends queued.
func (e *Engine) Run(ctx context.Context) {
	e.metrics.results.engine.Store(e)
	defer func() {
		// What the stores hold since their last save: a restart then
		// catches up only the time it was down.
		if err := e.ev.SaveEvents(e.opts.Now(), true); err != nil {
			e.opts.Logger.Error("saving the event store at shutdown failed", "err", err)
		}
	}()
	interval := e.opts.Interval
	next := e.opts.Now().Truncate(interval).Add(interval)
	// Evaluate once at start so readiness and the watchdog need no wait.
	e.runCycle(ctx, e.opts.Now())
	for {
		wait := next.Sub(e.opts.Now())
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		// A timer and a cancelled context can both be ready; select picks
		// either, so check: after SIGTERM no new cycle starts.
		if ctx.Err() != nil {
			return
		}
		e.runCycle(ctx, next)
		now := e.opts.Now()
		next = next.Add(interval)
		if missed := now.Sub(next); missed >= 0 {
			skipped := int(missed/interval) + 1
			e.metrics.iterationsMissed.Add(float64(skipped))
			e.opts.Logger.Warn("evaluation took longer than the interval; slots skipped", "skipped", skipped, "interval", interval)
			next = next.Add(time.Duration(skipped) * interval)
		}
	}
}

func (e *Engine) runCycle(ctx context.Context, ts time.Time) {
	// The cycle is not cut short by shutdown: it gets its own deadline so
	// that SIGTERM "finishes the cycle".
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(e.opts.Interval, 10*time.Second))
	defer cancel()
	e.Cycle(cctx, ts)
}
