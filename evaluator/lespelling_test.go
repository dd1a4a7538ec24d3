package evaluator_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// One target's TTFT histogram spelled le="1" for an hour (OTLP ingestion,
// or a Prometheus 2 scraping the text format) and le="1.0" the next (after
// the move to a Prometheus 3 scrape): across the change the SLO counts each
// request once, its good events from both spellings of the bound, as the
// raw samples of each hour add up.
func TestLatencySLOAcrossLeSpellings(t *testing.T) {
	start := simtest.Start
	mid, end := start.Add(time.Hour), start.Add(2*time.Hour)
	target := map[string]string{"job": "vllm", "instance": "gpu-1:8000"}
	before := simtest.Backfill(t, sim.Config{Flavour: sim.FlavourRatio, Seed: 1, Rate: 20, TargetLabels: target}, start, mid)
	after := simtest.Backfill(t, sim.Config{Flavour: sim.FlavourV1, Seed: 2, Rate: 20, TargetLabels: target}, mid.Add(15*time.Second), end)
	prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: []string{before, after}})
	api := prom.API(t)

	// The truth from raw samples: each hour's growth of the counters.
	at := func(q string, ts time.Time) float64 {
		t.Helper()
		v, ok := byModel(t, api, q, ts)["llama-3.1-8b"]
		if !ok {
			t.Fatalf("%s at %s: no sample", q, ts)
		}
		return v
	}
	const fam = "vllm:time_to_first_token_seconds"
	total := at(fam+"_count", mid) - at(fam+"_count", start) + at(fam+"_count", end) - at(fam+"_count", mid.Add(15*time.Second))
	good := at(fam+`_bucket{le="1"}`, mid) - at(fam+`_bucket{le="1"}`, start) +
		at(fam+`_bucket{le="1.0"}`, end) - at(fam+`_bucket{le="1.0"}`, mid.Add(15*time.Second))

	names := evaluator.NewNames(rules.FlavourAuto, nil, nil, nil)
	ev := evaluator.New(evaluator.NewAPIQuerier(api, nil), []*rules.SLO{mustSLO(t, ttftSpec(t))}, nil, evaluator.Options{Names: names})
	res, err := ev.Eval(context.Background(), end)
	if err != nil || len(res.Errors) > 0 || len(res.SLOs) != 1 {
		t.Fatalf("eval: %v %+v", err, res)
	}
	w := windowOf(t, res.SLOs[0], 2*time.Hour)
	gotGood := w.Events * (1 - *w.ErrorRatio)
	t.Logf("2h across the change: %.1f events, %.1f good; the raw samples say %.0f and %.0f", w.Events, gotGood, total, good)
	// increase() extrapolates each series to the window's edges and the
	// hour's boundary; a bound read in one spelling only would lose half
	// the good events, one read twice would double them.
	if math.Abs(w.Events-total) > 0.01*total || math.Abs(gotGood-good) > 0.01*good {
		t.Errorf("2h window: %.1f events, %.1f good; want %.0f and %.0f", w.Events, gotGood, total, good)
	}
}
