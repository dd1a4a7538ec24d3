package dispatch

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promreg"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// Label values.
const (
	// ReasonOutboxFull and ReasonCorrupt are the reasons of
	// vllm_sentinel_notifications_dropped_total that only a Dispatcher
	// counts; it counts notify.ReasonPermanentError too.
	ReasonOutboxFull = "outbox_full"
	ReasonCorrupt    = "corrupt"
)

// metrics are a Dispatcher's collectors.
type metrics struct {
	droppedFull, droppedPermanent, droppedCorrupt prometheus.Counter
	outboxLength                                  prometheus.Gauge
	groups                                        prometheus.Gauge
	writeFailures                                 prometheus.Counter
	corruptFiles                                  *prometheus.CounterVec
}

// corrupt is the counter of damaged files of kind.
func (m *metrics) corrupt(kind string) prometheus.Counter {
	return m.corruptFiles.WithLabelValues(kind)
}

func newMetrics(notifier string, reg prometheus.Registerer) (*metrics, error) {
	cl := prometheus.Labels{"notifier": notifier}
	dropped, err := promreg.Register(reg, notify.NewDroppedVec(notifier))
	if err != nil {
		return nil, err
	}
	outboxLength, err := promreg.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "vllm_sentinel_outbox_length",
		Help:        "Notifications made and not yet delivered: waiting, or being retried.",
		ConstLabels: cl,
	}))
	if err != nil {
		return nil, err
	}
	groups, err := promreg.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "vllm_sentinel_alert_groups",
		Help:        "Aggregation groups that hold alerts.",
		ConstLabels: cl,
	}))
	if err != nil {
		return nil, err
	}
	writeFailures, err := promreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "vllm_sentinel_outbox_write_failures_total",
		Help:        "Failed writes of outbox files; the notification is then kept in memory only.",
		ConstLabels: cl,
	}))
	if err != nil {
		return nil, err
	}
	corruptFiles, err := promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "vllm_sentinel_outbox_corrupt_total",
		Help:        "Damaged files found in the outbox directory at start, by file (outbox: a notification, groups: the alert groups), and moved aside; what could be read of them is kept.",
		ConstLabels: cl,
	}, []string{"file"}))
	if err != nil {
		return nil, err
	}
	// Both series exist from the start, so that an alert on an increase
	// sees the first one.
	corruptFiles.WithLabelValues(kindOutbox)
	corruptFiles.WithLabelValues(kindGroups)
	// The Dispatcher does not know the receiver's URL; its drops carry an
	// empty url.
	return &metrics{
		droppedFull:      dropped.WithLabelValues("", ReasonOutboxFull),
		droppedPermanent: dropped.WithLabelValues("", notify.ReasonPermanentError),
		droppedCorrupt:   dropped.WithLabelValues("", ReasonCorrupt),
		outboxLength:     outboxLength,
		groups:           groups,
		writeFailures:    writeFailures,
		corruptFiles:     corruptFiles,
	}, nil
}
