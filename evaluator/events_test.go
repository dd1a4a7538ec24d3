package evaluator_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// churnHistory writes 8 days of two models in which the first server
// restarts (every counter resets) on day 3 and is replaced by a second one
// on day 5 (its series vanish, new ones appear, a day of both).
func churnHistory(t *testing.T) (files []string, end time.Time) {
	t.Helper()
	start := simtest.Start
	end = start.Add(8 * 24 * time.Hour)
	models := []string{"m1", "m2"}
	first := simtest.Backfill(t, sim.Config{Scenario: sim.ScenarioRestart, IncidentAt: 3*24*time.Hour + 7*time.Hour, Models: models, Seed: 5,
		TargetLabels: map[string]string{"job": "vllm", "instance": "gpu-a:8000"}}, start, start.Add(6*24*time.Hour))
	second := simtest.Backfill(t, sim.Config{Scenario: sim.ScenarioErrorBurst, IncidentAt: 6*time.Hour + 20*time.Minute, Models: models, Seed: 6,
		TargetLabels: map[string]string{"job": "vllm", "instance": "gpu-b:8000"}}, start.Add(5*24*time.Hour), end)
	return []string{first, second}, end
}

// ttftBound is the weekly TTFT SLO's threshold as vllm-sim writes it.
const ttftBound = "0.04"

// weekSLOs are a TTFT SLO whose threshold makes a tenth of requests or so
// slow, and an error-ratio SLO, both over 7 days.
func weekSLOs(t *testing.T) []*rules.SLO {
	ttft, errs := ttftSpec(t), errorsSpec(t)
	ttft.SLI.Latency.Threshold = 0.04 // ttftBound
	ttft.Window = rules.Duration(7 * 24 * time.Hour)
	errs.Window = rules.Duration(7 * 24 * time.Hour)
	return []*rules.SLO{mustSLO(t, ttft), mustSLO(t, errs)}
}

// expectedRatios computes each window's error ratio by model with PromQL
// increase(), as the test writes it.
func expectedRatios(t *testing.T, api v1.API, slo string, w time.Duration, ts time.Time) map[string][2]float64 {
	r := model.Duration(w).String()
	var bad, total string
	switch slo {
	case "ttft":
		total = fmt.Sprintf(`sum by (model_name) (increase(vllm:time_to_first_token_seconds_count[%s]))`, r)
		bad = fmt.Sprintf(`%s - sum by (model_name) (increase(vllm:time_to_first_token_seconds_bucket{le=~"%s"}[%s]))`, total, ttftBound, r)
	case "errors":
		total = fmt.Sprintf(`sum by (model_name) (increase(vllm:request_success_total[%s]))`, r)
		bad = fmt.Sprintf(`sum by (model_name) (increase(vllm:request_success_total{finished_reason="error"}[%s]))`, r)
	}
	b, tot := byModel(t, api, bad, ts), byModel(t, api, total, ts)
	out := map[string][2]float64{}
	for m, v := range tot {
		out[m] = [2]float64{b[m] / v, b[m]}
	}
	return out
}

// minBad is the fewest bad events a window needs for its ratio to be
// compared within 1%: below that, one event more or less is more than 1%,
// and increase()'s extrapolation is worth a fraction of one.
const minBad = 300

func checkAgainstPromQL(t *testing.T, api v1.API, res *evaluator.Result, ts time.Time) {
	t.Helper()
	if len(res.Errors) > 0 || len(res.SLOs) != 4 {
		t.Fatalf("%d results, errors %+v", len(res.SLOs), res.Errors)
	}
	checked := 0
	defer func() {
		if checked < 8 {
			t.Errorf("only %d windows had %d bad events to compare", checked, minBad)
		}
	}()
	for _, r := range res.SLOs {
		for _, w := range append(r.Windows, r.Budget) {
			if w.Window.D() < 30*time.Minute {
				continue
			}
			if w.Warming || w.ErrorRatio == nil {
				t.Errorf("%s %v %s: warming %v, ratio %v", r.SLO, r.Labels, w.Window, w.Warming, w.ErrorRatio)
				continue
			}
			exp := expectedRatios(t, api, r.SLO, w.Window.D(), ts)[r.Labels["model_name"]]
			want := exp[0]
			if exp[1] < minBad {
				continue
			}
			checked++
			t.Logf("%s %v %s: %.0f bad events", r.SLO, r.Labels, w.Window, exp[1])
			tol := 0.01
			if w.Window.D() == r.Budget.Window.D() {
				tol = 0.001
			}
			// Two events either way are the counting's own grain: increase()
			// extrapolates to the window's edges, the store counts the
			// events between samples.
			if math.Abs(*w.ErrorRatio-want) > max(tol*want, 2/w.Events) {
				t.Errorf("%s %v %s: error ratio %.6g, PromQL increase() %.6g (%.3f%% off, want within %g%%)", r.SLO, r.Labels, w.Window, *w.ErrorRatio, want, 100*math.Abs(*w.ErrorRatio-want)/want, 100*tol)
			}
		}
	}
}

