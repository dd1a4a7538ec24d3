package evaluator

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// Options tune an Evaluator; zero values get defaults.
type Options struct {
	Logger *slog.Logger
	// Names maps a metric's short name (time_to_first_token) to the name
	// Prometheus has; nil means vLLM V1 names.
	Names func(short string) string
	// Parallel bounds the concurrent queries of one SLO (default 4).
	Parallel int
}

// Evaluator evaluates SLOs at explicit times. It never reads the clock: the
// live loop, eval --at and backtests all pass the time in.
type Evaluator struct {
	q      Querier
	slos   []*rules.SLO
	promql *rules.PromQL
	opts   Options
}

// New returns an Evaluator over q.
func New(q Querier, slos []*rules.SLO, opts Options) *Evaluator {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Names == nil {
		opts.Names = func(s string) string { return rules.MetricName(s, rules.FlavourV1) }
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	return &Evaluator{q: q, slos: slos, promql: rules.NewPromQL(), opts: opts}
}

// Eval evaluates every SLO at ts. An SLO that fails is reported in
// Result.Errors and does not stop the others.
func (e *Evaluator) Eval(ctx context.Context, ts time.Time) *Result {
	res := &Result{Time: ts, SLOs: []SLOResult{}}
	for _, s := range e.slos {
		ev := &sloEval{q: e.q, promql: e.promql, slo: s, names: e.opts.Names, parallel: e.opts.Parallel}
		rs, err := ev.run(ctx, ts)
		if err != nil {
			se := SLOError{SLO: s.Name, Error: err.Error(), Unavailable: Retriable(err)}
			var qe *QueryError
			if errors.As(err, &qe) {
				se.Query = qe.Query
			}
			var ae *AbsentError
			if errors.As(err, &ae) {
				se.Absent = ae.Metric
			}
			e.opts.Logger.Error("SLO evaluation failed", "slo", s.Name, "time", ts, "err", err)
			res.Errors = append(res.Errors, se)
			continue
		}
		res.SLOs = append(res.SLOs, rs...)
	}
	return res
}
