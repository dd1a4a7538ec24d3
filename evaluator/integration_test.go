package evaluator_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

func mustSLO(t testing.TB, spec rules.SLOSpec) *rules.SLO {
	t.Helper()
	s, err := rules.Compile(rules.NewPromQL(), spec, rules.Defaults{GroupBy: []string{"model_name"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ttftSpec(t testing.TB) rules.SLOSpec {
	obj, err := rules.ParseObjective("99")
	if err != nil {
		t.Fatal(err)
	}
	min := 50.0
	return rules.SLOSpec{
		Name: "ttft", Objective: obj, Window: rules.Duration(28 * 24 * time.Hour), MinEvents: &min,
		SLI:      rules.SLISpec{Latency: &rules.LatencySLI{Metric: "time_to_first_token", Threshold: 1}},
		Alerting: rules.AlertingSpec{Windows: rules.WindowsSpec{Default: true}},
	}
}

func errorsSpec(t testing.TB) rules.SLOSpec {
	obj, err := rules.ParseObjective("99.9")
	if err != nil {
		t.Fatal(err)
	}
	return rules.SLOSpec{
		Name: "errors", Objective: obj, Window: rules.Duration(28 * 24 * time.Hour),
		SLI: rules.SLISpec{Ratio: &rules.RatioSLI{
			Errors: `vllm:request_success_total{finished_reason="error"}`, Total: `vllm:request_success_total`}},
	}
}

// byModel runs an instant query written by the test and returns its values
// by model_name.
func byModel(t *testing.T, api v1.API, q string, ts time.Time) map[string]float64 {
	t.Helper()
	v, _, _, err := api.Query(context.Background(), q, ts)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	out := map[string]float64{}
	for _, s := range v.(model.Vector) {
		out[string(s.Metric["model_name"])] = float64(s.Value)
	}
	return out
}

func closeTo(got, want float64) bool {
	if got == want {
		return true
	}
	return math.Abs(got-want) <= 1e-9*math.Max(math.Abs(got), math.Abs(want))
}

// The evaluator's error ratios, events and burn rates equal what PromQL the
// test writes itself gives over the same data, for every window.
func TestEvalMatchesDirectPromQL(t *testing.T) {
	start := simtest.Start
	prom := simtest.Prometheus(t, sim.Config{Scenario: sim.ScenarioSurge, Models: []string{"llama", "qwen"}, Engines: 2, Seed: 7}, start, start.Add(4*time.Hour))
	api := prom.API(t)
	slos := []*rules.SLO{mustSLO(t, ttftSpec(t)), mustSLO(t, errorsSpec(t))}
	ev := evaluator.New(evaluator.NewAPIQuerier(api, nil), slos, nil, evaluator.Options{})

	checked := 0
	for _, ts := range []time.Time{start.Add(70 * time.Minute), start.Add(85 * time.Minute), start.Add(3*time.Hour + 30*time.Second)} {
		res, _ := ev.Eval(context.Background(), ts)
		if len(res.Errors) > 0 {
			t.Fatalf("at %s: %+v", ts, res.Errors)
		}
		if len(res.SLOs) != 4 {
			t.Fatalf("at %s: %d results, want 2 SLOs x 2 models", ts, len(res.SLOs))
		}
		for _, r := range res.SLOs {
			m := r.Labels["model_name"]
			for _, w := range append(append([]evaluator.WindowResult(nil), r.Windows...), r.Budget) {
				rng := w.Window.String()
				var bad, total float64
				if r.SLO == "ttft" {
					good := byModel(t, api, fmt.Sprintf(`sum by (model_name) (increase(vllm:time_to_first_token_seconds_bucket{le="1.0"}[%s]))`, rng), ts)[m]
					total = byModel(t, api, fmt.Sprintf(`sum by (model_name) (increase(vllm:time_to_first_token_seconds_count[%s]))`, rng), ts)[m]
					bad = total - good
				} else {
					bad = byModel(t, api, fmt.Sprintf(`sum by (model_name) (increase(vllm:request_success_total{finished_reason="error"}[%s]))`, rng), ts)[m]
					total = byModel(t, api, fmt.Sprintf(`sum by (model_name) (increase(vllm:request_success_total[%s]))`, rng), ts)[m]
				}
				if !closeTo(w.Events, total) {
					t.Errorf("%s %s %s at %s: events %v, PromQL says %v", r.SLO, m, rng, ts, w.Events, total)
				}
				if total == 0 {
					if w.ErrorRatio != nil {
						t.Errorf("%s %s %s: ratio %v without events", r.SLO, m, rng, *w.ErrorRatio)
					}
					continue
				}
				want := math.Max(0, bad/total)
				budget := 0.01
				if r.SLO == "errors" {
					budget = 0.001
				}
				if w.ErrorRatio == nil || !closeTo(*w.ErrorRatio, want) || !closeTo(*w.BurnRate, want/budget) {
					t.Errorf("%s %s %s at %s: ratio %v burn %v, PromQL says %v (burn %v)", r.SLO, m, rng, ts, w.ErrorRatio, w.BurnRate, want, want/budget)
				}
				checked++
			}
		}
	}
	if checked < 60 {
		t.Errorf("only %d windows compared", checked)
	}

	// The deployment's buckets are discovered from Prometheus: 2s is not a
	// bound of vLLM's TTFT histogram and is refused with its neighbours.
	twoSec := ttftSpec(t)
	twoSec.SLI.Latency.Threshold = 2
	res, _ := evaluator.New(evaluator.NewAPIQuerier(api, nil), []*rules.SLO{mustSLO(t, twoSec)}, nil, evaluator.Options{}).Eval(context.Background(), start.Add(2*time.Hour))
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Error, "threshold 2 is not a bucket bound of vllm:time_to_first_token_seconds (nearest bounds 1.0 and 2.5)") {
		t.Errorf("threshold 2s: %+v", res.Errors)
	}
}

// backtestEngine replays [from, to] at step over prom through the engine's
// cycle, as `vllm-sentinel backtest` does.
func backtest(t *testing.T, api v1.API, slos []*rules.SLO, inds []*rules.Indicator, from, to time.Time, step time.Duration) *evaluator.BacktestReport {
	t.Helper()
	instant := evaluator.NewAPIQuerier(api, nil)
	q := evaluator.NewRangeCache(instant, evaluator.NewAPIRangeQuerier(api), from, to, step, 0)
	eng, err := evaluator.NewEngine(evaluator.New(q, slos, inds, evaluator.Options{}), nil, evaluator.EngineOptions{Interval: step})
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	began := time.Now()
	rep, err := evaluator.Backtest(context.Background(), eng, from, to, step, func(done, total int, _ time.Time) { steps = done })
	if err != nil {
		t.Fatal(err)
	}
	if want := int(to.Sub(from)/step) + 1; steps != want {
		t.Fatalf("backtest evaluated %d times, want %d", steps, want)
	}
	t.Logf("backtest: %d evaluations in %s", steps, time.Since(began).Round(time.Millisecond))
	if last := eng.Last(); last == nil || len(last.SLOs) == 0 && len(slos) > 0 {
		t.Fatalf("backtest produced no SLO results")
	}
	return rep
}

// A week of healthy diurnal traffic, evaluated every 5 minutes, fires no
// window pair of the example config's SLOs (nor of a stricter 99.9% TTFT
// SLO) and none of its leading indicators.
func TestHealthyWeekFiresNothing(t *testing.T) {
	start := simtest.Start
	end := start.Add(7 * 24 * time.Hour)
	prom := simtest.Prometheus(t, sim.Config{Scenario: sim.ScenarioHealthy, Seed: 3}, start, end)
	api := prom.API(t)
	cfg, err := config.LoadFile("../configs/example.yaml", receivers.New())
	if err != nil {
		t.Fatal(err)
	}
	slos := cfg.SLOs
	strict := ttftSpec(t)
	strict.Name, strict.Objective = "ttft-strict", mustObjective(t, "99.9")
	slos = append(slos, mustSLO(t, strict))
	rep := backtest(t, api, slos, cfg.Indicators, start.Add(time.Hour), end, 5*time.Minute)
	for _, tr := range rep.Transitions {
		if !strings.HasPrefix(tr.Alertname, "Sentinel") {
			t.Errorf("healthy week: %s %s at %s (value %v)", tr.To, tr.Labels, tr.Time, tr.Value)
		}
	}
	if rep.NoData > 0 {
		t.Errorf("%d evaluations without data", rep.NoData)
	}
}

func firstFiring(rep *evaluator.BacktestReport, alertname string, match map[string]string) (time.Time, bool) {
	for _, tr := range rep.Transitions {
		if tr.Alertname != alertname || tr.To != "firing" {
			continue
		}
		ok := true
		for k, v := range match {
			ok = ok && string(tr.Labels[model.LabelName(k)]) == v
		}
		if ok {
			return tr.Time, true
		}
	}
	return time.Time{}, false
}

// The surge scenario fires the 1h/5m page within 5 minutes of its incident
// start, evaluating every 30 seconds as the daemon would.
func TestSurgePagesWithinFiveMinutes(t *testing.T) {
	start := simtest.Start
	info := scenarioInfo(t, sim.ScenarioSurge)
	incident := start.Add(info.IncidentAt)
	prom := simtest.Prometheus(t, sim.Config{Scenario: sim.ScenarioSurge, Seed: 5}, start, incident.Add(30*time.Minute))
	strict := ttftSpec(t)
	strict.Objective = mustObjective(t, "99.9")
	rep := backtest(t, prom.API(t), []*rules.SLO{mustSLO(t, strict)}, nil, incident.Add(-15*time.Minute), incident.Add(20*time.Minute), 30*time.Second)
	page, ok := firstFiring(rep, evaluator.AlertSLOBurnRate, map[string]string{"long_window": "1h", "short_window": "5m", "severity": "critical"})
	if !ok {
		t.Fatalf("the 1h/5m page never fired; transitions: %+v", rep.Transitions)
	}
	t.Logf("1h/5m page at incident %+v", page.Sub(incident))
	if page.Before(incident) || page.After(incident.Add(5*time.Minute)) {
		t.Errorf("page at incident %+v, want within 5 minutes after the incident start", page.Sub(incident))
	}
}

func mustObjective(t testing.TB, s string) rules.Objective {
	t.Helper()
	o, err := rules.ParseObjective(s)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func scenarioInfo(t testing.TB, name string) sim.ScenarioInfo {
	t.Helper()
	for _, s := range sim.Scenarios() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no scenario %s", name)
	return sim.ScenarioInfo{}
}