// rangeLog records the range queries the stores make.
type rangeLog struct {
	rq evaluator.RangeQuerier
	mu sync.Mutex
	// span sums, per query's metric, the time the range queries covered.
	span map[string]time.Duration
}

func (l *rangeLog) QueryRange(ctx context.Context, q string, r v1.Range) (model.Value, error) {
	l.mu.Lock()
	key := "ttft"
	if strings.Contains(q, "request_success_total") {
		key = "errors"
	}
	l.span[key] += r.End.Sub(r.Start) + r.Step
	l.mu.Unlock()
	return l.rq.QueryRange(ctx, q, r)
}

func TestEventStoreMatchesPromQL(t *testing.T) {
	files, end := churnHistory(t)
	for _, v := range []struct {
		name string
		v3   bool
	}{{"prometheus 2", false}, {"prometheus 3", true}} {
		t.Run(v.name, func(t *testing.T) {
			prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: files, Version3: v.v3})
			eventStoreMatchesPromQL(t, prom, end)
		})
	}
}

// eventStoreMatchesPromQL checks the store against increase() on one
// Prometheus: 2.42 selects [t-w, t], 3.x (t-w, t], and both read the
// store's deltas and coarse increases alike.
func eventStoreMatchesPromQL(t *testing.T, prom *promtest.Prometheus, end time.Time) {
	api := prom.API(t)
	instant := evaluator.NewAPIQuerier(api, nil)
	step := 30 * time.Second
	ranges := &rangeLog{rq: evaluator.NewAPIRangeQuerier(api), span: map[string]time.Duration{}}
	dir := t.TempDir()
	events := &evaluator.EventOptions{Step: step, Ranges: ranges, Dir: dir}

	// The history ends 10 minutes after the evaluations, for the restart.
	restart := end
	end = end.Add(-10 * time.Minute)
	t.Run("built from history", func(t *testing.T) {
		res, err := evaluator.New(instant, weekSLOs(t), nil, evaluator.Options{Events: events}).Eval(context.Background(), end)
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstPromQL(t, api, res, end)
	})

	t.Run("fed step by step", func(t *testing.T) {
		ev := evaluator.New(instant, weekSLOs(t), nil, evaluator.Options{Events: &evaluator.EventOptions{Step: step, Ranges: ranges, Dir: dir}})
		from := end.Add(-3 * time.Hour)
		if _, err := ev.Eval(context.Background(), from); err != nil {
			t.Fatal(err)
		}
		var res *evaluator.Result
		for ts := from.Add(step); !ts.After(end); ts = ts.Add(step) {
			res, _ = ev.Eval(context.Background(), ts)
		}
		checkAgainstPromQL(t, api, res, end)
		if err := ev.SaveEvents(end, true); err != nil {
			t.Fatal(err)
		}

		// A reload hands the stores over: the new evaluator reads no history.
		ranges.span = map[string]time.Duration{}
		next := evaluator.New(instant, weekSLOs(t), nil, evaluator.Options{Events: &evaluator.EventOptions{Step: step, Ranges: ranges}})
		next.AdoptEvents(ev)
		res, _ = next.Eval(context.Background(), end)
		checkAgainstPromQL(t, api, res, end)
		if len(ranges.span) > 0 {
			t.Errorf("after a reload: range queries over %v, want none", ranges.span)
		}
	})

	t.Run("damaged store", func(t *testing.T) { damagedStoreIsRebuilt(t, api, instant, ranges, end) })

	t.Run("restart catches up the gap only", func(t *testing.T) {
		ranges.span = map[string]time.Duration{}
		changed := weekSLOs(t)
		spec := ttftSpec(t)
		spec.Window = rules.Duration(7 * 24 * time.Hour)
		spec.SLI.Latency.Threshold = 0.25
		changed[0] = mustSLO(t, spec)
		ev := evaluator.New(instant, changed, nil, evaluator.Options{Events: &evaluator.EventOptions{Step: step, Ranges: ranges, Dir: dir}})
		res, err := ev.Eval(context.Background(), restart)
		if err != nil || len(res.Errors) > 0 {
			t.Fatalf("eval: %v %+v", err, res.Errors)
		}
		// The unchanged SLO reads the 10 minutes it missed; the one whose
		// threshold changed is rebuilt over its whole window.
		if got := ranges.span["errors"]; got > 10*time.Minute+step {
			t.Errorf("unchanged SLO: range queries over %s after 10 minutes down, want at most the gap", got)
		}
		if got := ranges.span["ttft"]; got < 7*24*time.Hour {
			t.Errorf("changed SLO: range queries over %s, want its whole window rebuilt", got)
		}
	})
}

