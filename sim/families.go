package sim

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Flavours of metric naming the simulator can expose. They exist because the
// product must recognise every spelling real deployments produce.
const (
	// FlavourV1 is vLLM's V1 engine naming (the default).
	FlavourV1 = "v1"
	// FlavourV0 is the legacy naming: vllm:gpu_cache_usage_perc and
	// vllm:time_per_output_token_seconds instead of their V1 renames.
	FlavourV0 = "v0"
	// FlavourUnderscore replaces the "vllm:" prefix with "vllm_", as a Ray
	// metrics agent or an OpenTelemetry pipeline writes the names.
	FlavourUnderscore = "underscore"
	// FlavourOTel is what Prometheus stores from OpenTelemetry
	// instruments (vllm.time_to_first_token, unit s) sent over OTLP
	// without suffixes (UnderscoreEscapingWithoutSuffixes, or a Collector
	// with trimmed suffixes): vllm_ names, counters without _total,
	// histograms without _seconds, bucket bounds as OTLP writes them
	// (le="1").
	FlavourOTel = "otel"
	// FlavourRatio is vLLM's names after an OTLP translation that adds
	// suffixes: the KV gauge, of unit 1, becomes
	// vllm:kv_cache_usage_perc_ratio; le as OTLP writes it.
	FlavourRatio = "ratio"
	// FlavourRay is Ray Serve's metrics export: ray_ before every name.
	FlavourRay = "ray"
	// FlavourLLMD is llm-d's inference simulator: V1 names, no engine
	// label, no preemption metrics, and request_success labelled
	// finish_reason instead of finished_reason.
	FlavourLLMD = "llmd"
)

// Flavours lists the accepted Config.Flavour values.
func Flavours() []string {
	return []string{FlavourV1, FlavourV0, FlavourUnderscore, FlavourOTel, FlavourRatio, FlavourRay, FlavourLLMD}
}

// naming is how a flavour names and labels the families. The zero value is
// vLLM's V1 exposition.
type naming struct {
	prefix string // "vllm:" unless set
	v0     bool   // V0 legacy names of the renamed families
	// noTotal drops counters' _total, noUnit histograms' _seconds;
	// kvRatio appends _ratio to the KV gauge.
	noTotal, noUnit, kvRatio bool
	noEngine                 bool
	// finishLabel replaces finished_reason on request_success.
	finishLabel string
	// noPreemptions leaves out the preemption counter and histogram.
	noPreemptions bool
	// otlpLe writes bucket bounds as Prometheus's OTLP ingestion does
	// (strconv 'f': "1", "2560"), not as vLLM's Python client ("1.0").
	otlpLe bool
}

func namingOf(flavour string) naming {
	switch flavour {
	case FlavourV0:
		return naming{v0: true}
	case FlavourUnderscore:
		return naming{prefix: "vllm_"}
	case FlavourOTel:
		return naming{prefix: "vllm_", noTotal: true, noUnit: true, otlpLe: true}
	case FlavourRatio:
		return naming{kvRatio: true, otlpLe: true}
	case FlavourRay:
		return naming{prefix: "ray_vllm:"}
	case FlavourLLMD:
		return naming{noEngine: true, finishLabel: "finish_reason", noPreemptions: true}
	}
	return naming{}
}

// ServesOpenMetrics reports whether a live endpoint of the flavour offers
// OpenMetrics. Flavours that keep a counter without _total, or bounds as
// le="1", are served as the text format only: client_golang's OpenMetrics
// encoder would add _total and write le="1.0". llm-d's simulator, a Go
// program, serves client_golang's default, the text format, too.
func ServesOpenMetrics(flavour string) bool {
	n := namingOf(flavour)
	return !n.noTotal && !n.otlpLe && !n.noEngine
}

type metricType int

const (
	typeGauge metricType = iota
	typeCounter
	typeHistogram
)

func (t metricType) String() string {
	switch t {
	case typeGauge:
		return "gauge"
	case typeCounter:
		return "counter"
	default:
		return "histogram"
	}
}

// Finish reasons, in the order of the request_success series.
const (
	reasonStop = iota
	reasonLength
	reasonAbort
	reasonError
	numReasons
)

var finishReasonNames = [numReasons]string{"stop", "length", "abort", "error"}

// Histogram indexes into engine state; the order is also the output order.
const (
	histTTFT = iota
	histITL
	histTPOT
	histE2E
	histQueue
	histPrefill
	histDecode
	histPreemptions
	numHists
)

// Families in output order. Gauge, counter and histogram indexes below refer
// to cells of an engine snapshot.
const (
	gaugeRunning = iota
	gaugeWaiting
	gaugeWaitingCapacity
	gaugeWaitingDeferred
	gaugeKVUsedTokens // exposed as a 0..1 ratio of the pool
	numGauges
)

