package alertmanager

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promreg"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// reasonQueueFull is the reason of vllm_sentinel_notifications_dropped_total
// for alerts pushed out of a full queue.
const reasonQueueFull = "queue_full"

// metrics are one notifier's collectors: the families every notifier shares
// (package notify) and the queue length, which only the Alertmanager sender
// has. The notifier name is a constant label, so Senders for different
// notifiers register side by side on one Registerer; a second Sender under
// the same name (a config reload) adopts the collectors already registered,
// so its counters carry on.
type metrics struct {
	notifier    string
	reg         prometheus.Registerer
	dropped     *prometheus.CounterVec
	queueLength *prometheus.GaugeVec
}

func newMetrics(notifier string, reg prometheus.Registerer) (*metrics, error) {
	dropped, err := promreg.Register(reg, notify.NewDroppedVec(notifier))
	if err != nil {
		return nil, err
	}
	queueLength, err := promreg.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name:        "vllm_sentinel_notification_queue_length",
		Help:        "Alerts waiting to be sent, not counting the batch in flight.",
		ConstLabels: prometheus.Labels{"notifier": notifier},
	}, []string{"url"}))
	if err != nil {
		return nil, err
	}
	return &metrics{notifier: notifier, reg: reg, dropped: dropped, queueLength: queueLength}, nil
}

// targetMetrics are the children for one URL, resolved once so that the hot
// path does no label lookups.
type targetMetrics struct {
	post                        *notify.PostMetrics
	droppedFull, droppedRefused prometheus.Counter
	queueLength                 prometheus.Gauge
}

// forURL also makes every series exist from the start, at zero, so that
// rate() and alerts on them work before the first event.
func (m *metrics) forURL(url string) (targetMetrics, error) {
	post, err := notify.NewPostMetrics(m.notifier, url, m.reg)
	if err != nil {
		return targetMetrics{}, err
	}
	return targetMetrics{
		post:           post,
		droppedFull:    m.dropped.WithLabelValues(url, reasonQueueFull),
		droppedRefused: m.dropped.WithLabelValues(url, notify.ReasonPermanentError),
		queueLength:    m.queueLength.WithLabelValues(url),
	}, nil
}
