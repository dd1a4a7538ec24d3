package evaluator

import (
	"bytes"
	"context"
	"log/slog"
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
