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
	if in.Kind == rules.KindLatencyPercentile && e.opts.Names.Native(in.Metrics[0]) {
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

// indicatorNotes say what each built-in signal means and what usually helps.
var indicatorNotes = map[string]struct{ summary, remedy string }{
	rules.KindQueueGrowth: {"requests have kept waiting at %s, and the queue grows (%s requests/s, threshold %s) or stays deep",
		"Arrivals exceed what the engines finish: TTFT will climb. Add replicas or shed load; check for a traffic surge or a slower model version."},
	rules.KindPreemptionRate: {"%s preempts %s requests/s (threshold %s)",
		"The KV cache is full and vLLM evicts running requests to recompute them later, which costs throughput and latency. Raise gpu_memory_utilization, lower max_num_seqs or max_model_len, or add replicas."},
	rules.KindKVCachePressure: {"the KV cache of %s is %s full (threshold %s)",
		"When the cache fills, vLLM preempts requests. Raise gpu_memory_utilization, lower max_num_seqs, enable prefix caching, or add replicas."},
	rules.KindQueueStall: {"%s has %s requests waiting and none finishing (floor %s)",
		"The scheduler is not making progress: a hung engine, a deadlock or a crashed worker. Check the engine logs and GPU health; restart the replica."},
	rules.KindSaturation: {"the fullest engine of %s runs %s of its max_num_seqs (threshold %s)",
		"The running batch is close to vLLM's limit: once it is full, new requests wait and TTFT climbs. Add replicas or shed load before the queue forms; raise max_num_seqs if the KV cache has room."},
	rules.KindQueueTime: {"requests at %s wait %ss in the queue on average (threshold %ss), again and again",
		"Arrivals now and then find the batch full: load is close to capacity, and a little more makes the queue grow without bound. Add replicas or shed load now; check max_num_seqs and the KV cache."},
	rules.KindLatencyPercentile: {"the latency percentile of %s is %ss (threshold %ss)",
		"A fast signal over a short window, not an SLO: look at batch size, prompt lengths and preemptions for the cause."},
}

func indicatorAnnotations(in *rules.Indicator, group map[string]string, value float64) model.LabelSet {
	who := "the deployment"
	if len(group) > 0 {
		who = strings.TrimSpace(fmtGroup(group))
	}
	n, ok := indicatorNotes[in.Kind]
	if !ok {
		return model.LabelSet{
			"summary":     model.LabelValue(fmt.Sprintf("indicator %s holds for %s (value %s)", in.Name, who, num(value))),
			"description": model.LabelValue(fmt.Sprintf("The custom condition of indicator %s holds.", in.Name)),
		}
	}
	v, th := num(value), num(in.Threshold())
	summary := fmt.Sprintf("Leading indicator %s: "+n.summary, in.Name, who, v, th)
	if in.Kind == rules.KindKVCachePressure || in.Kind == rules.KindSaturation {
		summary = fmt.Sprintf("Leading indicator %s: "+n.summary, in.Name, who, pct(value), pct(in.Threshold()))
		if in.For > 0 {
			// The value is the level held for "for" of the window.
			what := "the KV cache of %s stayed %s full"
			if in.Kind == rules.KindSaturation {
				what = "the fullest engine of %s stayed at %s of its max_num_seqs"
			}
			summary = fmt.Sprintf("Leading indicator %s: "+what+" or more for %s of the last %s (threshold %s)",
				in.Name, who, pct(value), rules.Duration(in.For), rules.Duration(max(in.Window(), in.For)), pct(in.Threshold()))
		}
	}
	return model.LabelSet{
		"summary":     model.LabelValue(summary),
		"description": model.LabelValue(n.remedy),
	}
}