const (
	counterPreemptions      = 0
	counterPromptTokens     = 1
	counterGenerationTokens = 2
	counterSuccessStop      = 3 // one counter per finish reason follows
	counterPrefixQueries    = counterSuccessStop + numReasons
	counterPrefixHits       = counterPrefixQueries + 1
	numCounters             = counterPrefixHits + 1
)

// family describes one metric family as vLLM exposes it.
type family struct {
	// key is the V1 name without prefix or _total suffix; bucket overrides
	// use it.
	key  string
	typ  metricType
	help string
	// label is the extra label beyond model_name and engine ("" for none),
	// values its values; cells[i] is the snapshot cell of values[i].
	label  string
	values []string
	cells  []int
	hist   int // histogram index for typeHistogram
	// ratio marks the KV gauge, stored as used tokens and exposed as a ratio.
	ratio bool
}

// Default buckets, exactly as vLLM's V1 Prometheus logger declares them.
var (
	ttftBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
		1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0}
	tokenLatencyBuckets = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
		1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0}
	requestLatencyBuckets = []float64{0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
		30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0}
	preemptionBuckets = []float64{1, 2, 3, 4, 5, 10, 20}
)

// families is the fixed family table. It is built by a function, not held
// in a package variable, so nothing can mutate a shared copy.
func families() []family {
	return []family{
		{key: "num_requests_running", typ: typeGauge, help: "Number of requests in model execution batches.", cells: []int{gaugeRunning}},
		{key: "num_requests_waiting", typ: typeGauge, help: "Number of requests waiting to be processed.", cells: []int{gaugeWaiting}},
		{key: "num_requests_waiting_by_reason", typ: typeGauge, help: "Number of requests waiting to be processed, by reason.",
			label: "reason", values: []string{"capacity", "deferred"}, cells: []int{gaugeWaitingCapacity, gaugeWaitingDeferred}},
		{key: "kv_cache_usage_perc", typ: typeGauge, help: "KV-cache usage. 1 means 100 percent usage.", cells: []int{gaugeKVUsedTokens}, ratio: true},
		{key: "num_preemptions", typ: typeCounter, help: "Cumulative number of preemption from the engine.", cells: []int{counterPreemptions}},
		{key: "prompt_tokens", typ: typeCounter, help: "Number of prefill tokens processed.", cells: []int{counterPromptTokens}},
		{key: "generation_tokens", typ: typeCounter, help: "Number of generation tokens processed.", cells: []int{counterGenerationTokens}},
		{key: "request_success", typ: typeCounter, help: "Count of successfully processed requests.",
			label: "finished_reason", values: finishReasonNames[:],
			cells: []int{counterSuccessStop + reasonStop, counterSuccessStop + reasonLength, counterSuccessStop + reasonAbort, counterSuccessStop + reasonError}},
		{key: "prefix_cache_queries", typ: typeCounter, help: "Prefix cache queries, in terms of number of queried tokens.", cells: []int{counterPrefixQueries}},
		{key: "prefix_cache_hits", typ: typeCounter, help: "Prefix cache hits, in terms of number of cached tokens.", cells: []int{counterPrefixHits}},
		{key: "time_to_first_token_seconds", typ: typeHistogram, help: "Histogram of time to first token in seconds.", hist: histTTFT},
		{key: "inter_token_latency_seconds", typ: typeHistogram, help: "Histogram of inter-token latency in seconds.", hist: histITL},
		{key: "request_time_per_output_token_seconds", typ: typeHistogram, help: "Histogram of time_per_output_token_seconds per request.", hist: histTPOT},
		{key: "e2e_request_latency_seconds", typ: typeHistogram, help: "Histogram of e2e request latency in seconds.", hist: histE2E},
		{key: "request_queue_time_seconds", typ: typeHistogram, help: "Histogram of time spent in WAITING phase for request.", hist: histQueue},
		{key: "request_prefill_time_seconds", typ: typeHistogram, help: "Histogram of time spent in PREFILL phase for request.", hist: histPrefill},
		{key: "request_decode_time_seconds", typ: typeHistogram, help: "Histogram of time spent in DECODE phase for request.", hist: histDecode},
		{key: "request_num_preemptions", typ: typeHistogram, help: "Histogram of the number of preemptions per finished request.", hist: histPreemptions},
	}
}

// defaultBuckets returns vLLM's default bucket bounds for a histogram.
func defaultBuckets(hist int) []float64 {
	switch hist {
	case histTTFT:
		return slices.Clone(ttftBuckets)
	case histITL, histTPOT:
		return slices.Clone(tokenLatencyBuckets)
	case histPreemptions:
		return slices.Clone(preemptionBuckets)
	default:
		return slices.Clone(requestLatencyBuckets)
	}
}

