package evaluator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"golang.org/x/sync/errgroup"

	"github.com/vllm-sentinel/vllm-sentinel/diagnosis"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
	"github.com/vllm-sentinel/vllm-sentinel/tracing"
)

// Why an alert fires is worked out only while it fires, and then not every
// cycle: the signals over an hour barely move in a few minutes, and each
// diagnosis reads two windows of about a dozen series per group.
const diagnosisRefresh = 5 * time.Minute

// indicatorEvidenceWindow is the shortest span an indicator's alert is
// diagnosed over: its own windows are a few minutes, too few requests for
// means per phase.
const indicatorEvidenceWindow = 10 * time.Minute

// TraceFinder looks up slow requests in a tracing backend.
type TraceFinder interface {
	SlowRequests(ctx context.Context, q tracing.Query) ([]tracing.Trace, error)
}

// TraceOptions configure the lookup of example traces for firing alerts.
type TraceOptions struct {
	Finder TraceFinder
	// Max is how many traces an alert carries (default 3).
	Max int
	// Timeout bounds the lookups of one cycle together (default 2s): a
	// slow backend delays a page by no more, a dead one by nothing.
	Timeout time.Duration
	// Retry is how often an alert without traces asks again (default 1m,
	// the resend interval).
	Retry time.Duration
}

// subject is one firing rule's groups that share a window: what one set of
// diagnosis queries answers.
type subject struct {
	key      string // "slo:ttft@1h", "indicator:kv-cache@10m"
	window   time.Duration
	focus    diagnosis.Focus
	groupBy  []string
	selector []*labels.Matcher
	// minTTFT is the TTFT (seconds) an example request must exceed; traces
	// is false for rules with no latency to show (error ratios).
	minTTFT float64
	traces  bool
	groups  []groupRef
}

// groupRef is where one group's diagnosis and traces go in the result.
type groupRef struct {
	labels map[string]string
	diag   **Diagnosis
	tl     *TraceLookup
}

type diagEntry struct {
	at      time.Time
	byGroup map[string]*Diagnosis
}

type traceEntry struct {
	tried  time.Time
	lookup TraceLookup
}

// explainer diagnoses firing alerts and finds their example traces,
// remembering both while the alerts fire.
type explainer struct {
	traces *TraceOptions

	mu     sync.Mutex
	diags  map[string]*diagEntry
	lookup map[string]*traceEntry
}

func newExplainer(t *TraceOptions) *explainer {
	if t != nil {
		cp := *t
		if cp.Max <= 0 {
			cp.Max = 3
		}
		if cp.Timeout <= 0 {
			cp.Timeout = 2 * time.Second
		}
		if cp.Retry <= 0 {
			cp.Retry = DefaultResendInterval
		}
		t = &cp
	}
	return &explainer{traces: t, diags: map[string]*diagEntry{}, lookup: map[string]*traceEntry{}}
}

// explain fills in the diagnosis and traces of every firing SLO group and
// active indicator in res, evaluated at ts (the query time).
func (e *Evaluator) explain(ctx context.Context, ts time.Time, res *Result) {
	if e.explainer == nil {
		return
	}
	subjects := e.subjects(res)
	x := e.explainer
	x.mu.Lock()
	defer x.mu.Unlock()
	usedDiag, usedTrace := map[string]bool{}, map[string]bool{}
	for _, s := range subjects {
		usedDiag[s.key] = true
		by := x.diagnoses(ctx, e, s, ts)
		for _, g := range s.groups {
			if d := by[groupKey(s.groupBy, g.labels)]; d != nil {
				*g.diag = d
			}
		}
	}
	if x.traces != nil {
		res.TraceLookupsFailed = x.findTraces(ctx, subjects, ts, usedTrace)
	}
	for k := range x.diags {
		if !usedDiag[k] {
			delete(x.diags, k)
		}
	}
	for k := range x.lookup {
		if !usedTrace[k] {
			delete(x.lookup, k)
		}
	}
}

