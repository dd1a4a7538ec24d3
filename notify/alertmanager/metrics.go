package alertmanager

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of the metrics.
const (
	resultSuccess = "success"
	resultFailure = "failure"

	reasonQueueFull      = "queue_full"
	reasonPermanentError = "permanent_error"
)

// metrics are one notifier's collectors. The notifier name is a constant
// label, so Senders for different notifiers register side by side on one
// Registerer; a second Sender under the same name (a config reload) adopts
// the collectors already registered, so its counters carry on.
type metrics struct {
	notifications *prometheus.CounterVec
	requests      *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	queueLength   *prometheus.GaugeVec
	latency       *prometheus.HistogramVec
}

func newMetrics(notifier string, reg prometheus.Registerer) (*metrics, error) {
	cl := prometheus.Labels{"notifier": notifier}
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "vllm_sentinel_notifications_total",
			Help:        "Alerts in POST attempts to Alertmanager, by result; a batch retried three times counts three failures.",
			ConstLabels: cl,
		}, []string{"url", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "vllm_sentinel_notification_requests_total",
			Help:        "POST requests to Alertmanager, by result.",
			ConstLabels: cl,
		}, []string{"url", "result"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "vllm_sentinel_notifications_dropped_total",
			Help:        "Alerts given up on: pushed out of a full queue, or in a batch Alertmanager refused (it keeps the valid alerts of a 400).",
			ConstLabels: cl,
		}, []string{"url", "reason"}),
		queueLength: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name:        "vllm_sentinel_notification_queue_length",
			Help:        "Alerts waiting to be sent, not counting the batch in flight.",
			ConstLabels: cl,
		}, []string{"url"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "vllm_sentinel_notification_latency_seconds",
			Help:        "Duration of successful POST requests to Alertmanager.",
			ConstLabels: cl,
			Buckets:     prometheus.DefBuckets,
		}, []string{"url"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.notifications, err = register(reg, m.notifications); err != nil {
		return nil, err
	}
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.dropped, err = register(reg, m.dropped); err != nil {
		return nil, err
	}
	if m.queueLength, err = register(reg, m.queueLength); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	var zero C
	return zero, fmt.Errorf("register metrics: %w", err)
}

// targetMetrics are the children for one URL, resolved once so that the hot
// path does no label lookups.
type targetMetrics struct {
	sentOK, sentFailed          prometheus.Counter
	requestsOK, requestsFailed  prometheus.Counter
	droppedFull, droppedRefused prometheus.Counter
	queueLength                 prometheus.Gauge
	latency                     prometheus.Observer
}

// forURL also makes every series exist from the start, at zero, so that
// rate() and alerts on them work before the first event.
func (m *metrics) forURL(url string) targetMetrics {
	return targetMetrics{
		sentOK:         m.notifications.WithLabelValues(url, resultSuccess),
		sentFailed:     m.notifications.WithLabelValues(url, resultFailure),
		requestsOK:     m.requests.WithLabelValues(url, resultSuccess),
		requestsFailed: m.requests.WithLabelValues(url, resultFailure),
		droppedFull:    m.dropped.WithLabelValues(url, reasonQueueFull),
		droppedRefused: m.dropped.WithLabelValues(url, reasonPermanentError),
		queueLength:    m.queueLength.WithLabelValues(url),
		latency:        m.latency.WithLabelValues(url),
	}
}