// A damaged store file is moved aside, never misread, and the store is
// rebuilt from Prometheus.
func damagedStoreIsRebuilt(t *testing.T, api v1.API, instant evaluator.Querier, ranges evaluator.RangeQuerier, end time.Time) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events", "errors.events")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("vllm-sentinel event store\n\x00garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := evaluator.New(instant, weekSLOs(t), nil, evaluator.Options{Events: &evaluator.EventOptions{Step: 30 * time.Second, Ranges: ranges, Dir: dir}}).Eval(context.Background(), end)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstPromQL(t, api, res, end)
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 {
		t.Errorf("damaged store: %v moved aside, want one file", aside)
	}
}

// A first start with a bounded backfill reports its long windows as
// warming, never as ok and never as a page, while its short windows are
// right from the first cycle.
func TestEventStoreWarmsUp(t *testing.T) {
	start := simtest.Start
	end := start.Add(3 * 24 * time.Hour)
	prom := simtest.Prometheus(t, sim.Config{Scenario: sim.ScenarioErrorBurst, IncidentAt: 3*24*time.Hour - 25*time.Minute, Models: []string{"m1"}, Seed: 3}, start, end)
	api := prom.API(t)
	spec := errorsSpec(t)
	spec.Alerting = rules.AlertingSpec{Windows: rules.WindowsSpec{Default: true}}
	ev := evaluator.New(evaluator.NewAPIQuerier(api, nil), []*rules.SLO{mustSLO(t, spec)}, nil, evaluator.Options{Events: &evaluator.EventOptions{
		Step: 30 * time.Second, Ranges: evaluator.NewAPIRangeQuerier(api), BackfillChunks: 1,
	}})
	ts := end
	res, err := ev.Eval(context.Background(), ts)
	if err != nil || len(res.Errors) > 0 || len(res.SLOs) != 1 {
		t.Fatalf("eval: %v %+v", err, res)
	}
	r := res.SLOs[0]
	if !r.Budget.Warming || r.BudgetRemaining != nil {
		t.Errorf("first cycle: 28d budget warming=%v remaining=%v, want warming and unknown", r.Budget.Warming, r.BudgetRemaining)
	}
	if h := r.Window(time.Hour); h == nil || h.Warming || h.ErrorRatio == nil {
		t.Fatalf("first cycle: 1h window %+v, want known", h)
	}
	if len(r.Firing) == 0 || r.State != evaluator.StateBurning {
		t.Errorf("first cycle during an error burst: state %s, firing %v; want the 1h/5m page at once", r.State, r.Firing)
	}
	for i := 0; i < 10 && r.Budget.Warming; i++ {
		ts = ts.Add(30 * time.Second)
		res, _ = ev.Eval(context.Background(), ts)
		r = res.SLOs[0]
	}
	if r.Budget.Warming || r.BudgetRemaining == nil {
		t.Errorf("after the backfill: budget warming=%v remaining=%v", r.Budget.Warming, r.BudgetRemaining)
	}
}