// subjects lists what fires in res, grouped by rule and window.
func (e *Evaluator) subjects(res *Result) []*subject {
	byKey := map[string]*subject{}
	var out []*subject
	add := func(s *subject, g groupRef) {
		if have := byKey[s.key]; have != nil {
			have.groups = append(have.groups, g)
			return
		}
		s.groups = []groupRef{g}
		byKey[s.key] = s
		out = append(out, s)
	}
	slos := map[string]*rules.SLO{}
	minTTFT := 0.0
	for _, s := range e.slos {
		slos[s.Name] = s
		if s.Latency != nil && s.Latency.Metric == "time_to_first_token" && (minTTFT == 0 || s.Latency.Threshold < minTTFT) {
			minTTFT = s.Latency.Threshold
		}
	}
	for i := range res.SLOs {
		r := &res.SLOs[i]
		slo := slos[r.SLO]
		if len(r.Firing) == 0 || slo == nil {
			continue
		}
		// The most urgent pair's window: the page's, when a page fires.
		w := r.Firing[0].LongWindow.D()
		for _, f := range r.Firing {
			w = min(w, f.LongWindow.D())
		}
		s := &subject{key: fmt.Sprintf("slo:%s@%s", r.SLO, model.Duration(w)), window: w, groupBy: slo.GroupBy,
			selector: slo.Selector, focus: diagnosis.FocusErrors}
		if slo.Latency != nil {
			s.focus = diagnosis.FocusOf(slo.Latency.Metric)
			s.traces = true
			if slo.Latency.Metric == "time_to_first_token" {
				s.minTTFT = slo.Latency.Threshold
			} else {
				s.minTTFT = minTTFT
			}
		}
		add(s, groupRef{labels: r.Labels, diag: &r.Diagnosis, tl: &r.TraceLookup})
	}
	indicators := map[string]*rules.Indicator{}
	for _, in := range e.indicators {
		indicators[in.Name] = in
	}
	for i := range res.Indicators {
		r := &res.Indicators[i]
		in := indicators[r.Indicator]
		if !r.Active || in == nil {
			continue
		}
		w := max(in.Window(), indicatorEvidenceWindow).Round(time.Minute)
		s := &subject{key: fmt.Sprintf("indicator:%s@%s", in.Name, model.Duration(w)), window: w,
			groupBy: in.GroupBy, selector: e.opts.Names.selector, focus: diagnosis.FocusTTFT, traces: true, minTTFT: minTTFT}
		if in.Kind == rules.KindLatencyPercentile && len(in.Metrics) > 0 {
			s.focus = diagnosis.FocusOf(in.Metrics[0])
			if in.Metrics[0] == "time_to_first_token" {
				s.minTTFT = in.Threshold()
			}
		}
		add(s, groupRef{labels: r.Group(), diag: &r.Diagnosis, tl: &r.TraceLookup})
	}
	return out
}

// diagnoses returns the subject's diagnosis per group, from the cache while
// it is fresh.
func (x *explainer) diagnoses(ctx context.Context, e *Evaluator, s *subject, ts time.Time) map[string]*Diagnosis {
	if have := x.diags[s.key]; have != nil && !ts.Before(have.at) && ts.Sub(have.at) < diagnosisRefresh && covers(have, s) {
		return have.byGroup
	}
	by, err := e.diagnose(ctx, s, ts)
	if err != nil {
		// A diagnosis is advice: the alert goes out without it.
		e.opts.Logger.Warn("diagnosis failed", "subject", s.key, "err", err)
		if have := x.diags[s.key]; have != nil {
			return have.byGroup
		}
		return nil
	}
	x.diags[s.key] = &diagEntry{at: ts, byGroup: by}
	return by
}

// covers reports whether a cached diagnosis has every group now firing: a
// group that starts firing is diagnosed at once, not at the next refresh.
func covers(d *diagEntry, s *subject) bool {
	for _, g := range s.groups {
		if d.byGroup[groupKey(s.groupBy, g.labels)] == nil {
			return false
		}
	}
	return true
}

