// Package alertmanager delivers alerts to one or more Alertmanagers over the
// API v2, the way Prometheus's notifier does: every alert goes to every URL
// (Alertmanagers in an HA cluster deduplicate among themselves), each URL
// has its own bounded queue that drops the oldest alerts when full, and
// batches are retried with backoff while Alertmanager is unreachable.
package alertmanager

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// Defaults for the zero fields of Options.
const (
	DefaultTimeout       = notify.DefaultTimeout
	DefaultQueueCapacity = 10000
	DefaultMaxBatch      = 64
	DefaultBackoff       = 500 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
)

// Options configures a Sender. Zero fields take the defaults above.
type Options struct {
	// Name is the notifier's name from the config; it labels logs and
	// metrics. Senders of the same name on one Registerer share their
	// metrics, so that counters carry on across a config reload.
	Name string
	// URLs are Alertmanager base URLs, http(s)://host:port[/prefix]. A URL
	// may carry user:password, which is then used as basic auth and never
	// shown.
	URLs []string
	// HTTPConfig sets TLS and authentication (basic auth, authorization,
	// OAuth2) for every URL.
	HTTPConfig commoncfg.HTTPClientConfig
	// Timeout bounds each POST.
	Timeout time.Duration
	// QueueCapacity bounds each URL's queue; when it is full the oldest
	// alerts are dropped, since a newer alert supersedes an older one for
	// the same labels.
	QueueCapacity int
	// MaxBatch is the most alerts sent in one POST.
	MaxBatch int
	// Backoff is the delay before the first retry of a failed batch; it
	// doubles, with jitter, up to MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	Logger     *slog.Logger
	// Registerer receives the Sender's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock for Retry-After dates and for telling firing from
	// resolved alerts in debug logs.
	Now func() time.Time
}

// Sender delivers alerts to a set of Alertmanagers. Send queues alerts for
// the send loops that Run drives; Notify posts synchronously and bypasses the
// queues.
type Sender struct {
	name    string
	targets []*target
	running atomic.Bool
}

var _ notify.Notifier = (*Sender)(nil)

// New checks the options and builds a Sender; nothing is sent until Run (or
// Notify) is called.
func New(o Options) (*Sender, error) {
	if o.Name == "" {
		return nil, errors.New("alertmanager: a notifier name is required")
	}
	if len(o.URLs) == 0 {
		return nil, fmt.Errorf("alertmanager %s: no URLs", o.Name)
	}
	o = withDefaults(o)
	if o.Timeout < 0 || o.QueueCapacity < 0 || o.MaxBatch < 0 {
		return nil, fmt.Errorf("alertmanager %s: timeout, queue capacity and batch size must not be negative", o.Name)
	}
	// Unlike the Dispatcher's outbox, a Retry-After is cut to MaxBackoff:
	// the send loop holds up its whole queue while it waits.
	backoff, err := notify.Backoff{Initial: o.Backoff, Max: o.MaxBackoff}.Resolve(
		notify.Backoff{Initial: DefaultBackoff, Max: DefaultMaxBackoff})
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s: %w", o.Name, err)
	}
	eps, clients, errs := endpoints(o.URLs, o.HTTPConfig, o.Now)
	if len(errs) > 0 {
		return nil, fmt.Errorf("alertmanager %s: %w", o.Name, errs[0])
	}
	m, err := newMetrics(o.Name, o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s: %w", o.Name, err)
	}
	logger := notify.NotifierLogger(o.Logger, o.Name)
	s := &Sender{name: o.Name}
	for i, ep := range eps {
		tm, err := m.forURL(ep.display)
		if err != nil {
			return nil, fmt.Errorf("alertmanager %s: %w", o.Name, err)
		}
		s.targets = append(s.targets, newTarget(ep.display, clients[i], o, backoff, logger.With("url", ep.display), tm))
	}
	return s, nil
}

// withDefaults fills the zero sizes and the clock; the backoffs are
// notify.Backoff.Resolve's.
func withDefaults(o Options) Options {
	o.Timeout = cmp.Or(o.Timeout, DefaultTimeout)
	o.QueueCapacity = cmp.Or(o.QueueCapacity, DefaultQueueCapacity)
	o.MaxBatch = cmp.Or(o.MaxBatch, DefaultMaxBatch)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Send queues the alerts for every URL and returns at once. The alerts are
// copied, so the caller may reuse them; nil alerts are skipped.
func (s *Sender) Send(alerts ...*notify.Alert) {
	batch := toPostable(alerts)
	if len(batch) == 0 {
		return
	}
	for _, t := range s.targets {
		t.enqueue(batch)
	}
}

// Run drives one send loop per URL until ctx ends. A batch being retried
// when ctx ends goes back to the head of its queue, so a later Run sends it
// first. Run must not be called again before it has returned.
func (s *Sender) Run(ctx context.Context) {
	if !s.running.CompareAndSwap(false, true) {
		panic("alertmanager: Sender.Run called while already running")
	}
	defer s.running.Store(false)
	var wg sync.WaitGroup
	for _, t := range s.targets {
		wg.Go(func() { t.run(ctx) })
	}
	wg.Wait()
	for _, t := range s.targets {
		t.stopped()
	}
}

// Flush waits until every queue is empty and no batch is in flight, so that
// everything passed to Send before the call has been delivered or dropped.
// It needs Run to be running. When ctx ends first, the error says how many
// alerts were left per URL and wraps ctx.Err().
func (s *Sender) Flush(ctx context.Context) error {
	for _, t := range s.targets {
		select {
		case <-t.idleChan():
		case <-ctx.Done():
			errs := []error{ctx.Err()}
			for _, t := range s.targets {
				if n := t.pending(); n > 0 {
					errs = append(errs, fmt.Errorf("alertmanager %s: %d alerts not delivered", t.url, n))
				}
			}
			return fmt.Errorf("alertmanager %s: flush: %w", s.name, errors.Join(errs...))
		}
	}
	return nil
}

// Notify posts the alerts to every URL now, in batches of at most MaxBatch,
// concurrently across URLs and without retrying: the caller owns the retry
// decision, so a refused batch is returned rather than counted as dropped.
// The error joins the per-URL errors; retry is true if any of them may
// succeed later.
func (s *Sender) Notify(ctx context.Context, alerts ...*notify.Alert) (retry bool, err error) {
	batch := toPostable(alerts)
	if len(batch) == 0 {
		return false, nil
	}
	retries := make([]bool, len(s.targets))
	errs := make([]error, len(s.targets))
	var wg sync.WaitGroup
	for i, t := range s.targets {
		wg.Go(func() { retries[i], errs[i] = t.postAll(ctx, batch) })
	}
	wg.Wait()
	return slices.Contains(retries, true), errors.Join(errs...)
}

// toPostable converts once per Send rather than once per URL; the result is
// shared read-only by every queue.
func toPostable(alerts []*notify.Alert) []*models.PostableAlert {
	out := make([]*models.PostableAlert, 0, len(alerts))
	for _, a := range alerts {
		if a == nil {
			continue
		}
		out = append(out, &models.PostableAlert{
			Alert: models.Alert{
				Labels:       labelSet(a.Labels),
				GeneratorURL: strfmt.URI(a.GeneratorURL),
			},
			Annotations: labelSet(a.Annotations),
			StartsAt:    strfmt.DateTime(a.StartsAt),
			EndsAt:      strfmt.DateTime(a.EndsAt),
		})
	}
	return out
}
