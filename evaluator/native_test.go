package evaluator_test

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// liveSim serves vllm-sim's /metrics with its model clock running speed
// times faster than the wall clock.
func liveSim(t *testing.T, cfg sim.Config, speed float64) string {
	t.Helper()
	wallStart := time.Now()
	modelStart := wallStart.Add(-time.Hour)
	s, err := sim.New(cfg, modelStart)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s.AdvanceTo(modelStart.Add(time.Duration(float64(time.Since(wallStart)) * speed)))
		mu.Unlock()
		metrics.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// On Prometheus 3 with convert_classic_histograms_to_nhcb the _bucket
// series are gone; the latency SLO reads the native histogram instead of
// reporting its metric absent, and its error ratio is what PromQL's own
// histogram_fraction says over the same window.
func TestLatencySLOOnNativeHistograms(t *testing.T) {
	target := liveSim(t, sim.Config{Scenario: sim.ScenarioSurge, Seed: 1, IncidentAt: 50 * time.Minute}, 20)
	prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{Version3: true, NativeHistograms: true, ScrapeTargets: []string{target}})
	prom.WaitForTargets(t)
	api := prom.API(t)
	ctx := context.Background()
	time.Sleep(6 * time.Second) // a few scrapes
	if v, _, _, err := api.Query(ctx, `count({__name__="vllm:time_to_first_token_seconds_bucket"})`, time.Now()); err != nil || len(v.(model.Vector)) != 0 {
		t.Fatalf("classic buckets are still stored (%v, %v): the scrape did not convert", v, err)
	}
	th := rules.Seconds(2.5)
	p99, err := rules.CompileIndicator(rules.NewPromQL(), rules.IndicatorSpec{Name: "ttft-p99", Kind: rules.KindLatencyPercentile,
		Metric: "time_to_first_token", Percentile: 99, Threshold: &th, Window: rules.Duration(time.Minute)}, rules.Defaults{GroupBy: []string{"model_name"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := evaluator.New(evaluator.NewAPIQuerier(api, nil), []*rules.SLO{mustSLO(t, ttftSpec(t))}, []*rules.Indicator{p99}, evaluator.Options{})
	ts := time.Now()
	res, err := ev.Eval(ctx, ts)
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("eval: %v %+v", err, res.Errors)
	}
	if len(res.SLOs) == 0 {
		t.Fatal("no SLO result")
	}
	if len(res.Indicators) == 0 {
		t.Error("the percentile indicator reads nothing from the native histogram")
	}
	for _, in := range res.Indicators {
		if v := float64(in.Value); math.IsNaN(v) || v <= 0 {
			t.Errorf("percentile %v for %v", v, in.Labels)
		}
	}
	for _, r := range res.SLOs {
		if !strings.Contains(r.Note, "native histogram") {
			t.Errorf("%v: the note does not say the data is a native histogram: %q", r.Labels, r.Note)
		}
		w := r.Window(5 * time.Minute)
		if w == nil || w.ErrorRatio == nil || w.Events <= 0 {
			t.Fatalf("%v: 5m window %+v", r.Labels, w)
		}
		q := `1 - histogram_fraction(0, 1, sum(increase(vllm:time_to_first_token_seconds{model_name="` + r.Labels["model_name"] + `"}[5m])))`
		v, _, _, err := api.Query(ctx, q, ts)
		if err != nil || len(v.(model.Vector)) != 1 {
			t.Fatalf("%s: %v %v", q, v, err)
		}
		want := float64(v.(model.Vector)[0].Value)
		if math.Abs(*w.ErrorRatio-want) > 1e-9+0.01*want {
			t.Errorf("%v: error ratio %v, PromQL says %v", r.Labels, *w.ErrorRatio, want)
		}
	}
}