// HistogramKeys lists the names Config.Buckets accepts: the V1 family names
// without the "vllm:" prefix.
func HistogramKeys() []string {
	var keys []string
	for _, f := range families() {
		if f.typ == typeHistogram {
			keys = append(keys, f.key)
		}
	}
	return keys
}

// FamilyInfo describes an exposed metric family.
type FamilyInfo struct {
	// Name is the family name as Prometheus stores it: counters with their
	// _total suffix, histograms without _bucket, _count or _sum.
	Name string
	Type string // "gauge", "counter" or "histogram"
	// Labels are the label names beyond le, in vLLM's order.
	Labels []string
	// Buckets are vLLM's default bounds of a histogram, without +Inf.
	Buckets []float64
}

// Families describes every family the simulator exposes under a flavour, in
// output order.
func Families(flavour string) ([]FamilyInfo, error) {
	if !slices.Contains(Flavours(), flavour) {
		return nil, fmt.Errorf("%w: unknown flavour %q (want one of %s)", ErrInvalidConfig, flavour, strings.Join(Flavours(), ", "))
	}
	var out []FamilyInfo
	for _, f := range flavourFamilies(flavour) {
		fi := FamilyInfo{Name: seriesName(f, flavour), Type: f.typ.String(), Labels: familyLabels(f, flavour)}
		if f.typ == typeHistogram {
			fi.Buckets = defaultBuckets(f.hist)
		}
		out = append(out, fi)
	}
	return out, nil
}

// flavourFamilies are the families a flavour exposes, in output order.
func flavourFamilies(flavour string) []family {
	n := namingOf(flavour)
	var out []family
	for _, f := range families() {
		if n.noPreemptions && (f.key == "num_preemptions" || f.hist == histPreemptions && f.typ == typeHistogram) {
			continue
		}
		if f.label == "finished_reason" && n.finishLabel != "" {
			f.label = n.finishLabel
		}
		out = append(out, f)
	}
	return out
}

// familyLabels are a family's label names beyond le, in vLLM's order.
func familyLabels(f family, flavour string) []string {
	out := []string{"model_name"}
	if !namingOf(flavour).noEngine {
		out = append(out, "engine")
	}
	if f.label != "" {
		out = append(out, f.label)
	}
	return out
}

// familyName is the exposed name of a family (for counters without _total).
func familyName(key, flavour string) string {
	n := namingOf(flavour)
	prefix := "vllm:"
	if n.prefix != "" {
		prefix = n.prefix
	}
	if n.v0 {
		switch key {
		case "kv_cache_usage_perc":
			key = "gpu_cache_usage_perc"
		case "inter_token_latency_seconds":
			key = "time_per_output_token_seconds"
		}
	}
	if n.noUnit {
		key = strings.TrimSuffix(key, "_seconds")
	}
	if n.kvRatio && key == "kv_cache_usage_perc" {
		key += "_ratio"
	}
	return prefix + key
}

// counterSuffix is what follows a counter's family name in its series.
func counterSuffix(flavour string) string {
	if namingOf(flavour).noTotal {
		return ""
	}
	return "_total"
}

// seriesName is a family's name as Prometheus stores it: counters with
// their suffix, histograms without _bucket, _count or _sum.
func seriesName(f family, flavour string) string {
	name := familyName(f.key, flavour)
	if f.typ == typeCounter {
		name += counterSuffix(flavour)
	}
	return name
}

// appendLe writes a bucket bound as the flavour's pipeline stores it.
func appendLe(b []byte, v float64, flavour string) []byte {
	if namingOf(flavour).otlpLe && !math.IsInf(v, 1) {
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	return formatLe(b, v)
}

// formatLe writes a bucket bound the way vLLM's Python client does: always
// with a decimal point ("1.0", "2560.0"), so label values match real scrapes.
func formatLe(b []byte, v float64) []byte {
	if math.IsInf(v, 1) {
		return append(b, "+Inf"...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	if !strings.ContainsAny(string(b[start:]), ".e") {
		b = append(b, '.', '0')
	}
	return b
}

// checkBuckets validates custom bucket bounds.
func checkBuckets(key string, bounds []float64) error {
	if len(bounds) == 0 {
		return fmt.Errorf("buckets for %s: empty list", key)
	}
	for i, v := range bounds {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			return fmt.Errorf("buckets for %s: bound %v must be a positive finite number", key, v)
		}
		if i > 0 && v <= bounds[i-1] {
			return fmt.Errorf("buckets for %s: bounds must increase (%v after %v)", key, v, bounds[i-1])
		}
	}
	return nil
}
