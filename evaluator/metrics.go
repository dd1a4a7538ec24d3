package evaluator

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promreg"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
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
	traceFailures     prometheus.Counter
	// dropWindows leaves the alerting windows' series out of /metrics
	// (SetWindowMetrics).
	dropWindows atomic.Bool
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
		traceFailures: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vllm_sentinel_trace_lookups_failed_total",
			Help: "Lookups of a firing alert's example traces that the tracing backend did not answer in time; the alert went out with traces: unavailable.",
		})),
	}
	// The collectors show the engine that runs: Run switches it, so that
	// an engine built for a reload does not blank the gauges while the
	// old one finishes its cycle. The result series have per-SLO label
	// sets, so their collector is unchecked and a second registration
	// would export everything twice: it is registered with the checked
	// alert collector, which a reload finds already registered.
	ac := newAlertCollector()
	if got := register(reg, ac); got != ac {
		ac = got
	} else if err := reg.Register(ac.results); err != nil {
		panic(err) // an unchecked collector cannot clash
	}
	m.results = ac.results
	return m
}

func (m *engineMetrics) observeCycle(d time.Duration, rep *Report) {
	m.evalDuration.Observe(d.Seconds())
	m.evaluations.Inc()
	m.lastEval.Set(float64(rep.Time.UnixNano()) / 1e9)
	for _, se := range rep.Errors {
		m.sloFailures.WithLabelValues(se.SLO).Inc()
	}
	m.traceFailures.Add(float64(rep.TraceLookupsFailed))
	if rep.ProbeError == nil {
		m.prometheusUp.Set(1)
	} else {
		m.prometheusUp.Set(0)
	}
}

// SetWindowMetrics chooses whether /metrics shows each alerting window's
// burn rate, error ratio and events (the default) or, with perWindow
// false, only the SLO window's: a fleet of 1,000 groups, 10 SLOs and 5
// indicators then takes 3.5 MB per scrape instead of 31 MB
// (metrics_size_test.go).
// The pairs that fire, the budgets and the indicators are shown either way.
func (e *Engine) SetWindowMetrics(perWindow bool) { e.metrics.dropWindows.Store(!perWindow) }

// ExportMetrics makes e the engine whose latest report the registry's
// result series show (SLO burn rates, budgets, indicators, alerts). Run
// does it when it starts; a caller that drives Cycle itself calls it.
func (e *Engine) ExportMetrics() { e.metrics.results.engine.Store(e) }

// Names of the series that show the latest evaluation on /metrics.
const (
	MetricSLOBurnRate        = "vllm_sentinel_slo_burn_rate"
	MetricSLOErrorRatio      = "vllm_sentinel_slo_error_ratio"
	MetricSLOEvents          = "vllm_sentinel_slo_events"
	MetricSLOBudgetRemaining = "vllm_sentinel_slo_budget_remaining_ratio"
	MetricSLOWindowWarming   = "vllm_sentinel_slo_window_warming"
	MetricSLOPairFiring      = "vllm_sentinel_slo_window_pair_firing"
	MetricSLOPairFactor      = "vllm_sentinel_slo_window_pair_factor"
	MetricIndicatorValue     = "vllm_sentinel_indicator_value"
	MetricIndicatorThreshold = "vllm_sentinel_indicator_threshold"
	MetricIndicatorState     = "vllm_sentinel_indicator_state"
	MetricAlerts             = "vllm_sentinel_alerts"
)

// ownLabels are the labels the sentinel's result series set themselves.
var ownLabels = map[string]bool{
	"slo": true, "window": true, "long_window": true, "short_window": true, "severity": true,
	"indicator": true, "state": true, "alertname": true,
}

// ExportedLabelPrefix is put before a group label whose name is one of the
// sentinel's own labels (slo, window, long_window, short_window, severity,
// indicator, state, alertname), as Prometheus renames a target's labels
// that clash with its own: a group_by: [severity] is exported as
// exported_severity and never overwrites the series' own severity.
const ExportedLabelPrefix = "exported_"

// ExportedLabel returns the name a group label has on /metrics: the label
// itself, or ExportedLabelPrefix and the label when it clashes with one of
// the sentinel's own.
func ExportedLabel(name string) string {
	if ownLabels[name] {
		return ExportedLabelPrefix + name
	}
	return name
}

// groupLabels returns a group's label names as exported, sorted by their
// names in the group, and their values. A renamed label that meets another
// group label of that name is prefixed again, so no two clash.
func groupLabels(m map[string]string) (names, values []string) {
	src := make([]string, 0, len(m))
	for k := range m {
		src = append(src, k)
	}
	sort.Strings(src)
	names, values = make([]string, len(src)), make([]string, len(src))
	for i, k := range src {
		n := ExportedLabel(k)
		for n != k && (has(m, n) || slices.Contains(names[:i], n)) {
			n = ExportedLabelPrefix + n
		}
		names[i], values[i] = n, m[k]
	}
	return names, values
}

