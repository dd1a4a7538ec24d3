package evaluator

import (
	"context"
	"errors"
	"math"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

var vllmTTFTBounds = []string{"0.001", "0.005", "0.01", "0.02", "0.04", "0.06", "0.08", "0.1", "0.25", "0.5", "0.75", "1.0", "2.5", "5.0", "7.5", "10.0", "20.0", "40.0", "80.0", "160.0", "640.0", "2560.0", "+Inf"}

func compile(t *testing.T, src rules.SLOSpec) *rules.SLO {
	t.Helper()
	s, err := rules.Compile(rules.NewPromQL(), src, rules.Defaults{Selector: `{job="vllm"}`, GroupBy: []string{"model_name"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func latencySpec(threshold float64, mode string) rules.SLOSpec {
	obj, _ := rules.ParseObjective("99")
	min := 50.0
	return rules.SLOSpec{
		Name:      "ttft",
		SLI:       rules.SLISpec{Latency: &rules.LatencySLI{Metric: "time_to_first_token", Threshold: rules.Seconds(threshold), ThresholdMode: mode}},
		Objective: obj,
		Window:    rules.Duration(28 * 24 * time.Hour),
		MinEvents: &min,
	}
}

// bucketFake answers the bounds query with les and each bucket query with
// counts[window] = {model: {le: increase}}.
type bucketFake struct {
	les    []string
	counts map[string]map[string]map[string]float64
}

var rangeRE = regexp.MustCompile(`\[(\w+)\]`)

func (f *bucketFake) Query(_ context.Context, q string, _ time.Time) (model.Value, error) {
	if strings.HasPrefix(q, "count by (__name__)") {
		return model.Vector{}, nil // metric-name detection: V1 names stay
	}
	if strings.HasPrefix(q, "count by (le)") {
		var vec model.Vector
		for _, le := range f.les {
			vec = append(vec, &model.Sample{Metric: model.Metric{"le": model.LabelValue(le)}, Value: 1})
		}
		return vec, nil
	}
	m := rangeRE.FindStringSubmatch(q)
	if m == nil {
		return nil, errors.New("unexpected query " + q)
	}
	var vec model.Vector
	for modelName, les := range f.counts[m[1]] {
		for le, v := range les {
			vec = append(vec, &model.Sample{Metric: model.Metric{"model_name": model.LabelValue(modelName), "le": model.LabelValue(le)}, Value: model.SampleValue(v)})
		}
	}
	return vec, nil
}

func TestThresholdMustBeABucketBound(t *testing.T) {
	f := &bucketFake{les: vllmTTFTBounds}
	e := New(f, []*rules.SLO{compile(t, latencySpec(2, ""))}, nil, Options{})
	res, _ := e.Eval(context.Background(), time.Unix(1e9, 0))
	if len(res.Errors) != 1 {
		t.Fatalf("want one error, got %+v", res)
	}
	msg := res.Errors[0].Error
	if !strings.Contains(msg, "threshold 2 is not a bucket bound of vllm:time_to_first_token_seconds (nearest bounds 1.0 and 2.5)") {
		t.Errorf("error %q does not name the nearest bounds", msg)
	}

	need, lo, up, err := thresholdBounds("h", []string{"0.5", "1", "1.0", "1e0", "2.5", "+Inf"}, 1, false)
	if err != nil || lo != 1 || up != 1 || strings.Join(need, ",") != "1,1.0,1e0,+Inf" {
		t.Errorf("1s should match every spelling of 1: %v %v %v %v", need, lo, up, err)
	}
	need, lo, up, err = thresholdBounds("h", vllmTTFTBounds, 2, true)
	if err != nil || lo != 1 || up != 2.5 || strings.Join(need, ",") != "1.0,2.5,+Inf" {
		t.Errorf("interpolation bounds: %v %v %v %v", need, lo, up, err)
	}
}

func window(counts map[string]float64) map[string]map[string]float64 {
	return map[string]map[string]float64{"llama": counts}
}

func TestBurnRatesPairsAndBudget(t *testing.T) {
	// 0.5% slow everywhere: burn rate 0.5 over an objective of 99%.
	steady := window(map[string]float64{"1.0": 995, "+Inf": 1000})
	f := &bucketFake{les: vllmTTFTBounds, counts: map[string]map[string]map[string]float64{}}
	for _, w := range []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d", "4w"} {
		f.counts[w] = steady
	}
	// The last 5m and 1h are much worse: 1h/5m page pair fires (factor 13.44).
	f.counts["5m"] = window(map[string]float64{"1.0": 50, "+Inf": 100})
	f.counts["1h"] = window(map[string]float64{"1.0": 800, "+Inf": 1000})
	e := New(f, []*rules.SLO{compile(t, latencySpec(1, ""))}, nil, Options{})
	res, _ := e.Eval(context.Background(), time.Unix(1e9, 0))
	if len(res.Errors) > 0 || len(res.SLOs) != 1 {
		t.Fatalf("%+v", res)
	}
	r := res.SLOs[0]
	if r.Labels["model_name"] != "llama" || r.State != StateBurning {
		t.Fatalf("labels %v state %s", r.Labels, r.State)
	}
	if len(r.Firing) != 1 || r.Firing[0].LongWindow.String() != "1h" || r.Firing[0].ShortWindow.String() != "5m" || r.Firing[0].Severity != "critical" {
		t.Fatalf("firing %+v", r.Firing)
	}
	if got := *r.Window(time.Hour).BurnRate; math.Abs(got-20) > 1e-12 {
		t.Errorf("1h burn %v, want 20", got)
	}
	if got := *r.BudgetRemaining; math.Abs(got-0.5) > 1e-12 {
		t.Errorf("budget remaining %v, want 0.5", got)
	}
	// Half of a 28d budget at burn rate 20: 16.8h.
	if r.Exhaustion == nil || time.Duration(*r.Exhaustion) != 16*time.Hour+48*time.Minute {
		t.Errorf("exhaustion %v, want 16h48m", r.Exhaustion)
	}

	// Exhausted budget: exhaustion is zero, not negative.
	f.counts["4w"] = window(map[string]float64{"1.0": 980, "+Inf": 1000})
	r = mustEval(e, time.Unix(1e9, 0)).SLOs[0]
	if *r.BudgetRemaining != -1 || r.Exhaustion == nil || *r.Exhaustion != 0 {
		t.Errorf("exhausted: remaining %v exhaustion %v", *r.BudgetRemaining, r.Exhaustion)
	}
}

func TestExhaustionForecast(t *testing.T) {
	// Budget window: 0.5% errors (half the budget left); last hour burns at 2.
	f := &bucketFake{les: vllmTTFTBounds, counts: map[string]map[string]map[string]float64{
		"4w": window(map[string]float64{"1.0": 995, "+Inf": 1000}),
		"1h": window(map[string]float64{"1.0": 98, "+Inf": 100}),
	}}
	e := New(f, []*rules.SLO{compile(t, latencySpec(1, ""))}, nil, Options{})
	r := mustEval(e, time.Unix(1e9, 0)).SLOs[0]
	// Half of a 28d budget at burn rate 2: 7 days.
	if r.Exhaustion == nil || time.Duration(*r.Exhaustion) != 7*24*time.Hour {
		t.Errorf("exhaustion %v, want 7d", r.Exhaustion)
	}
	if r.State != StateOK {
		t.Errorf("state %s", r.State)
	}
	if w := r.Window(5 * time.Minute); w.ErrorRatio != nil || w.BurnRate != nil || w.Events != 0 {
		t.Errorf("a window without events must be null, got %+v", w)
	}
}

func TestMinEventsKeepsLowTrafficQuiet(t *testing.T) {
	// 3 requests in the hour, 1 slow: a 33% error ratio, but too few events.
	few := window(map[string]float64{"1.0": 2, "+Inf": 3})
	f := &bucketFake{les: vllmTTFTBounds, counts: map[string]map[string]map[string]float64{"5m": few, "1h": few, "4w": few}}
	e := New(f, []*rules.SLO{compile(t, latencySpec(1, ""))}, nil, Options{})
	r := mustEval(e, time.Unix(1e9, 0)).SLOs[0]
	if len(r.Firing) != 0 || r.State != StateOK {
		t.Errorf("fired below min_events: %+v", r)
	}
	if got := *r.Window(time.Hour).BurnRate; math.Abs(got-100.0/3) > 1e-9 {
		t.Errorf("burn %v", got)
	}
}

func TestNoTrafficIsNoData(t *testing.T) {
	zero := window(map[string]float64{"1.0": 0, "+Inf": 0})
	f := &bucketFake{les: vllmTTFTBounds, counts: map[string]map[string]map[string]float64{"5m": zero, "1h": zero, "4w": zero}}
	e := New(f, []*rules.SLO{compile(t, latencySpec(1, ""))}, nil, Options{})
	r := mustEval(e, time.Unix(1e9, 0)).SLOs[0]
	if r.State != StateNoData || r.BudgetRemaining != nil || r.Exhaustion != nil {
		t.Errorf("no traffic: %+v", r)
	}
}

func TestInterpolatedThresholdIsFlagged(t *testing.T) {
	all := window(map[string]float64{"1.0": 900, "2.5": 1000, "+Inf": 1000})
	f := &bucketFake{les: vllmTTFTBounds, counts: map[string]map[string]map[string]float64{"1h": all, "4w": all}}
	e := New(f, []*rules.SLO{compile(t, latencySpec(1.75, rules.ThresholdInterpolate))}, nil, Options{})
	r := mustEval(e, time.Unix(1e9, 0)).SLOs[0]
	// Half-way between 1.0 and 2.5: 950 good of 1000.
	if !r.Approximate || r.Note == "" || math.Abs(*r.Window(time.Hour).ErrorRatio-0.05) > 1e-12 {
		t.Errorf("interpolated: %+v ratio %v", r, *r.Window(time.Hour).ErrorRatio)
	}
}

func TestFailingSLODoesNotStopOthersAndRetries(t *testing.T) {
	var calls atomic.Int32
	errSpec := rules.SLOSpec{Name: "errors", Window: rules.Duration(28 * 24 * time.Hour),
		SLI: rules.SLISpec{Ratio: &rules.RatioSLI{Errors: `vllm:request_success_total{finished_reason="error"}`, Total: `vllm:request_success_total`}}}
	errSpec.Objective, _ = rules.ParseObjective("99.9")
	f := &bucketFake{les: vllmTTFTBounds, counts: map[string]map[string]map[string]float64{"4w": window(map[string]float64{"1.0": 1, "+Inf": 1})}}
	q := QuerierFunc(func(ctx context.Context, q string, ts time.Time) (model.Value, error) {
		if strings.HasPrefix(q, "label_replace") {
			calls.Add(1)
			return nil, &v1.Error{Type: v1.ErrBadData, Msg: "invalid parameter"}
		}
		return f.Query(ctx, q, ts)
	})
	rq := WithRetry(q, RetryPolicy{Attempts: 3})
	rq.(*retryQuerier).sleep = func(context.Context, time.Duration) error { return nil }
	e := New(rq, []*rules.SLO{compile(t, errSpec), compile(t, latencySpec(1, ""))}, nil, Options{Parallel: 1})
	res, _ := e.Eval(context.Background(), time.Unix(1e9, 0))
	if len(res.SLOs) != 1 || res.SLOs[0].SLO != "ttft" {
		t.Errorf("the healthy SLO was not evaluated: %+v", res.SLOs)
	}
	if len(res.Errors) != 1 || res.Errors[0].SLO != "errors" || !strings.Contains(res.Errors[0].Query, "request_success_total") {
		t.Fatalf("errors: %+v", res.Errors)
	}
	// bad_data is never retried, and the first failure stops the SLO's
	// other windows: with one query at a time, exactly one call.
	if n := calls.Load(); n != 1 {
		t.Errorf("bad_data retried: %d calls", n)
	}

	// A server error is retried until it succeeds.
	calls.Store(0)
	flaky := QuerierFunc(func(ctx context.Context, q string, ts time.Time) (model.Value, error) {
		if calls.Add(1) < 3 {
			return nil, &v1.Error{Type: v1.ErrServer, Msg: "server error: 503"}
		}
		return model.Vector{}, nil
	})
	rq = WithRetry(flaky, RetryPolicy{Attempts: 3})
	rq.(*retryQuerier).sleep = func(context.Context, time.Duration) error { return nil }
	if _, err := rq.Query(context.Background(), "up", time.Unix(0, 0)); err != nil || calls.Load() != 3 {
		t.Errorf("server error not retried: %v after %d calls", err, calls.Load())
	}
}

// A ratio SLO whose counters have no series is absent, not healthy.
func TestRatioWithoutSeriesIsAbsent(t *testing.T) {
	spec := rules.SLOSpec{Name: "errors", Window: rules.Duration(28 * 24 * time.Hour),
		SLI: rules.SLISpec{Ratio: &rules.RatioSLI{Errors: `typo_total{finished_reason="error"}`, Total: `typo_total`}}}
	spec.Objective, _ = rules.ParseObjective("99.9")
	empty := QuerierFunc(func(context.Context, string, time.Time) (model.Value, error) { return model.Vector{}, nil })
	res, _ := New(empty, []*rules.SLO{compile(t, spec)}, nil, Options{}).Eval(context.Background(), time.Unix(1e9, 0))
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Absent, "typo_total") || len(res.SLOs) != 0 {
		t.Errorf("absent ratio SLO: %+v", res)
	}
}

// mustEval is Eval for tests that look at the result only.
func mustEval(e *Evaluator, ts time.Time) *Result {
	res, _ := e.Eval(context.Background(), ts)
	return res
}
