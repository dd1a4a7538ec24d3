package diagnosis

import (
	"fmt"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// The signals compared. Phase times are means per request, from the
// histograms' sums and counts; tokens and preemptions are per finished
// request; KV usage is the highest any engine reached.
const (
	SignalTTFT           = "ttft"
	SignalE2E            = "e2e_latency"
	SignalQueue          = "queue_time"
	SignalPrefill        = "prefill_time"
	SignalDecode         = "decode_time"
	SignalDecodePerToken = "decode_time_per_token"
	SignalPromptTokens   = "prompt_tokens"
	SignalPrefixHitRatio = "prefix_cache_hit_ratio"
	SignalPreemptions    = "preemptions_per_request"
	SignalKVUsage        = "kv_cache_usage"
	SignalWaiting        = "waiting"
	SignalRunning        = "running"
	SignalErrorRatio     = "error_ratio"
)

// Units of signals.
const (
	UnitSeconds = "s"
	UnitRatio   = "ratio"
	UnitTokens  = "tokens"
)

// SpanLabel tells the window's value from the baseline's in a query's
// result.
const SpanLabel = "__sentinel_span"

// Values of SpanLabel.
const (
	SpanWindow   = "window"
	SpanBaseline = "baseline"
)

type signalDef struct {
	name, label, unit string
	// expr is the signal over [1m] under vLLM's V1 names; ranges, names,
	// matchers and grouping are set on its AST.
	expr func(h histograms) string
}

// histograms writes a histogram family's total and mean per observation,
// classic or native as Prometheus holds it.
type histograms struct{ native func(short string) bool }

func (h histograms) isNative(family string) bool {
	short, _, _ := rules.ShortNameOf(family)
	return h.native != nil && h.native(short)
}

func (h histograms) total(family string) string {
	if h.isNative(family) {
		return `histogram_sum(sum(increase(` + family + `[1m])))`
	}
	return `sum(increase(` + family + `_sum[1m]))`
}

func (h histograms) mean(family string) string {
	if h.isNative(family) {
		return h.total(family) + ` / histogram_count(sum(increase(` + family + `[1m])))`
	}
	return h.total(family) + ` / sum(increase(` + family + `_count[1m]))`
}

func signalDefs() []signalDef {
	const success = `vllm:request_success_total`
	perRequest := func(counter string) string {
		return `sum(increase(` + counter + `[1m])) / sum(increase(` + success + `[1m]))`
	}
	return []signalDef{
		{SignalTTFT, "TTFT", UnitSeconds, func(h histograms) string { return h.mean("vllm:time_to_first_token_seconds") }},
		{SignalE2E, "e2e latency", UnitSeconds, func(h histograms) string { return h.mean("vllm:e2e_request_latency_seconds") }},
		{SignalQueue, "queue time", UnitSeconds, func(h histograms) string { return h.mean("vllm:request_queue_time_seconds") }},
		{SignalPrefill, "prefill", UnitSeconds, func(h histograms) string { return h.mean("vllm:request_prefill_time_seconds") }},
		{SignalDecode, "decode", UnitSeconds, func(h histograms) string { return h.mean("vllm:request_decode_time_seconds") }},
		{SignalDecodePerToken, "decode time per token", UnitSeconds, func(h histograms) string {
			// The decode phase's total time over the tokens it generated.
			return h.total("vllm:request_decode_time_seconds") + ` / sum(increase(vllm:generation_tokens_total[1m]))`
		}},
		{SignalPromptTokens, "prompt length", UnitTokens, func(histograms) string { return perRequest(`vllm:prompt_tokens_total`) }},
		{SignalPrefixHitRatio, "prefix-cache hits", UnitRatio, func(histograms) string {
			return `sum(increase(vllm:prefix_cache_hits_total[1m])) / sum(increase(vllm:prefix_cache_queries_total[1m]))`
		}},
		{SignalPreemptions, "preemptions per request", "", func(histograms) string { return perRequest(`vllm:num_preemptions_total`) }},
		{SignalKVUsage, "KV peak", "", func(histograms) string { return `max(max_over_time(vllm:kv_cache_usage_perc[1m]))` }},
		{SignalWaiting, "waiting", "", func(histograms) string { return `sum(avg_over_time(vllm:num_requests_waiting[1m]))` }},
		{SignalRunning, "running", "", func(histograms) string { return `sum(avg_over_time(vllm:num_requests_running[1m]))` }},
		{SignalErrorRatio, "error ratio", UnitRatio, func(histograms) string {
			// vLLM labels finished_reason; some servers (llm-d's simulator)
			// finish_reason.
			return `sum(increase(` + success + `{finished_reason="error"}[1m]) or increase(` + success + `{finish_reason="error"}[1m])) / sum(increase(` + success + `[1m]))`
		}},
	}
}

func labelOf(name string) string {
	for _, d := range signalDefs() {
		if d.name == name {
			return d.label
		}
	}
	return name
}

// Source is where the signals are read: the metric names Prometheus has,
// which histograms are native, the selector and the alert's grouping.
type Source struct {
	PromQL   *rules.PromQL
	Names    func(short string) string
	Native   func(short string) bool
	Selector []*labels.Matcher
	GroupBy  []string
}

// Query reads one signal over the window and its baseline at once; its
// series carry SpanLabel.
type Query struct {
	Signal string
	Expr   string
}

// Queries are the signals' queries over window w, which ends at the
// evaluation time, against the span of w before it.
func Queries(src Source, w time.Duration) ([]Query, error) {
	var out []Query
	for _, d := range signalDefs() {
		tmpl := d.expr(histograms{native: src.Native})
		win, err := src.span(tmpl, w, 0)
		if err != nil {
			return nil, fmt.Errorf("signal %s: %w", d.name, err)
		}
		base, err := src.span(tmpl, w, w)
		if err != nil {
			return nil, fmt.Errorf("signal %s: %w", d.name, err)
		}
		expr := fmt.Sprintf(`label_replace(%s, %q, %q, "", "") or label_replace(%s, %q, %q, "", "")`,
			win, SpanLabel, SpanWindow, base, SpanLabel, SpanBaseline)
		if _, err := src.PromQL.ParseExpr(expr); err != nil {
			return nil, fmt.Errorf("signal %s: %w", d.name, err)
		}
		out = append(out, Query{Signal: d.name, Expr: expr})
	}
	return out, nil
}

// span is tmpl over w ending offset before the evaluation time.
func (src Source) span(tmpl string, w, offset time.Duration) (string, error) {
	e, err := src.PromQL.ParseExpr(tmpl)
	if err != nil {
		return "", err
	}
	rules.RenameVLLM(e, src.Names)
	rules.InjectMatchers(e, src.Selector)
	rules.SetRanges(e, w)
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.AggregateExpr:
			n.Grouping = append([]string(nil), src.GroupBy...)
		case *parser.VectorSelector:
			n.OriginalOffset = offset
		}
		return nil
	})
	return e.String(), nil
}

// Signals turns the queries' answers into signals, in the order of the
// definitions: values[signal][span] per group, missing where no series
// answered. NaN and infinities (a ratio over no requests) are no data.
func Signals(values map[string]map[string]float64) []Signal {
	var out []Signal
	for _, d := range signalDefs() {
		g := Signal{Name: d.name, Unit: d.unit}
		if v, ok := values[d.name][SpanWindow]; ok && finite(v) {
			g.Window = &v
		}
		if v, ok := values[d.name][SpanBaseline]; ok && finite(v) {
			g.Baseline = &v
		}
		out = append(out, g)
	}
	return out
}

func finite(v float64) bool { return v == v && v < 1e300 && v > -1e300 }
