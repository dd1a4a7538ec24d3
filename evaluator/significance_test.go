package evaluator

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// counts builds a bucketFake answer: per window, events and bad events of
// one model at a 1s threshold.
func lowTraffic(perWindow map[string][2]float64) *bucketFake {
	f := &bucketFake{les: vllmTTFTBounds, counts: map[string]map[string]map[string]float64{}}
	for w, c := range perWindow {
		f.counts[w] = map[string]map[string]float64{"m1": {"1.0": c[0] - c[1], "+Inf": c[0]}}
	}
	return f
}

// At 10 to 25 requests an hour, the 6h/30m pair of a 99% SLO must not page
// on a 30m window holding four events, one of them slow (a 25% ratio, far
// above the 6% its factor asks, but no evidence); a total outage at the
// same traffic still pages.
func TestLowTrafficNeedsSignificance(t *testing.T) {
	min := 10.0
	spec := latencySpec(1, "")
	spec.MinEvents = &min
	s := compile(t, spec)
	zero := 0.0
	spec.Alerting.Confidence = &zero
	observed := compile(t, spec)
	eval := func(f *bucketFake) SLOResult {
		t.Helper()
		res, _ := New(f, []*rules.SLO{s}, nil, Options{}).Eval(context.Background(), time.Unix(1e9, 0))
		if len(res.Errors) > 0 || len(res.SLOs) != 1 {
			t.Fatalf("eval: %+v", res)
		}
		return res.SLOs[0]
	}
	few := lowTraffic(map[string][2]float64{
		"5m": {1, 0}, "30m": {4, 1}, "1h": {16, 1}, "2h": {32, 1}, "6h": {96, 7}, "1d": {400, 4}, "3d": {1200, 8}, "4w": {11000, 70},
	})
	handful := eval(few)
	if len(handful.Firing) > 0 {
		t.Errorf("four events, one slow, fired %+v", handful.Firing)
	}
	// The same counts compared as observed ratios (confidence: 0) page:
	// what the workbook's rule does at this traffic.
	s = observed
	if r := eval(few); len(r.Firing) != 1 || r.Firing[0].ShortWindow.D() != 30*time.Minute {
		t.Errorf("with confidence 0: firing %+v, want the 6h/30m page", r.Firing)
	}
	s = compile(t, latencySpec(1, ""))
	s.MinEvents = min
	if w := handful.Window(30 * time.Minute); w == nil || w.ErrorRatioLowerBound == nil || *w.ErrorRatioLowerBound >= 0.06 {
		t.Errorf("30m window %+v: want a lower bound under the 6%% threshold", w)
	}
	outage := eval(lowTraffic(map[string][2]float64{
		"5m": {2, 2}, "30m": {8, 8}, "1h": {16, 16}, "2h": {32, 17}, "6h": {96, 18}, "1d": {400, 22}, "3d": {1200, 30}, "4w": {11000, 110},
	}))
	pages := 0
	for _, f := range outage.Firing {
		if f.Severity == "critical" {
			pages++
		}
	}
	if pages == 0 {
		t.Errorf("a total outage at 16 requests an hour: firing %+v, want a page", outage.Firing)
	}
}

func TestWilsonLower(t *testing.T) {
	for _, c := range []struct{ bad, n, z, want float64 }{
		{0, 0, 1.645, 0},
		{3, 10, 0, 0.3},
		{1, 1, 1.645, 0.2698},
		{10, 1000, 1.645, 0.005987},
		{0, 1000, 1.645, 0},
	} {
		if got := rules.WilsonLower(c.bad, c.n, c.z); math.Abs(got-c.want) > 1e-4 {
			t.Errorf("WilsonLower(%g, %g, %g) = %.6f, want %.6f", c.bad, c.n, c.z, got, c.want)
		}
	}
}
