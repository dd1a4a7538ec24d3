package alertmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// target is one Alertmanager URL: its queue, its send loop and its client.
type target struct {
	url        string // credential-free, see endpoint.display
	client     *client
	timeout    time.Duration
	capacity   int
	maxBatch   int
	backoff    time.Duration
	maxBackoff time.Duration
	now        func() time.Time
	logger     *slog.Logger
	m          targetMetrics

	// hasWork wakes the loop; one slot is enough because the loop empties
	// the queue on every wake-up.
	hasWork chan struct{}

	mu       sync.Mutex
	queue    []*models.PostableAlert
	inFlight int // alerts taken from the queue and not yet done with
	// idle is closed while the queue is empty and nothing is in flight, and
	// replaced when work arrives: Flush waits on it.
	idle chan struct{}
}

func newTarget(url string, c *client, o Options, logger *slog.Logger, m *metrics) *target {
	idle := make(chan struct{})
	close(idle)
	return &target{
		url:        url,
		client:     c,
		timeout:    o.Timeout,
		capacity:   o.QueueCapacity,
		maxBatch:   o.MaxBatch,
		backoff:    o.Backoff,
		maxBackoff: o.MaxBackoff,
		now:        o.Now,
		logger:     logger,
		m:          m.forURL(url),
		hasWork:    make(chan struct{}, 1),
		idle:       idle,
	}
}

func (t *target) enqueue(alerts []*models.PostableAlert) {
	t.mu.Lock()
	t.queue = append(t.queue, alerts...)
	dropped := t.trimLocked()
	t.updateLocked()
	t.mu.Unlock()
	t.wake()
	if dropped > 0 {
		t.logger.Warn("alert queue full, dropped the oldest alerts", "dropped", dropped, "capacity", t.capacity)
	}
}

// requeue puts back a batch whose delivery was cut short by the end of Run,
// ahead of what arrived meanwhile, so that order holds.
func (t *target) requeue(batch []*models.PostableAlert) {
	t.mu.Lock()
	t.queue = append(slices.Clip(batch), t.queue...)
	t.inFlight -= len(batch)
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
	idle := len(t.queue) == 0 && t.inFlight == 0
	select {
	case <-t.idle:
		if !idle {
			t.idle = make(chan struct{})
		}
	default:
		if idle {
			close(t.idle)
		}
	}
}

func (t *target) idleChan() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.idle
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
	delay := t.backoff
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
		case !retryable(err):
			t.done(batch)
			t.m.droppedRefused.Add(float64(len(batch)))
			t.logger.Error("Alertmanager refused alerts, dropping them", "alerts", len(batch), "err", err)
			return
		}
		wait := retryDelay(delay, err, t.maxBackoff)
		t.logger.Warn("alert delivery failed, will retry", "alerts", len(batch), "attempt", attempt, "retry_in", wait, "err", err)
		if !sleep(ctx, wait) {
			t.requeue(batch)
			return
		}
		delay = min(2*delay, t.maxBackoff)
	}
}

// retryDelay jitters the backoff so that several sentinels recovering
// together do not hit Alertmanager in step, and honours a server's
// Retry-After up to maxBackoff.
func retryDelay(backoff time.Duration, err error, maxBackoff time.Duration) time.Duration {
	d := backoff/2 + rand.N(backoff/2+1)
	if se, ok := errors.AsType[*StatusError](err); ok && se.RetryAfter > d {
		d = min(se.RetryAfter, maxBackoff)
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
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
			if retryable(err) {
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
	n := float64(len(batch))
	if err != nil {
		t.m.requestsFailed.Inc()
		t.m.sentFailed.Add(n)
		return t.wrap(len(batch), err)
	}
	t.m.latency.Observe(time.Since(start).Seconds())
	t.m.requestsOK.Inc()
	t.m.sentOK.Add(n)
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