// diagnose queries the signals of s's window and baseline at ts and names
// each firing group's cause.
func (e *Evaluator) diagnose(ctx context.Context, s *subject, ts time.Time) (map[string]*Diagnosis, error) {
	src := diagnosis.Source{PromQL: e.promql, Names: e.opts.Names.Name, Native: e.opts.Names.Native, Selector: s.selector, GroupBy: s.groupBy}
	qs, err := diagnosis.Queries(src, s.window)
	if err != nil {
		return nil, err
	}
	// values[group][signal][span]
	values := map[string]map[string]map[string]float64{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.opts.Parallel)
	for _, q := range qs {
		g.Go(func() error {
			vec, err := vector(gctx, e.q, q.Expr, ts)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, smp := range vec {
				k := groupKey(s.groupBy, stringMap(model.LabelSet(smp.Metric)))
				if values[k] == nil {
					values[k] = map[string]map[string]float64{}
				}
				if values[k][q.Signal] == nil {
					values[k][q.Signal] = map[string]float64{}
				}
				values[k][q.Signal][string(smp.Metric[diagnosis.SpanLabel])] = float64(smp.Value)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := map[string]*Diagnosis{}
	for _, gr := range s.groups {
		k := groupKey(s.groupBy, gr.labels)
		d := diagnosis.Attribute(s.focus, rules.Duration(s.window), diagnosis.Signals(values[k]))
		out[k] = &d
	}
	return out, nil
}

// groupKey names a group by the values of its grouping labels, the same
// for a result's labels and a query's series.
func groupKey(groupBy []string, ls map[string]string) string {
	keys := slices.Clone(groupBy)
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(ls[k])
		b.WriteByte(',')
	}
	return b.String()
}

// findTraces attaches example traces to every firing group, asking the
// backend for those that have none yet, all within one timeout. It
// returns how many lookups failed.
func (x *explainer) findTraces(ctx context.Context, subjects []*subject, ts time.Time, used map[string]bool) int {
	type ask struct {
		entry *traceEntry
		q     tracing.Query
	}
	var asks []ask
	for _, s := range subjects {
		if !s.traces {
			continue
		}
		for _, g := range s.groups {
			k := s.key + "|" + groupKey(s.groupBy, g.labels)
			used[k] = true
			en := x.lookup[k]
			if en == nil {
				en = &traceEntry{}
				x.lookup[k] = en
			}
			if len(en.lookup.Traces) == 0 && (en.tried.IsZero() || ts.Sub(en.tried) >= x.traces.Retry || ts.Before(en.tried)) {
				en.tried = ts
				asks = append(asks, ask{entry: en, q: tracing.Query{
					Model: g.labels["model_name"], Start: ts.Add(-s.window), End: ts, MinTTFT: s.minTTFT, Limit: x.traces.Max,
				}})
			}
		}
	}
	failed := 0
	if len(asks) > 0 {
		tctx, cancel := context.WithTimeout(ctx, x.traces.Timeout)
		defer cancel()
		results := make([]TraceLookup, len(asks))
		// A failed lookup is an answer (unavailable), not a reason to
		// cancel the others.
		var g errgroup.Group
		g.SetLimit(8)
		for i, a := range asks {
			g.Go(func() error {
				trs, err := x.traces.Finder.SlowRequests(tctx, a.q)
				if err != nil {
					results[i] = TraceLookup{TracesUnavailable: true, TracesError: err.Error()}
					return nil
				}
				results[i] = TraceLookup{Traces: trs}
				return nil
			})
		}
		_ = g.Wait()
		for i, a := range asks {
			a.entry.lookup = results[i]
			if results[i].TracesUnavailable {
				failed++
			}
		}
	}
	for _, s := range subjects {
		if !s.traces {
			continue
		}
		for _, g := range s.groups {
			if en := x.lookup[s.key+"|"+groupKey(s.groupBy, g.labels)]; en != nil {
				*g.tl = en.lookup
			}
		}
	}
	return failed
}

// explanation adds to a page why it fires: the cause with its numbers, and
// the example requests (or that the tracing backend did not answer).
func explanation(ann model.LabelSet, d *Diagnosis, tl TraceLookup) {
	if d != nil {
		w := d.Window.String()
		ann["cause"] = model.LabelValue(d.Cause)
		ann["cause_detail"] = model.LabelValue(fmt.Sprintf("%s (last %s vs the %s before)", d.Evidence, w, w))
	}
	switch {
	case tl.TracesUnavailable:
		ann["traces"] = "unavailable"
	case len(tl.Traces) > 0:
		ids, urls := make([]string, len(tl.Traces)), make([]string, 0, len(tl.Traces))
		for i, t := range tl.Traces {
			ids[i] = t.TraceID
			if t.URL != "" {
				urls = append(urls, t.URL)
			}
		}
		ann["example_traces"] = model.LabelValue(strings.Join(ids, " "))
		if len(urls) > 0 {
			ann["example_trace_urls"] = model.LabelValue(strings.Join(urls, " "))
		}
	}
}
