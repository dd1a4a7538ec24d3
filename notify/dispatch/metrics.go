package dispatch

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Families shared with notify/alertmanager. A registry holds one family per
// name, and its label names and help text must agree across every
// collector of the family, so these mirror notify/alertmanager/metrics.go
// byte for byte (TestFamiliesSharedWithAlertmanager keeps them in step):
// the notifier name is a constant label, url and result or reason are
// variable labels.
const (
	notificationsName = "vllm_sentinel_notifications_total"
	notificationsHelp = "Alerts in POST attempts to Alertmanager, by result; a batch retried three times counts three failures."
	requestsName      = "vllm_sentinel_notification_requests_total"
	requestsHelp      = "POST requests to Alertmanager, by result."
	droppedName       = "vllm_sentinel_notifications_dropped_total"
	droppedHelp       = "Alerts given up on: pushed out of a full queue, or in a batch Alertmanager refused (it keeps the valid alerts of a 400)."
	latencyName       = "vllm_sentinel_notification_latency_seconds"
	latencyHelp       = "Duration of successful POST requests to Alertmanager."
)

// Label values.
const (
	resultSuccess = "success"
	resultFailure = "failure"

	// ReasonOutboxFull, ReasonPermanentError and ReasonCorrupt are the
	// reasons of vllm_sentinel_notifications_dropped_total that a
	// Dispatcher counts.
	ReasonOutboxFull     = "outbox_full"
	ReasonPermanentError = "permanent_error"
	ReasonCorrupt        = "corrupt"
)

// Register registers c, or returns the collector already registered under
// the same descriptors, so that a second notifier of the same name (a config
// reload) carries on counting where the first stopped. A nil reg registers
// nothing.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
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

// NotifierMetrics counts one HTTP notifier's POST attempts in the families
// notify/alertmanager registers too, so that
// vllm_sentinel_notifications_total covers every kind of notifier.
type NotifierMetrics struct {
	alertsOK, alertsFailed     prometheus.Counter
	requestsOK, requestsFailed prometheus.Counter
	latency                    prometheus.Observer
}

// NewNotifierMetrics registers (or adopts) the families for notifier and
// resolves the children for url, which must be free of secrets
// (Endpoint.String). Every series exists from the start, at zero.
func NewNotifierMetrics(notifier, url string, reg prometheus.Registerer) (*NotifierMetrics, error) {
	cl := prometheus.Labels{"notifier": notifier}
	notifications, err := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: notificationsName, Help: notificationsHelp, ConstLabels: cl,
	}, []string{"url", "result"}))
	if err != nil {
		return nil, err
	}
	requests, err := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: requestsName, Help: requestsHelp, ConstLabels: cl,
	}, []string{"url", "result"}))
	if err != nil {
		return nil, err
	}
	latency, err := Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: latencyName, Help: latencyHelp, ConstLabels: cl, Buckets: prometheus.DefBuckets,
	}, []string{"url"}))
	if err != nil {
		return nil, err
	}
	return &NotifierMetrics{
		alertsOK:       notifications.WithLabelValues(url, resultSuccess),
		alertsFailed:   notifications.WithLabelValues(url, resultFailure),
		requestsOK:     requests.WithLabelValues(url, resultSuccess),
		requestsFailed: requests.WithLabelValues(url, resultFailure),
		latency:        latency.WithLabelValues(url),
	}, nil
}

// Observe accounts for one POST of alerts alerts that took took.
func (m *NotifierMetrics) Observe(alerts int, err error, took time.Duration) {
	if err != nil {
		m.requestsFailed.Inc()
		m.alertsFailed.Add(float64(alerts))
		return
	}
	m.requestsOK.Inc()
	m.alertsOK.Add(float64(alerts))
	m.latency.Observe(took.Seconds())
}

// metrics are a Dispatcher's collectors.
type metrics struct {
	droppedFull, droppedPermanent, droppedCorrupt prometheus.Counter
	outboxLength                                  prometheus.Gauge
	groups                                        prometheus.Gauge
	writeFailures                                 prometheus.Counter
}

func newMetrics(notifier string, reg prometheus.Registerer) (*metrics, error) {
	cl := prometheus.Labels{"notifier": notifier}
	dropped, err := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: droppedName, Help: droppedHelp, ConstLabels: cl,
	}, []string{"url", "reason"}))
	if err != nil {
		return nil, err
	}
	outboxLength, err := Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "vllm_sentinel_outbox_length",
		Help:        "Notifications made and not yet delivered: waiting, or being retried.",
		ConstLabels: cl,
	}))
	if err != nil {
		return nil, err
	}
	groups, err := Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "vllm_sentinel_alert_groups",
		Help:        "Aggregation groups that hold alerts.",
		ConstLabels: cl,
	}))
	if err != nil {
		return nil, err
	}
	writeFailures, err := Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "vllm_sentinel_outbox_write_failures_total",
		Help:        "Failed writes of outbox files; the notification is then kept in memory only.",
		ConstLabels: cl,
	}))
	if err != nil {
		return nil, err
	}
	// The Dispatcher does not know the receiver's URL; its drops carry an
	// empty url.
	return &metrics{
		droppedFull:      dropped.WithLabelValues("", ReasonOutboxFull),
		droppedPermanent: dropped.WithLabelValues("", ReasonPermanentError),
		droppedCorrupt:   dropped.WithLabelValues("", ReasonCorrupt),
		outboxLength:     outboxLength,
		groups:           groups,
		writeFailures:    writeFailures,
	}, nil
}
