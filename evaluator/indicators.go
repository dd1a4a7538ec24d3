package evaluator

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// evalIndicators runs each indicator's condition and value queries at ts.
// An indicator whose metric is absent is reported as such, not evaluated:
// an absent metric is not zero.
func (e *Evaluator) evalIndicators(ctx context.Context, ts time.Time, res *Result) {
	absent := map[string]bool{}
	for _, a := range e.opts.Names.Absent() {
		absent[a] = true
	}
	for _, in := range e.indicators {
		var missing []string
		for _, m := range in.Metrics {
			if absent[m] {
				missing = append(missing, e.opts.Names.Name(m))
			}
		}
		if len(missing) > 0 {
			res.Errors = append(res.Errors, EvalError{
				Indicator: in.Name, Absent: strings.Join(missing, ","),
				Error: (&AbsentError{Metric: strings.Join(missing, ","), Time: ts}).Error(),
			})
			continue
		}
		rs, err := e.evalIndicator(ctx, in, ts)
		if err != nil {
			ee := EvalError{Indicator: in.Name, Error: err.Error(), Unavailable: Retriable(err)}
			var qe *QueryError
			if errors.As(err, &qe) {
				ee.Query = qe.Query
			}
			e.opts.Logger.Error("indicator evaluation failed", "indicator", in.Name, "eval_time", ts, "err", err)
			res.Errors = append(res.Errors, ee)
			continue
		}
		res.Indicators = append(res.Indicators, rs...)
	}
}

func (e *Evaluator) evalIndicator(ctx context.Context, in *rules.Indicator, ts time.Time) ([]IndicatorResult, error) {
	q := e.q
	cq, vq := in.Query(e.promql, e.opts.Names.Name), in.ValueQuery(e.promql, e.opts.Names.Name)
	if (in.Kind == rules.KindLatencyPercentile || in.Kind == rules.KindQueueTime) && e.opts.Names.Native(in.Metrics[0]) {
		cq, vq = in.NativeQuery(e.promql, e.opts.Names.Name), in.NativeValueQuery(e.promql, e.opts.Names.Name)
	}
	cond, err := vector(ctx, q, cq, ts)
	if err != nil {
		return nil, err
	}
	values := cond
	if vq != cq {
		if values, err = vector(ctx, q, vq, ts); err != nil {
			return nil, err
		}
	}
	active := map[model.Fingerprint]bool{}
	for _, s := range cond {
		active[groupOf(s.Metric).Fingerprint()] = true
	}
	var out []IndicatorResult
	for _, s := range values {
		ls := groupOf(s.Metric)
		r := IndicatorResult{Indicator: in.Name, Labels: map[string]string{"indicator": in.Name}, Value: Float(s.Value),
			Threshold: Float(in.Threshold()), Active: active[ls.Fingerprint()]}
		for k, v := range ls {
			r.Labels[string(k)] = string(v)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return GroupString(out[i].Labels) < GroupString(out[j].Labels) })
	return out, nil
}

func vector(ctx context.Context, querier Querier, q string, ts time.Time) (model.Vector, error) {
	v, err := querier.Query(ctx, q, ts)
	if err != nil {
		return nil, err
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, &QueryError{Query: q, Err: fmt.Errorf("result is %s, want a vector", valueType(v))}
	}
	return vec, nil
}

// indicatorAnnotations are the summary and description of an indicator's
// alert for a group, worded by the indicator as rules export words it.
func indicatorAnnotations(in *rules.Indicator, group map[string]string, value float64) model.LabelSet {
	who := "the deployment"
	if len(group) > 0 {
		who = strings.TrimSpace(fmtGroup(group))
	}
	summary, description := in.AlertText(who, num(value), pct(value))
	return model.LabelSet{
		"summary":     model.LabelValue(summary),
		"description": model.LabelValue(description),
	}
}
