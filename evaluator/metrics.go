package evaluator

import (
	"context"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promreg"
)

// register registers c, or returns the collector already registered under
// the same descriptors: an engine rebuilt on reload keeps its counters.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	c, err := promreg.Register(reg, c)
	if err != nil {
		panic(err) // a descriptor clash between our own metrics: a programming error
	}
	return c
}

type engineMetrics struct {
	results           *resultCollector
	evalDuration      prometheus.Histogram
	evaluations       prometheus.Counter
	sloFailures       *prometheus.CounterVec
	iterationsMissed  prometheus.Counter
	stateSaveFailures prometheus.Counter
	lastEval          prometheus.Gauge
	prometheusUp      prometheus.Gauge
}

func newEngineMetrics(reg prometheus.Registerer) *engineMetrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &engineMetrics{
		evalDuration: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vllm_sentinel_evaluation_duration_seconds", Help: "Duration of evaluation cycles.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		})),
		evaluations: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vllm_sentinel_evaluations_total", Help: "Evaluation cycles run.",
		})),
		sloFailures: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vllm_sentinel_evaluation_failures_total", Help: "SLO evaluations that failed, by SLO.",
		}, []string{"slo"})),
		iterationsMissed: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vllm_sentinel_iterations_missed_total", Help: "Evaluation slots skipped because a cycle ran longer than the interval.",
		})),
		stateSaveFailures: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vllm_sentinel_state_save_failures_total", Help: "Failed writes of the alert state file.",
		})),
		lastEval: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vllm_sentinel_last_evaluation_timestamp_seconds", Help: "Time of the last evaluation cycle.",
		})),
		prometheusUp: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vllm_sentinel_prometheus_up", Help: "1 if the last cycle could query Prometheus, else 0.",
		})),
	}
	// The collector shows the engine that runs: Run switches it, so that
	// an engine built for a reload does not blank the gauges while the
	// old one finishes its cycle.
	m.results = register(reg, newResultCollector())
	return m
}

func (m *engineMetrics) observeCycle(d time.Duration, rep *Report) {
	m.evalDuration.Observe(d.Seconds())
	m.evaluations.Inc()
	m.lastEval.Set(float64(rep.Time.UnixNano()) / 1e9)
	for _, se := range rep.Errors {
		m.sloFailures.WithLabelValues(se.SLO).Inc()
	}
	if rep.ProbeError == nil {
		m.prometheusUp.Set(1)
	} else {
		m.prometheusUp.Set(0)
	}
}

// resultCollector exposes the latest evaluation: series of a group that is
// gone disappear instead of going stale at their last value.
type resultCollector struct {
	engine   atomic.Pointer[Engine]
	burnRate *prometheus.Desc
	errRatio *prometheus.Desc
	events   *prometheus.Desc
	budget   *prometheus.Desc
	firing   *prometheus.Desc
	alerts   *prometheus.Desc
	warming  *prometheus.Desc
}

func newResultCollector() *resultCollector {
	return &resultCollector{
		burnRate: prometheus.NewDesc("vllm_sentinel_slo_burn_rate", "Error-budget burn rate of an SLO over a window.", []string{"slo", "group", "window"}, nil),
		errRatio: prometheus.NewDesc("vllm_sentinel_slo_error_ratio", "Ratio of bad events of an SLO over a window.", []string{"slo", "group", "window"}, nil),
		events:   prometheus.NewDesc("vllm_sentinel_slo_events", "Events counted by an SLO over a window.", []string{"slo", "group", "window"}, nil),
		budget:   prometheus.NewDesc("vllm_sentinel_slo_budget_remaining_ratio", "Share of the error budget left over the SLO window (negative when overspent).", []string{"slo", "group"}, nil),
		warming:  prometheus.NewDesc("vllm_sentinel_slo_window_warming", "1 for a window the event store does not hold yet (its history is being read): its numbers are unknown and not exported.", []string{"slo", "group", "window"}, nil),
		firing:   prometheus.NewDesc("vllm_sentinel_slo_window_pair_firing", "1 if a long/short window pair of an SLO fires.", []string{"slo", "group", "long_window", "short_window", "severity"}, nil),
		alerts:   prometheus.NewDesc("vllm_sentinel_alerts", "Alerts held by the sentinel, by name and state.", []string{"alertname", "state"}, nil),
	}
}

func (c *resultCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.burnRate, c.errRatio, c.events, c.budget, c.firing, c.alerts, c.warming} {
		ch <- d
	}
}

func (c *resultCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.engine.Load()
	if e == nil {
		return
	}
	if res := e.Last(); res != nil {
		for _, r := range res.SLOs {
			group := GroupString(r.Labels)
			for _, w := range append(append([]WindowResult(nil), r.Windows...), r.Budget) {
				win := w.Window.String()
				if w.Warming {
					ch <- prometheus.MustNewConstMetric(c.warming, prometheus.GaugeValue, 1, r.SLO, group, win)
					continue
				}
				ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, w.Events, r.SLO, group, win)
				if w.BurnRate != nil {
					ch <- prometheus.MustNewConstMetric(c.burnRate, prometheus.GaugeValue, *w.BurnRate, r.SLO, group, win)
					ch <- prometheus.MustNewConstMetric(c.errRatio, prometheus.GaugeValue, *w.ErrorRatio, r.SLO, group, win)
				}
			}
			if r.BudgetRemaining != nil {
				ch <- prometheus.MustNewConstMetric(c.budget, prometheus.GaugeValue, *r.BudgetRemaining, r.SLO, group)
			}
			for _, f := range r.Firing {
				ch <- prometheus.MustNewConstMetric(c.firing, prometheus.GaugeValue, 1, r.SLO, group, f.LongWindow.String(), f.ShortWindow.String(), f.Severity)
			}
		}
	}
	counts := map[[2]string]float64{}
	for _, a := range e.Alerts() {
		state := a.State.String()
		if a.State == StateInactive {
			state = "resolved"
		}
		counts[[2]string{string(a.Labels[model.AlertNameLabel]), state}]++
	}
	for k, v := range counts {
		ch <- prometheus.MustNewConstMetric(c.alerts, prometheus.GaugeValue, v, k[0], k[1])
	}
}

// GroupString renders a group's labels sorted, as "k=v,k=v": the group label
// of the sentinel's own metrics and the group column of eval's table.
func GroupString(m map[string]string) string { return joinLabels(m, ",") }

func joinLabels(m map[string]string, sep string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, sep)
}

// instrumentedQuerier counts queries, failures and their duration.
type instrumentedQuerier struct {
	q        Querier
	total    prometheus.Counter
	failures prometheus.Counter
	duration prometheus.Histogram
}

// Instrument wraps q with query metrics registered on reg.
func Instrument(q Querier, reg prometheus.Registerer) Querier {
	if reg == nil {
		return q
	}
	return &instrumentedQuerier{
		q: q,
		total: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vllm_sentinel_queries_total", Help: "Queries sent to Prometheus (each attempt counts).",
		})),
		failures: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vllm_sentinel_query_failures_total", Help: "Queries to Prometheus that failed.",
		})),
		duration: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vllm_sentinel_query_duration_seconds", Help: "Duration of queries to Prometheus.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20},
		})),
	}
}

func (i *instrumentedQuerier) Query(ctx context.Context, q string, ts time.Time) (model.Value, error) {
	start := time.Now()
	v, err := i.q.Query(ctx, q, ts)
	i.duration.Observe(time.Since(start).Seconds())
	i.total.Inc()
	if err != nil {
		i.failures.Inc()
	}
	return v, err
}
