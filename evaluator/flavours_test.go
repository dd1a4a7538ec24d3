package evaluator_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// createdOnly serves what detection must not take for a metric: the
// _created series vLLM's Python client writes beside each counter and
// histogram, and nothing else.
func createdOnly(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for _, n := range []string{"vllm:num_preemptions_created", "vllm:request_success_created", "vllm:time_to_first_token_seconds_created",
			"vllm_num_preemptions_created", "vllm:e2e_request_latency_seconds_created"} {
			fmt.Fprintf(w, "# TYPE %s gauge\n%s{model_name=\"m\"} 1.7e9\n", n, n)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// metric_names: auto against a real Prometheus 2.42 scraping vllm-sim in
// every flavour, one target each: every metric of each is found under the
// flavour's spelling, as a classic histogram where it is one; what a
// flavour lacks is absent, and _created series are not taken for metrics.
func TestNamesDetectEveryFlavour(t *testing.T) {
	want := map[string]map[string]string{ // flavour -> short name -> name
		sim.FlavourV1: {"time_to_first_token": "vllm:time_to_first_token_seconds", "num_preemptions": "vllm:num_preemptions_total",
			"kv_cache_usage_perc": "vllm:kv_cache_usage_perc", "inter_token_latency": "vllm:inter_token_latency_seconds"},
		sim.FlavourV0: {"kv_cache_usage_perc": "vllm:gpu_cache_usage_perc", "inter_token_latency": "vllm:time_per_output_token_seconds",
			"time_to_first_token": "vllm:time_to_first_token_seconds"},
		sim.FlavourUnderscore: {"time_to_first_token": "vllm_time_to_first_token_seconds", "request_success": "vllm_request_success_total",
			"kv_cache_usage_perc": "vllm_kv_cache_usage_perc"},
		sim.FlavourOTel: {"time_to_first_token": "vllm_time_to_first_token", "num_preemptions": "vllm_num_preemptions",
			"request_success": "vllm_request_success", "kv_cache_usage_perc": "vllm_kv_cache_usage_perc", "e2e_request_latency": "vllm_e2e_request_latency"},
		sim.FlavourRatio: {"kv_cache_usage_perc": "vllm:kv_cache_usage_perc_ratio", "num_preemptions": "vllm:num_preemptions_total",
			"time_to_first_token": "vllm:time_to_first_token_seconds"},
		sim.FlavourRay: {"time_to_first_token": "ray_vllm:time_to_first_token_seconds", "num_preemptions": "ray_vllm:num_preemptions_total",
			"kv_cache_usage_perc": "ray_vllm:kv_cache_usage_perc", "num_requests_waiting": "ray_vllm:num_requests_waiting"},
		sim.FlavourLLMD: {"time_to_first_token": "vllm:time_to_first_token_seconds", "request_success": "vllm:request_success_total"},
	}
	targets := map[string]string{}
	var addrs []string
	for _, f := range sim.Flavours() {
		targets[f] = liveSim(t, sim.Config{Flavour: f, Seed: 1}, 20)
		addrs = append(addrs, targets[f])
	}
	created := createdOnly(t)
	prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{ScrapeTargets: append(addrs, created)})
	prom.WaitForTargets(t)
	q := evaluator.NewAPIQuerier(prom.API(t), nil)
	ctx := context.Background()
	ts := time.Now()
	for _, f := range sim.Flavours() {
		t.Run(f, func(t *testing.T) {
			if _, ok := want[f]; !ok {
				t.Fatalf("no expectation for flavour %s", f)
			}
			n := evaluator.NewNames(rules.FlavourAuto, nil, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "instance", targets[f])}, nil)
			if err := n.Detect(ctx, q, ts); err != nil {
				t.Fatal(err)
			}
			fams, err := sim.Families(f)
			if err != nil {
				t.Fatal(err)
			}
			exposed := map[string]bool{}
			for _, fi := range fams {
				exposed[fi.Name] = true
			}
			var wantAbsent []string
			if f == sim.FlavourLLMD {
				wantAbsent = []string{"num_preemptions"}
			}
			if got := n.Absent(); !slices.Equal(got, wantAbsent) {
				t.Errorf("absent %v, want %v", got, wantAbsent)
			}
			for short, name := range n.Mapping() {
				if slices.Contains(wantAbsent, short) {
					continue
				}
				if !exposed[name] {
					t.Errorf("%s detected as %s, which the %s flavour does not expose", short, name, f)
				}
				if w, ok := want[f][short]; ok && name != w {
					t.Errorf("%s detected as %s, want %s", short, name, w)
				}
				if form := n.Form(short); rules.IsHistogram(short) != (form == evaluator.FormClassic) {
					t.Errorf("%s: form %q", short, form)
				}
			}
		})
	}
	t.Run("created", func(t *testing.T) {
		n := evaluator.NewNames(rules.FlavourAuto, nil, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "instance", created)}, nil)
		if err := n.Detect(ctx, q, ts); err != nil {
			t.Fatal(err)
		}
		if got := n.Absent(); len(got) != len(rules.ShortNames()) {
			t.Errorf("a server with only _created series has %v absent, want every metric", got)
		}
	})
}
