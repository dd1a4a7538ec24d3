package alertmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/vllm-sentinel/vllm-sentinel/internal/clock"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// target is one Alertmanager URL: its queue, its send loop and its client.
type target struct {
	url      string // credential-free, see endpoint.display
	client   *client
	timeout  time.Duration
	capacity int
	maxBatch int
	backoff  notify.Backoff
	now      func() time.Time
	logger   *slog.Logger
	m        targetMetrics

	// hasWork wakes the loop; one slot is enough because the loop empties
	// the queue on every wake-up.
	hasWork chan struct{}

	mu       sync.Mutex
	queue    []*models.PostableAlert
	inFlight int // alerts taken from the queue and not yet done with
	// idle is set while the queue is empty and nothing is in flight: Flush
	// waits on it.
	idle notify.Idle
}

func newTarget(url string, c *client, o Options, backoff notify.Backoff, logger *slog.Logger, m targetMetrics) *target {
	return &target{
		url:      url,
		client:   c,
		timeout:  o.Timeout,
		capacity: o.QueueCapacity,
		maxBatch: o.MaxBatch,
		backoff:  backoff,
		now:      o.Now,
		logger:   logger,
		m:        m,
		hasWork:  make(chan struct{}, 1),
	}
}

func (t *target) enqueue(alerts []*models.PostableAlert) {
	t.add(func() { t.queue = append(t.queue, alerts...) })
}

// requeue puts back a batch whose delivery was cut short by the end of Run,
// ahead of what arrived meanwhile, so that order holds.
func (t *target) requeue(batch []*models.PostableAlert) {
	t.add(func() {
		t.queue = append(slices.Clip(batch), t.queue...)
		t.inFlight -= len(batch)
	})
}

// add runs fill, which grows the queue, under the lock, then keeps the
// queue within capacity and wakes the loop.
func (t *target) add(fill func()) {
	t.mu.Lock()
	fill()
	dropped := t.trimLocked()
	t.updateLocked()
	t.mu.Unlock()
	t.wake()
	if dropped > 0 {
		t.logger.Warn("alert queue full, dropped the oldest alerts", "dropped", dropped, "capacity", t.capacity)
	}
}

// trimLocked drops the oldest alerts beyond capacity: they are the most
// likely to have been superseded by a newer send of the same alert.
func (t *target) trimLocked() int {
	over := len(t.queue) - t.capacity
	if over <= 0 {
		return 0
	}
	clear(t.queue[:over])
	t.queue = t.queue[over:]
	t.m.droppedFull.Add(float64(over))
	return over
}

// take removes the next batch from the queue, nil when there is none.
func (t *target) take() []*models.PostableAlert {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := min(len(t.queue), t.maxBatch)
	if n == 0 {
		return nil
	}
	batch := slices.Clone(t.queue[:n])
	clear(t.queue[:n])
	t.queue = t.queue[n:]
	if len(t.queue) == 0 {
		// Let the emptied backing array go instead of creeping along it.
		t.queue = nil
	}
	t.inFlight += n
	t.updateLocked()
	return batch
}

func (t *target) done(batch []*models.PostableAlert) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inFlight -= len(batch)
	t.updateLocked()
}

func (t *target) updateLocked() {
	t.m.queueLength.Set(float64(len(t.queue)))
	t.idle.Set(len(t.queue) == 0 && t.inFlight == 0)
}

func (t *target) idleChan() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.idle.Done()
}

func (t *target) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue) + t.inFlight
}

func (t *target) wake() {
	select {
	case t.hasWork <- struct{}{}:
	default:
	}
}

func (t *target) run(ctx context.Context) {
	// A previous Run may have consumed the wake-up of alerts it then left
	// queued.
	t.wake()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.hasWork:
		}
		for ctx.Err() == nil {
			batch := t.take()
			if batch == nil {
				break
			}
			t.deliver(ctx, batch)
		}
	}
}

// stopped runs after the loop has returned.
func (t *target) stopped() {
	if n := t.pending(); n > 0 {
		t.logger.Warn("send loop stopped with alerts still queued", "alerts", n)
	}
	// Idle keep-alive connections hold goroutines until their timeout.
	t.client.http.CloseIdleConnections()
}

// deliver posts one batch until it succeeds, is refused, or ctx ends. The
// loop does not move on meanwhile, so newer alerts wait in the queue and
// order holds.
func (t *target) deliver(ctx context.Context, batch []*models.PostableAlert) {
	for attempt := 1; ; attempt++ {
		err := t.post(ctx, batch)
		switch {
		case err == nil:
			t.done(batch)
			if attempt > 1 {
				t.logger.Info("alerts delivered after retries", "alerts", len(batch), "attempts", attempt)
			}
			return
		case ctx.Err() != nil:
			t.requeue(batch)
			return
		case !notify.Retryable(err):
			t.done(batch)
			t.m.droppedRefused.Add(float64(len(batch)))
			t.logger.Error("Alertmanager refused alerts, dropping them", "alerts", len(batch), "err", err)
			return
		}
		wait := t.backoff.Delay(attempt, err)
		t.logger.Warn("alert delivery failed, will retry", "alerts", len(batch), "attempt", attempt, "retry_in", wait, "err", err)
		if clock.Sleep(ctx, wait) != nil {
			t.requeue(batch)
			return
		}
	}
}

// postAll sends alerts in batches, stopping at the first error that a retry
// might fix (the next batch would most likely meet it too) but going on
// past refusals, which concern only the batch's own alerts.
func (t *target) postAll(ctx context.Context, alerts []*models.PostableAlert) (retry bool, err error) {
	var errs []error
	for batch := range slices.Chunk(alerts, t.maxBatch) {
		if err := t.post(ctx, batch); err != nil {
			errs = append(errs, err)
			if notify.Retryable(err) {
				retry = true
				break
			}
		}
	}
	return retry, errors.Join(errs...)
}

// post makes one POST and accounts for it. Attempts cut short by the
// caller's ctx are not counted: they say nothing about Alertmanager.
func (t *target) post(ctx context.Context, batch []*models.PostableAlert) error {
	reqCtx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	params := alert.NewPostAlertsParamsWithContext(reqCtx).
		WithTimeout(t.timeout).
		WithAlerts(models.PostableAlerts(batch))
	// Latency comes from the monotonic clock, not the injected one, which
	// may be a fake that does not advance.
	start := time.Now()
	_, err := t.client.api.PostAlerts(params, t.client.withReader)
	if err != nil && ctx.Err() != nil {
		return t.wrap(len(batch), err)
	}
	t.m.post.Observe(len(batch), err, time.Since(start))
	if err != nil {
		return t.wrap(len(batch), err)
	}
	if t.logger.Enabled(ctx, slog.LevelDebug) {
		firing, resolved := countStates(batch, t.now())
		t.logger.Debug("alerts sent", "firing", firing, "resolved", resolved)
	}
	return nil
}

func (t *target) wrap(n int, err error) error {
	return fmt.Errorf("alertmanager %s: post %d alerts: %w", t.url, n, err)
}

// countStates splits a batch as notify.Resolved would.
func countStates(batch []*models.PostableAlert, now time.Time) (firing, resolved int) {
	for _, a := range batch {
		ends := time.Time(a.EndsAt)
		if !ends.IsZero() && !ends.After(now) {
			resolved++
		} else {
			firing++
		}
	}
	return firing, resolved
}
