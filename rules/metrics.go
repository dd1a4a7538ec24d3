package rules

import (
	"cmp"
	"slices"
	"sort"
	"strings"
)

// Metric-name flavours: vLLM V1 names, V0 legacy names, and the vllm_ prefix
// that Ray and OpenTelemetry pipelines write.
const (
	FlavourAuto       = "auto"
	FlavourV1         = "v1"
	FlavourV0         = "v0"
	FlavourUnderscore = "underscore"
)

// vllmMetric is one vLLM metric under its V1 name, with its V0 legacy name
// where vLLM renamed it.
type vllmMetric struct {
	v1, v0 string
}

// catalog maps the short names that configs use to vLLM's metric names.
// Histograms are named by family (without _bucket), counters with _total.
var catalog = map[string]vllmMetric{
	"time_to_first_token":           {v1: "vllm:time_to_first_token_seconds"},
	"inter_token_latency":           {v1: "vllm:inter_token_latency_seconds", v0: "vllm:time_per_output_token_seconds"},
	"request_time_per_output_token": {v1: "vllm:request_time_per_output_token_seconds"},
	"e2e_request_latency":           {v1: "vllm:e2e_request_latency_seconds"},
	"request_queue_time":            {v1: "vllm:request_queue_time_seconds"},
	"request_prefill_time":          {v1: "vllm:request_prefill_time_seconds"},
	"request_decode_time":           {v1: "vllm:request_decode_time_seconds"},
	"kv_cache_usage_perc":           {v1: "vllm:kv_cache_usage_perc", v0: "vllm:gpu_cache_usage_perc"},
	"num_requests_waiting":          {v1: "vllm:num_requests_waiting"},
	"num_requests_running":          {v1: "vllm:num_requests_running"},
	"num_preemptions":               {v1: "vllm:num_preemptions_total"},
	"request_success":               {v1: "vllm:request_success_total"},
	// Read only to say why an alert fires (the diagnosis): the prompt and
	// generated tokens per request and the prefix cache's hit ratio.
	"prompt_tokens":        {v1: "vllm:prompt_tokens_total"},
	"generation_tokens":    {v1: "vllm:generation_tokens_total"},
	"prefix_cache_queries": {v1: "vllm:prefix_cache_queries_total"},
	"prefix_cache_hits":    {v1: "vllm:prefix_cache_hits_total"},
}

// ShortNames lists every metric of the catalog, sorted.
func ShortNames() []string {
	out := make([]string, 0, len(catalog))
	for k := range catalog {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// IsHistogram reports whether a catalog metric is a histogram family, which
// exists in Prometheus as name_bucket, name_sum and name_count.
func IsHistogram(short string) bool {
	return strings.HasSuffix(catalog[short].v1, "_seconds")
}

// IsShortName reports whether name is one of vLLM's metrics by short name
// (time_to_first_token) rather than a full metric name.
func IsShortName(name string) bool {
	_, ok := catalog[name]
	return ok
}

// MetricName returns the name of a vLLM metric in a flavour. A name that is
// not a short name is returned as it is: the user wrote the full name.
// FlavourAuto is resolved by the evaluator against what Prometheus has; here
// it means V1.
func MetricName(short, flavour string) string {
	m, ok := catalog[short]
	if !ok {
		return short
	}
	switch flavour {
	case FlavourV0:
		if m.v0 != "" {
			return m.v0
		}
		return m.v1
	case FlavourUnderscore:
		return strings.Replace(m.v1, "vllm:", "vllm_", 1)
	default:
		return m.v1
	}
}

// CandidateNames lists every name a metric may have, for detection: the
// flavours' names first (V1, V0, vllm_ for each), then the spellings that
// pipelines in front of Prometheus write — Ray's ray_vllm: prefix, an
// OpenTelemetry Collector's trimmed suffixes (a counter without _total, a
// histogram without its _seconds unit) and its _ratio for a unit-1 gauge.
func CandidateNames(short string) []string {
	m, ok := catalog[short]
	if !ok {
		return []string{short}
	}
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	bases := []string{m.v1}
	if m.v0 != "" {
		bases = append(bases, m.v0)
	}
	for _, b := range bases {
		add(b)
		add(strings.Replace(b, "vllm:", "vllm_", 1))
	}
	// The flavours' own names come first, V1 before V0, as before.
	slices.SortStableFunc(out, func(a, b string) int { return cmp.Compare(flavourRank(m, a), flavourRank(m, b)) })
	for _, b := range bases {
		name := strings.TrimPrefix(b, "vllm:")
		var spellings []string
		switch {
		case strings.HasSuffix(name, "_total"):
			spellings = []string{name, strings.TrimSuffix(name, "_total")}
		case strings.HasSuffix(name, "_seconds"):
			spellings = []string{name, strings.TrimSuffix(name, "_seconds")}
		case strings.HasSuffix(name, "_perc"):
			spellings = []string{name, name + "_ratio"}
		default:
			spellings = []string{name}
		}
		for _, prefix := range []string{"vllm:", "vllm_", "ray_vllm:", "ray_vllm_"} {
			for _, sp := range spellings {
				add(prefix + sp)
			}
		}
	}
	return out
}

// flavourRank orders the flavours' names: V1, V0, then their vllm_ forms.
func flavourRank(m vllmMetric, name string) int {
	switch name {
	case m.v1:
		return 0
	case m.v0:
		return 1
	case strings.Replace(m.v1, "vllm:", "vllm_", 1):
		return 2
	}
	return 3
}

// ShortNameOf finds which vLLM metric a series name belongs to, in any
// flavour, with the suffix that follows the metric's own name (for a
// histogram family: _bucket, _count or _sum). ok is false for other names.
func ShortNameOf(series string) (short, suffix string, ok bool) {
	for _, sn := range ShortNames() {
		for _, c := range CandidateNames(sn) {
			if series == c {
				return sn, "", true
			}
			if IsHistogram(sn) {
				for _, suf := range []string{"_bucket", "_count", "_sum"} {
					if series == c+suf {
						return sn, suf, true
					}
				}
			}
		}
	}
	return "", "", false
}
