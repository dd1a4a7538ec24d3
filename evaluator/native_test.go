package evaluator_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// liveSim serves vllm-sim's /metrics an hour into its run, with its model
// clock running speed times faster than the wall clock.
func liveSim(t *testing.T, cfg sim.Config, speed float64) string {
	t.Helper()
	return simtest.StartLive(t, cfg, time.Hour, speed, nil).Target
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
	// queue_time reads the queue histogram's sum and count: on NHCB they
	// are the native histogram's, not _sum and _count series.
	qt, err := rules.CompileIndicator(rules.NewPromQL(), rules.IndicatorSpec{Name: "queue-time", Kind: rules.KindQueueTime},
		rules.Defaults{GroupBy: []string{"model_name"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := evaluator.New(evaluator.NewAPIQuerier(api, nil), []*rules.SLO{mustSLO(t, ttftSpec(t))}, []*rules.Indicator{p99, qt}, evaluator.Options{})
	ts := time.Now()
	res, err := ev.Eval(ctx, ts)
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("eval: %v %+v", err, res.Errors)
	}
	if len(res.SLOs) == 0 {
		t.Fatal("no SLO result")
	}
	read := map[string]int{}
	for _, in := range res.Indicators {
		read[in.Indicator]++
		if v := float64(in.Value); math.IsNaN(v) || v <= 0 {
			t.Errorf("%s: value %v for %v", in.Indicator, v, in.Labels)
		}
	}
	if read["ttft-p99"] == 0 || read["queue-time"] == 0 {
		t.Errorf("indicators read from the native histograms: %v, want both", read)
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

// windowOf returns an SLO result's window of length w, failing the test
// when it has no events.
func windowOf(t *testing.T, r evaluator.SLOResult, w time.Duration) *evaluator.WindowResult {
	t.Helper()
	win := r.Window(w)
	if win == nil || win.ErrorRatio == nil || win.Events <= 0 {
		t.Fatalf("%s %v: %v window %+v", r.SLO, r.Labels, w, win)
	}
	return win
}

// In the middle of a migration to native histograms (Prometheus 3 storing
// each scrape both ways: convert_classic_histograms_to_nhcb with
// always_scrape_classic_histograms), detection says so and the SLO reads the
// classic series only: its events are those of _count, not twice them.
// With the classic series gone the same SLO, at the same time over the same
// scrapes, reads the native histogram and agrees within 1%. A threshold
// inside a bucket is refused with the bucket's bounds, unless
// threshold_mode is interpolate.
func TestNativeAndClassicAgreeMidMigration(t *testing.T) {
	target := liveSim(t, sim.Config{Scenario: sim.ScenarioSurge, Seed: 1, IncidentAt: 50 * time.Minute}, 20)
	prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{Version3: true, NativeHistograms: true, KeepClassicHistograms: true,
		ScrapeTargets: []string{target}, ExtraArgs: []string{"--web.enable-admin-api"}})
	prom.WaitForTargets(t)
	api := prom.API(t)
	q := evaluator.NewAPIQuerier(api, nil)
	ctx := context.Background()
	time.Sleep(8 * time.Second) // a few scrapes
	ts := time.Now().Add(-time.Second)
	const short = "time_to_first_token"
	eval := func(spec rules.SLOSpec) (*evaluator.Names, evaluator.Result) {
		t.Helper()
		names := evaluator.NewNames(rules.FlavourAuto, nil, nil, nil)
		res, err := evaluator.New(q, []*rules.SLO{mustSLO(t, spec)}, nil, evaluator.Options{Names: names}).Eval(ctx, ts)
		if err != nil {
			t.Fatal(err)
		}
		return names, *res
	}

	// 100ms, a bound of vLLM's TTFT buckets, that a share of requests miss.
	fast := ttftSpec(t)
	fast.SLI.Latency.Threshold = 0.1
	names, classic := eval(fast)
	if f := names.Form(short); f != evaluator.FormBoth {
		t.Fatalf("form %q with both stored, want %q", f, evaluator.FormBoth)
	}
	if len(classic.Errors) > 0 || len(classic.SLOs) == 0 {
		t.Fatalf("mid-migration eval: %+v", classic.Errors)
	}
	counts := byModel(t, api, `sum by (model_name) (increase(vllm:time_to_first_token_seconds_count[5m]))`, ts)
	for _, r := range classic.SLOs {
		if strings.Contains(r.Note, "native") {
			t.Errorf("mid-migration note %q: the classic series are read", r.Note)
		}
		w := windowOf(t, r, 5*time.Minute)
		if want := counts[r.Labels["model_name"]]; math.Abs(w.Events-want) > 1e-6*want {
			t.Errorf("%v: %v events in 5m, _count says %v: counted twice or not at all", r.Labels, w.Events, want)
		}
	}

	// The classic series go, as at the end of the migration.
	if err := api.DeleteSeries(ctx, []string{`{__name__=~"vllm:time_to_first_token_seconds_(bucket|count|sum)"}`}, ts.Add(-time.Hour), ts.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	names, native := eval(fast)
	if f := names.Form(short); f != evaluator.FormNative {
		t.Fatalf("form %q after the classic series went, want %q", f, evaluator.FormNative)
	}
	if len(native.Errors) > 0 || len(native.SLOs) != len(classic.SLOs) {
		t.Fatalf("native eval: %d SLO results, errors %+v", len(native.SLOs), native.Errors)
	}
	for i, r := range native.SLOs {
		if !strings.Contains(r.Note, "bucket bound: exact") {
			t.Errorf("%v: note %q", r.Labels, r.Note)
		}
		for _, span := range []time.Duration{5 * time.Minute, time.Hour} {
			n, c := windowOf(t, r, span), windowOf(t, classic.SLOs[i], span)
			if math.Abs(n.Events-c.Events) > 0.01*c.Events {
				t.Errorf("%v %v: %v events native, %v classic", r.Labels, span, n.Events, c.Events)
			}
			nGood, cGood := n.Events*(1-*n.ErrorRatio), c.Events*(1-*c.ErrorRatio)
			if *c.ErrorRatio <= 0 {
				t.Fatalf("%v %v: no bad events, nothing to compare", r.Labels, span)
			}
			t.Logf("%v %v: native %.3f events, error ratio %.6f; classic %.3f events, error ratio %.6f", r.Labels, span, n.Events, *n.ErrorRatio, c.Events, *c.ErrorRatio)
			if math.Abs(nGood-cGood) > 0.01*cGood || math.Abs(*n.ErrorRatio-*c.ErrorRatio) > 0.01*math.Max(*c.ErrorRatio, 0.01) {
				t.Errorf("%v %v: native %v good, error ratio %v; classic %v good, error ratio %v", r.Labels, span, nGood, *n.ErrorRatio, cGood, *c.ErrorRatio)
			}
		}
	}

	// 300ms lies inside the (0.25, 0.5] bucket, which holds observations.
	spec := ttftSpec(t)
	spec.SLI.Latency.Threshold = 0.3
	_, res := eval(spec)
	if len(res.Errors) != 1 || res.Errors[0].SLO != "ttft" ||
		!strings.Contains(res.Errors[0].Error, "threshold 0.3 is not a bucket bound of vllm:time_to_first_token_seconds (a native histogram) (nearest bounds 0.25 and 0.5)") {
		t.Errorf("threshold inside a bucket: %+v", res.Errors)
	}
	spec.SLI.Latency.ThresholdMode = "interpolate"
	_, res = eval(spec)
	if len(res.Errors) > 0 || len(res.SLOs) == 0 {
		t.Fatalf("interpolated: %+v", res.Errors)
	}
	for _, r := range res.SLOs {
		if !strings.Contains(r.Note, "interpolated inside the bucket") || !r.Approximate {
			t.Errorf("%v: approximate %v, note %q", r.Labels, r.Approximate, r.Note)
		}
	}
}
