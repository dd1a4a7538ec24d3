package notify

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promreg"
)

// The families below are registered by every kind of notifier on the
// daemon's one registry, so that vllm_sentinel_notifications_total covers
// Alertmanager, Slack and webhooks alike. A registry holds one family per
// name, and every collector of a family must agree on its help and label
// names: that is why they are defined here, once. The notifier's name is a
// constant label, so notifiers of different names register side by side;
// url and result or reason are variable labels. Names and labels are what
// dashboards and alerts use; do not change them.
const (
	notificationsName = "vllm_sentinel_notifications_total"
	notificationsHelp = "Alerts in POST attempts to the notifier's receiver, by result; a batch retried three times counts three failures."
	requestsName      = "vllm_sentinel_notification_requests_total"
	requestsHelp      = "POST requests to the notifier's receiver, by result."
	droppedName       = "vllm_sentinel_notifications_dropped_total"
	droppedHelp       = "Alerts given up on, by reason: pushed out of a full queue or outbox, refused by the receiver (Alertmanager keeps the valid alerts of a refused batch), or unreadable from the outbox."
	latencyName       = "vllm_sentinel_notification_latency_seconds"
	latencyHelp       = "Duration of successful POST requests to the notifier's receiver."
)

// Label values.
const (
	resultSuccess = "success"
	resultFailure = "failure"

	// ReasonPermanentError is the reason of
	// vllm_sentinel_notifications_dropped_total for alerts the receiver
	// refused for good.
	ReasonPermanentError = "permanent_error"
)

// NewDroppedVec returns vllm_sentinel_notifications_dropped_total for
// notifier, by url and reason, not yet registered.
func NewDroppedVec(notifier string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: droppedName, Help: droppedHelp, ConstLabels: prometheus.Labels{"notifier": notifier},
	}, []string{"url", "reason"})
}

// PostMetrics counts the POST attempts to one URL of a notifier.
type PostMetrics struct {
	alertsOK, alertsFailed     prometheus.Counter
	requestsOK, requestsFailed prometheus.Counter
	latency                    prometheus.Observer
}

// NewPostMetrics registers (or adopts) the families for notifier and
// resolves the children for url, which must be free of secrets
// (Endpoint.String), once, so that the hot path does no label lookups.
// Every series exists from the start, at zero, so that rate() and alerts on
// them work before the first POST.
func NewPostMetrics(notifier, url string, reg prometheus.Registerer) (*PostMetrics, error) {
	cl := prometheus.Labels{"notifier": notifier}
	notifications, err := promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: notificationsName, Help: notificationsHelp, ConstLabels: cl,
	}, []string{"url", "result"}))
	if err != nil {
		return nil, err
	}
	requests, err := promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: requestsName, Help: requestsHelp, ConstLabels: cl,
	}, []string{"url", "result"}))
	if err != nil {
		return nil, err
	}
	latency, err := promreg.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: latencyName, Help: latencyHelp, ConstLabels: cl, Buckets: prometheus.DefBuckets,
	}, []string{"url"}))
	if err != nil {
		return nil, err
	}
	return &PostMetrics{
		alertsOK:       notifications.WithLabelValues(url, resultSuccess),
		alertsFailed:   notifications.WithLabelValues(url, resultFailure),
		requestsOK:     requests.WithLabelValues(url, resultSuccess),
		requestsFailed: requests.WithLabelValues(url, resultFailure),
		latency:        latency.WithLabelValues(url),
	}, nil
}

// Observe accounts for one POST of alerts alerts that took took. Callers
// leave out attempts cut short by their own context: those say nothing
// about the receiver.
func (m *PostMetrics) Observe(alerts int, err error, took time.Duration) {
	if err != nil {
		m.requestsFailed.Inc()
		m.alertsFailed.Add(float64(alerts))
		return
	}
	m.requestsOK.Inc()
	m.alertsOK.Add(float64(alerts))
	m.latency.Observe(took.Seconds())
}
