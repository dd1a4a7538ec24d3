package evaluator

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// reportEngine is an engine of slos and indicators whose latest report is
// rep, exported on a pedantic registry.
func reportEngine(t *testing.T, slos []*rules.SLO, inds []*rules.Indicator, rep *Report) (*Engine, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	e, err := NewEngine(New(nil, slos, inds, Options{}), nil, EngineOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	e.last = rep
	e.ExportMetrics()
	return e, reg
}

// A window the event store does not hold yet is exported as warming, never
// as zero events.
func TestMetricsExportWarmingWindows(t *testing.T) {
	_, reg := reportEngine(t, nil, nil, &Report{SLOs: []SLOResult{{
		SLO: "ttft", Labels: map[string]string{"model_name": "m1"}, State: StateWarming,
		Windows: []WindowResult{{Window: rules.Duration(time.Hour), ErrorRatio: ptr(0.01), BurnRate: ptr(1.0), Events: 100}},
		Budget:  WindowResult{Window: rules.Duration(28 * 24 * time.Hour), Warming: true},
	}}})
	want := `
# HELP vllm_sentinel_slo_events Events counted by an SLO over a window, per group.
# TYPE vllm_sentinel_slo_events gauge
vllm_sentinel_slo_events{model_name="m1",slo="ttft",window="1h"} 100
# HELP vllm_sentinel_slo_window_warming 1 for a window the event store does not hold yet (its history is being read): its numbers are unknown and not exported.
# TYPE vllm_sentinel_slo_window_warming gauge
vllm_sentinel_slo_window_warming{model_name="m1",slo="ttft",window="4w"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricSLOEvents, MetricSLOWindowWarming); err != nil {
		t.Error(err)
	}
}

// Each group label is a label of its own; one that clashes with the
// sentinel's own labels is prefixed, never overwrites them, and SLOs with
// different group_by live side by side in one family.
func TestMetricsGroupLabelsSplitAndPrefixed(t *testing.T) {
	burn := func(slo string, labels map[string]string, v float64) SLOResult {
		return SLOResult{SLO: slo, Labels: labels, Windows: []WindowResult{{Window: rules.Duration(time.Hour), ErrorRatio: ptr(v / 100), BurnRate: ptr(v), Events: 10}},
			Budget: WindowResult{Window: rules.Duration(28 * 24 * time.Hour)}, BudgetRemaining: ptr(0.5)}
	}
	_, reg := reportEngine(t, nil, nil, &Report{SLOs: []SLOResult{
		burn("ttft", map[string]string{"model_name": "llama", "instance": "gpu-1:8000"}, 2),
		burn("by-severity", map[string]string{"severity": "gold", "window": "w1"}, 3),
		// A group that has both severity and exported_severity keeps both.
		burn("both", map[string]string{"severity": "gold", "exported_severity": "x"}, 4),
		burn("fleet", map[string]string{}, 5),
	}})
	want := `
# HELP vllm_sentinel_slo_burn_rate Error-budget burn rate of an SLO over a window, per group.
# TYPE vllm_sentinel_slo_burn_rate gauge
vllm_sentinel_slo_burn_rate{exported_exported_severity="gold",exported_severity="x",slo="both",window="1h"} 4
vllm_sentinel_slo_burn_rate{exported_severity="gold",exported_window="w1",slo="by-severity",window="1h"} 3
vllm_sentinel_slo_burn_rate{slo="fleet",window="1h"} 5
vllm_sentinel_slo_burn_rate{instance="gpu-1:8000",model_name="llama",slo="ttft",window="1h"} 2
# HELP vllm_sentinel_slo_budget_remaining_ratio Share of the error budget left over the SLO window, per group (negative when overspent).
# TYPE vllm_sentinel_slo_budget_remaining_ratio gauge
vllm_sentinel_slo_budget_remaining_ratio{exported_exported_severity="gold",exported_severity="x",slo="both"} 0.5
vllm_sentinel_slo_budget_remaining_ratio{exported_severity="gold",exported_window="w1",slo="by-severity"} 0.5
vllm_sentinel_slo_budget_remaining_ratio{slo="fleet"} 0.5
vllm_sentinel_slo_budget_remaining_ratio{instance="gpu-1:8000",model_name="llama",slo="ttft"} 0.5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricSLOBurnRate, MetricSLOBudgetRemaining); err != nil {
		t.Error(err)
	}
	if got, want := ExportedLabel("severity"), "exported_severity"; got != want {
		t.Errorf("ExportedLabel(severity) = %q, want %q", got, want)
	}
	if got := ExportedLabel("model_name"); got != "model_name" {
		t.Errorf("ExportedLabel(model_name) = %q", got)
	}
}