func has(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// family is one result series family; its descriptors are made per label
// set, since each SLO and indicator has its own group labels.
type family struct {
	name, help string
	own        []string
}

var (
	famBurnRate  = family{MetricSLOBurnRate, "Error-budget burn rate of an SLO over a window, per group.", []string{"slo", "window"}}
	famErrRatio  = family{MetricSLOErrorRatio, "Ratio of bad events of an SLO over a window, per group.", []string{"slo", "window"}}
	famEvents    = family{MetricSLOEvents, "Events counted by an SLO over a window, per group.", []string{"slo", "window"}}
	famBudget    = family{MetricSLOBudgetRemaining, "Share of the error budget left over the SLO window, per group (negative when overspent).", []string{"slo"}}
	famWarming   = family{MetricSLOWindowWarming, "1 for a window the event store does not hold yet (its history is being read): its numbers are unknown and not exported.", []string{"slo", "window"}}
	famFiring    = family{MetricSLOPairFiring, "1 if a long/short window pair of an SLO fires for a group.", []string{"slo", "long_window", "short_window", "severity"}}
	famFactor    = family{MetricSLOPairFactor, "Burn-rate factor of a long/short window pair: the pair fires when both windows burn faster.", []string{"slo", "long_window", "short_window", "severity"}}
	famIndValue  = family{MetricIndicatorValue, "Value of a leading indicator for a group, as its alert compares it with the threshold.", []string{"indicator"}}
	famIndThresh = family{MetricIndicatorThreshold, "Threshold of a built-in leading indicator.", []string{"indicator"}}
	famIndState  = family{MetricIndicatorState, "1 for the state of a leading indicator's alert for a group: inactive, pending, firing or no_data.", []string{"indicator", "state"}}
)

// descs makes each family's descriptor once per set of group labels in a
// collection.
type descs map[string]*prometheus.Desc

func (d descs) get(f family, group []string) *prometheus.Desc {
	key := f.name + "\xff" + strings.Join(group, "\xff")
	desc, ok := d[key]
	if !ok {
		desc = prometheus.NewDesc(f.name, f.help, append(append([]string(nil), f.own...), group...), nil)
		d[key] = desc
	}
	return desc
}

// resultCollector exposes the latest evaluation: series of a group that is
// gone disappear instead of going stale at their last value. Each group
// label is a label of its own (model_name="llama"), exported as
// ExportedLabel names it. With SetWindowMetrics(false) the
// alerting windows' series are left out, and each SLO and group has only
// its budget, the SLO window's events, and the pairs that fire.
//
// It describes nothing (an unchecked collector): its label sets follow the
// config.
type resultCollector struct {
	engine atomic.Pointer[Engine]
}

func (c *resultCollector) Describe(chan<- *prometheus.Desc) {}

func (c *resultCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.engine.Load()
	if e == nil {
		return
	}
	d := descs{}
	gauge := func(f family, v float64, group, own []string, values []string) {
		ch <- prometheus.MustNewConstMetric(d.get(f, group), prometheus.GaugeValue, v, append(own, values...)...)
	}
	for _, s := range e.ev.slos {
		for _, w := range s.Windows {
			gauge(famFactor, w.Factor, nil, []string{s.Name, rules.Duration(w.Long).String(), rules.Duration(w.Short).String(), w.Severity}, nil)
		}
	}
	for _, in := range e.ev.indicators {
		if in.Kind != "custom" { // a custom expression has no threshold of its own
			gauge(famIndThresh, in.Threshold(), nil, []string{in.Name}, nil)
		}
	}
	rep := e.Last()
	if rep == nil {
		return
	}
	perWindow := !e.metrics.dropWindows.Load()
	for _, r := range rep.SLOs {
		names, values := groupLabels(r.Labels)
		window := func(w WindowResult) {
			win := w.Window.String()
			if w.Warming {
				gauge(famWarming, 1, names, []string{r.SLO, win}, values)
				return
			}
			gauge(famEvents, w.Events, names, []string{r.SLO, win}, values)
			if w.BurnRate != nil && perWindow {
				gauge(famBurnRate, *w.BurnRate, names, []string{r.SLO, win}, values)
				gauge(famErrRatio, *w.ErrorRatio, names, []string{r.SLO, win}, values)
			}
		}
		if perWindow {
			for _, w := range r.Windows {
				window(w)
			}
		}
		window(r.Budget)
		if r.BudgetRemaining != nil {
			gauge(famBudget, *r.BudgetRemaining, names, []string{r.SLO}, values)
		}
		for _, f := range r.Firing {
			gauge(famFiring, 1, names, []string{r.SLO, f.LongWindow.String(), f.ShortWindow.String(), f.Severity}, values)
		}
	}
	for _, st := range rep.Indicators {
		names, values := groupLabels(st.Group())
		if v := float64(st.Value); !math.IsNaN(v) {
			gauge(famIndValue, v, names, []string{st.Indicator}, values)
		}
		gauge(famIndState, 1, names, []string{st.Indicator, st.State}, values)
	}
}

// alertCollector counts the alerts the engine holds by name and state. It
// is checked, unlike resultCollector, whose registration it carries.
type alertCollector struct {
	results *resultCollector
	alerts  *prometheus.Desc
}

func newAlertCollector() *alertCollector {
	return &alertCollector{
		results: &resultCollector{},
		alerts:  prometheus.NewDesc(MetricAlerts, "Alerts held by the sentinel, by name and state.", []string{"alertname", "state"}, nil),
	}
}

func (c *alertCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.alerts }

func (c *alertCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.results.engine.Load()
	if e == nil {
		return
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

// GroupString renders a group's labels sorted, as "k=v,k=v": the group
// column of eval's table and the status page.
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
