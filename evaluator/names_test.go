package evaluator

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// A metric that vanishes (its target restarted) is news once, not at every
// cycle for as long as it stays away.
func TestNamesLogAChangeOnce(t *testing.T) {
	var buf bytes.Buffer
	present := []string{"vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"}
	q := QuerierFunc(func(context.Context, string, time.Time) (model.Value, error) {
		var vec model.Vector
		for _, n := range present {
			vec = append(vec, &model.Sample{Metric: model.Metric{model.MetricNameLabel: model.LabelValue(n)}, Value: 1})
		}
		return vec, nil
	})
	n := NewNames(rules.FlavourAuto, nil, nil, slog.New(slog.NewTextHandler(&buf, nil)))
	for i := 0; i < 6; i++ {
		if i == 2 {
			present = present[:1] // the KV gauge vanishes
		}
		if err := n.Detect(context.Background(), q, time.Unix(int64(i), 0)); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(buf.String(), "vLLM metric names detected"); got != 2 {
		t.Errorf("logged %d times, want 2 (first detection, then the vanished metric):\n%s", got, buf.String())
	}
	if n.Name("kv_cache_usage_perc") != "vllm:kv_cache_usage_perc" {
		t.Errorf("the vanished metric's name was forgotten: %s", n.Name("kv_cache_usage_perc"))
	}
}

// metric_names: auto finds the spellings of Ray's export and of an
// OpenTelemetry Collector that trims suffixes.
func TestNamesDetectPipelineSpellings(t *testing.T) {
	present := []string{"ray_vllm:time_to_first_token_seconds_count", "vllm_request_success", "vllm:kv_cache_usage_perc_ratio"}
	q := QuerierFunc(func(context.Context, string, time.Time) (model.Value, error) {
		var vec model.Vector
		for _, n := range present {
			vec = append(vec, &model.Sample{Metric: model.Metric{model.MetricNameLabel: model.LabelValue(n)}, Value: 1})
		}
		return vec, nil
	})
	n := NewNames(rules.FlavourAuto, nil, nil, nil)
	if err := n.Detect(context.Background(), q, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	for short, want := range map[string]string{
		"time_to_first_token": "ray_vllm:time_to_first_token_seconds",
		"request_success":     "vllm_request_success",
		"kv_cache_usage_perc": "vllm:kv_cache_usage_perc_ratio",
	} {
		if got := n.Name(short); got != want {
			t.Errorf("%s: %s, want %s", short, got, want)
		}
	}
}

// vecOf answers every query with one sample per series name.
func vecOf(names ...string) QuerierFunc {
	return func(context.Context, string, time.Time) (model.Value, error) {
		var vec model.Vector
		for _, n := range names {
			vec = append(vec, &model.Sample{Metric: model.Metric{model.MetricNameLabel: model.LabelValue(n)}, Value: 1})
		}
		return vec, nil
	}
}

// Each histogram's form: classic (_count), native (a series under the
// family's own name), or both in the middle of a migration, read as
// classic. _created series are no metric.
func TestNamesHistogramForms(t *testing.T) {
	n := NewNames(rules.FlavourAuto, nil, nil, nil)
	q := vecOf("vllm:time_to_first_token_seconds_count", "vllm:time_to_first_token_seconds_bucket",
		"vllm:e2e_request_latency_seconds",
		"vllm:inter_token_latency_seconds", "vllm:inter_token_latency_seconds_count",
		"vllm:num_preemptions_created", "vllm:request_queue_time_seconds_created")
	if err := n.Detect(context.Background(), q, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	for short, want := range map[string]HistogramForm{
		"time_to_first_token": FormClassic, "e2e_request_latency": FormNative, "inter_token_latency": FormBoth,
		"request_queue_time": "", "num_preemptions": "",
	} {
		if got := n.Form(short); got != want {
			t.Errorf("%s: form %q, want %q", short, got, want)
		}
	}
	// A family whose forms cover different series: one target converted
	// without its classic series, one not converted.
	split := vecOf("vllm:request_queue_time_seconds_count", "vllm:request_queue_time_seconds_count", "vllm:request_queue_time_seconds")
	ns := NewNames(rules.FlavourAuto, nil, nil, nil)
	if err := ns.Detect(context.Background(), split, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if f := ns.Form("request_queue_time"); f != FormSplit || ns.Native("request_queue_time") {
		t.Errorf("split form %q", f)
	}
	if c, nat := ns.Series("request_queue_time"); c != 2 || nat != 1 {
		t.Errorf("split series: %d classic, %d native; want 2 and 1", c, nat)
	}
	if !n.Native("e2e_request_latency") || n.Native("inter_token_latency") {
		t.Error("only a native-only histogram is read as native")
	}
	absent := n.Absent()
	for _, s := range []string{"num_preemptions", "request_queue_time"} {
		if !slices.Contains(absent, s) {
			t.Errorf("%s is not absent (%v): its _created series was taken for it", s, absent)
		}
	}
}

// The threshold against a native histogram's non-empty buckets.
func TestNativeThreshold(t *testing.T) {
	h := &model.SampleHistogram{Count: 10, Buckets: model.HistogramBuckets{
		{Boundaries: 0, Lower: 0.25, Upper: 0.5, Count: 6},
		{Boundaries: 0, Lower: 0.5, Upper: 1, Count: 4},
	}}
	q := QuerierFunc(func(context.Context, string, time.Time) (model.Value, error) {
		return model.Vector{&model.Sample{Metric: model.Metric{}, Histogram: h}}, nil
	})
	empty := QuerierFunc(func(context.Context, string, time.Time) (model.Value, error) { return model.Vector{}, nil })
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		q           Querier
		threshold   float64
		interpolate bool
		inside      bool
		err         string
	}{
		{"a bound", q, 0.5, false, false, ""},
		{"the lowest bound", q, 0.25, false, false, ""},
		{"inside a bucket", q, 0.3, false, false, "threshold 0.3 is not a bucket bound of h (a native histogram) (nearest bounds 0.25 and 0.5)"},
		{"inside, interpolated", q, 0.3, true, true, ""},
		{"above every observation", q, 2, false, false, ""},
		{"absent", empty, 1, false, false, "metric h has no series"},
	} {
		inside, err := nativeThreshold(ctx, tc.q, "h", "h", tc.threshold, tc.interpolate, time.Unix(0, 0))
		if inside != tc.inside || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: inside %v, err %v; want %v, %q", tc.name, inside, err, tc.inside, tc.err)
		}
	}
}