// Indicators are exported from the last report: value (not when NaN), the
// alert's state, and each built-in indicator's threshold.
func TestMetricsExportIndicators(t *testing.T) {
	in, err := rules.CompileIndicator(rules.NewPromQL(), rules.IndicatorSpec{Name: "kv-cache", Kind: rules.KindKVCachePressure}, rules.Defaults{GroupBy: []string{"model_name"}})
	if err != nil {
		t.Fatal(err)
	}
	custom, err := rules.CompileIndicator(rules.NewPromQL(), rules.IndicatorSpec{Name: "deep", Expr: `max by (instance) (vllm:num_requests_waiting) > 100`}, rules.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	status := func(name string, labels map[string]string, v float64, state string) IndicatorStatus {
		ls := map[string]string{"indicator": name}
		for k, v := range labels {
			ls[k] = v
		}
		return IndicatorStatus{IndicatorResult: IndicatorResult{Indicator: name, Labels: ls, Value: Float(v)}, State: state}
	}
	_, reg := reportEngine(t, nil, []*rules.Indicator{in, custom}, &Report{Indicators: []IndicatorStatus{
		status("kv-cache", map[string]string{"instance": "gpu-1:8000", "model_name": "llama"}, 0.93, "firing"),
		status("kv-cache", map[string]string{"instance": "gpu-2:8000", "model_name": "llama"}, 0.4, "inactive"),
		status("kv-cache", map[string]string{"instance": "gpu-3:8000", "model_name": "llama", "state": "x"}, math.NaN(), StateNoData),
		status("deep", map[string]string{"instance": "gpu-1:8000"}, 120, "pending"),
	}})
	want := `
# HELP vllm_sentinel_indicator_value Value of a leading indicator for a group, as its alert compares it with the threshold.
# TYPE vllm_sentinel_indicator_value gauge
vllm_sentinel_indicator_value{indicator="deep",instance="gpu-1:8000"} 120
vllm_sentinel_indicator_value{indicator="kv-cache",instance="gpu-1:8000",model_name="llama"} 0.93
vllm_sentinel_indicator_value{indicator="kv-cache",instance="gpu-2:8000",model_name="llama"} 0.4
# HELP vllm_sentinel_indicator_state 1 for the state of a leading indicator's alert for a group: inactive, pending, firing or no_data.
# TYPE vllm_sentinel_indicator_state gauge
vllm_sentinel_indicator_state{indicator="deep",instance="gpu-1:8000",state="pending"} 1
vllm_sentinel_indicator_state{indicator="kv-cache",instance="gpu-1:8000",model_name="llama",state="firing"} 1
vllm_sentinel_indicator_state{indicator="kv-cache",instance="gpu-2:8000",model_name="llama",state="inactive"} 1
vllm_sentinel_indicator_state{exported_state="x",indicator="kv-cache",instance="gpu-3:8000",model_name="llama",state="no_data"} 1
# HELP vllm_sentinel_indicator_threshold Threshold of a built-in leading indicator.
# TYPE vllm_sentinel_indicator_threshold gauge
vllm_sentinel_indicator_threshold{indicator="kv-cache"} 0.9
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricIndicatorValue, MetricIndicatorState, MetricIndicatorThreshold); err != nil {
		t.Error(err)
	}
}

// families gathers reg and counts the series of each family.
func families(t *testing.T, reg prometheus.Gatherer) map[string][]*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*dto.Metric{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetMetric()
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// A burning SLO through a real cycle: every window's series with the
// group's own label, the pairs' factors; without per-window series only
// the SLO window's events, the budget and the firing pairs are left.
func TestMetricsPerWindowSwitch(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	eng, err := NewEngine(New(newBurningFake(), []*rules.SLO{ttftSLOWithLinks(t)}, nil, Options{}), nil, EngineOptions{Interval: 30 * time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	eng.ExportMetrics()
	eng.Cycle(context.Background(), at(0))

	got := families(t, reg)
	if n := len(got[MetricSLOBurnRate]); n != 8 {
		t.Errorf("%d burn-rate series, want 8 (7 windows and the SLO window)", n)
	}
	for _, m := range got[MetricSLOBurnRate] {
		if label(m, "model_name") != "llama" || label(m, "group") != "" {
			t.Errorf("burn rate series %v: want model_name=llama and no group label", m.GetLabel())
		}
	}
	if n := len(got[MetricSLOPairFactor]); n != 4 {
		t.Errorf("%d pair factor series, want 4", n)
	}
	for _, m := range got[MetricSLOPairFactor] {
		// 2% of a 28-day budget in an hour.
		if v := m.GetGauge().GetValue(); label(m, "long_window") == "1h" && math.Abs(v-13.44) > 1e-9 {
			t.Errorf("factor of 1h/5m = %v, want 13.44", v)
		}
	}
	firing := len(got[MetricSLOPairFiring])
	if firing == 0 {
		t.Fatal("no pair fires")
	}

	eng.SetWindowMetrics(false)
	got = families(t, reg)
	for _, name := range []string{MetricSLOBurnRate, MetricSLOErrorRatio} {
		if n := len(got[name]); n != 0 {
			t.Errorf("without per-window series: %d %s series", n, name)
		}
	}
	if ev := got[MetricSLOEvents]; len(ev) != 1 || label(ev[0], "window") != "4w" {
		t.Errorf("without per-window series, events: %v; want the SLO window's alone", ev)
	}
	if len(got[MetricSLOBudgetRemaining]) != 1 || len(got[MetricSLOPairFiring]) != firing {
		t.Errorf("without per-window series: budget %v, firing %d (want %d)", got[MetricSLOBudgetRemaining], len(got[MetricSLOPairFiring]), firing)
	}
}

// An engine rebuilt on reload registers on the same registry: the series
// are exported once, by the engine that runs.
func TestMetricsReloadExportsOnce(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	rep := &Report{SLOs: []SLOResult{{SLO: "ttft", Labels: map[string]string{"model_name": "m1"}, BudgetRemaining: ptr(0.25),
		Budget: WindowResult{Window: rules.Duration(28 * 24 * time.Hour), Events: 10}}}}
	var engines []*Engine
	for range 2 {
		e, err := NewEngine(New(nil, nil, nil, Options{}), nil, EngineOptions{Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		e.last = rep
		engines = append(engines, e)
	}
	engines[0].ExportMetrics()
	engines[1].ExportMetrics()
	if n := len(families(t, reg)[MetricSLOBudgetRemaining]); n != 1 {
		t.Errorf("%d budget series after a reload, want 1", n)
	}
}
