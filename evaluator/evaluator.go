package evaluator

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// Options tune an Evaluator; zero values get defaults.
type Options struct {
	Logger *slog.Logger
	// Names maps a metric's short name (time_to_first_token) to the name
	// Prometheus has; nil means vLLM V1 names.
	Names *Names
	// Parallel bounds the concurrent queries of one SLO (default 4).
	Parallel int
	// Events, when set, keeps each SLO's events in a store fed step by
	// step; without it every window is queried in full.
	Events *EventOptions
	// QueryOffset evaluates this far behind the time asked for, as a
	// Prometheus rule group's query_offset: samples that a remote-write
	// backend receives late are in by then.
	QueryOffset time.Duration
	// Diagnose names the cause of every firing SLO pair and indicator
	// (see package diagnosis); Traces, when set, also finds their slow
	// requests in a tracing backend.
	Diagnose bool
	Traces   *TraceOptions
}

// Evaluator evaluates SLOs at explicit times. It never reads the clock: the
// live loop, eval --at and backtests all pass the time in.
type Evaluator struct {
	q          Querier
	slos       []*rules.SLO
	indicators []*rules.Indicator
	promql     *rules.PromQL
	opts       Options
	events     *eventStores
	explainer  *explainer
}

// New returns an Evaluator of SLOs and indicators over q.
func New(q Querier, slos []*rules.SLO, indicators []*rules.Indicator, opts Options) *Evaluator {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Names == nil {
		opts.Names = NewNames(rules.FlavourV1, nil, nil, opts.Logger)
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	e := &Evaluator{q: q, slos: slos, indicators: indicators, promql: rules.NewPromQL(), opts: opts}
	if opts.Events != nil {
		e.events = newEventStores(*opts.Events, opts.Logger)
	}
	if opts.Diagnose || opts.Traces != nil {
		e.explainer = newExplainer(opts.Traces)
	}
	return e
}

// SaveEvents writes the event stores changed since they were last saved,
// when their save period has passed or force is set (at shutdown).
func (e *Evaluator) SaveEvents(now time.Time, force bool) error {
	if e.events == nil {
		return nil
	}
	return e.events.Save(now, force)
}

// EventStoreSize is the groups the event stores hold, summed over SLOs,
// and the bytes their slots take.
func (e *Evaluator) EventStoreSize() (groups, bytes int) {
	if e.events == nil {
		return 0, 0
	}
	e.events.mu.Lock()
	defer e.events.mu.Unlock()
	for _, ss := range e.events.stores {
		groups += ss.st.Len()
		bytes += ss.st.Bytes()
	}
	return groups, bytes
}

// AdoptEvents takes over old's event stores of SLOs that did not change: a
// reload keeps them.
func (e *Evaluator) AdoptEvents(old *Evaluator) {
	if e.events != nil && old != nil {
		e.events.adopt(old.events, e.slos)
	}
}

// Names is the evaluator's metric-name resolver.
func (e *Evaluator) Names() *Names { return e.opts.Names }

// Eval evaluates every SLO and indicator at ts. One that fails is reported
// in Result.Errors and does not stop the others. The error is the probe's:
// metric-name detection is the first query of every evaluation, so its
// failure says that Prometheus does not answer at all, even with no SLO
// configured.
func (e *Evaluator) Eval(ctx context.Context, ts time.Time) (*Result, error) {
	res := &Result{Time: ts, SLOs: []SLOResult{}, Indicators: []IndicatorResult{}}
	ts = ts.Add(-e.opts.QueryOffset)
	probeErr := e.opts.Names.Detect(ctx, e.q, ts)
	if probeErr != nil {
		e.opts.Logger.Warn("metric name detection failed; keeping the previous names", "err", probeErr)
	}
	if probeErr == nil {
		res.TargetsDown = e.targetsDown(ctx, ts)
		res.AllTargetsDown = len(res.TargetsDown) > 0 && slices.Contains(e.opts.Names.Absent(), "num_requests_waiting")
	}
	e.evalSLOs(ctx, ts, res)
	e.evalIndicators(ctx, ts, res)
	e.explain(ctx, ts, res)
	return res, probeErr
}

// targetsLookback is how far back a target counts as a vLLM server: long
// enough to cover an outage whose pages stay frozen meanwhile.
const targetsLookback = time.Hour

// targetsDown lists the vLLM targets failing their scrape. It is advice
// on top of the SLOs: a failed query leaves it empty and is only logged.
func (e *Evaluator) targetsDown(ctx context.Context, ts time.Time) []map[string]string {
	// Most cycles no target is down, which one sample per target says;
	// only then is the lookback read that tells vLLM's targets apart.
	if down, err := vector(ctx, e.q, e.promql.AnyTargetDown(e.opts.Names.selector), ts); err == nil && len(down) == 0 {
		return nil
	}
	q := e.promql.TargetsDown(e.opts.Names.Name("num_requests_waiting"), e.opts.Names.selector, targetsLookback)
	vec, err := vector(ctx, e.q, q, ts)
	if err != nil {
		e.opts.Logger.Debug("target health query failed", "err", err)
		return nil
	}
	var out []map[string]string
	for _, s := range vec {
		out = append(out, map[string]string{"job": string(s.Metric["job"]), "instance": string(s.Metric["instance"])})
	}
	return out
}

// over returns a copy of the evaluator that queries q: a replay of past
// times through a range cache.
func (e *Evaluator) over(q Querier) *Evaluator {
	cp := *e
	cp.q = q
	// Replays of the past query their windows: the stores hold the present.
	// Nor do they explain: their alerts are never sent.
	cp.events = nil
	cp.explainer = nil
	return &cp
}

func (e *Evaluator) evalSLOs(ctx context.Context, ts time.Time, res *Result) {
	for _, s := range e.slos {
		ev := &sloEval{q: e.q, promql: e.promql, slo: s, names: e.opts.Names.Name, native: e.opts.Names.Native, parallel: e.opts.Parallel, events: e.events}
		rs, err := ev.run(ctx, ts)
		if err != nil {
			se := EvalError{SLO: s.Name, Error: err.Error(), Unavailable: Retriable(err)}
			var qe *QueryError
			if errors.As(err, &qe) {
				se.Query = qe.Query
			}
			var ae *AbsentError
			if errors.As(err, &ae) {
				se.Absent = ae.Metric
			}
			if se.Absent != "" {
				// Raised as SentinelNoData; an error line every cycle would drown the log.
				e.opts.Logger.Debug("SLO metric absent", "slo", s.Name, "eval_time", ts, "metric", se.Absent)
			} else {
				e.opts.Logger.Error("SLO evaluation failed", "slo", s.Name, "eval_time", ts, "err", err)
			}
			res.Errors = append(res.Errors, se)
			continue
		}
		res.SLOs = append(res.SLOs, rs...)
	}
}
