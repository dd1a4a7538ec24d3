package evaluator

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// A window the event store does not hold yet is exported as warming, never
// as zero events.
func TestMetricsExportWarmingWindows(t *testing.T) {
	e := &Engine{last: &Report{SLOs: []SLOResult{{
		SLO: "ttft", Labels: map[string]string{"model_name": "m1"}, State: StateWarming,
		Windows: []WindowResult{{Window: rules.Duration(time.Hour), ErrorRatio: ptr(0.01), BurnRate: ptr(1.0), Events: 100}},
		Budget:  WindowResult{Window: rules.Duration(28 * 24 * time.Hour), Warming: true},
	}}}}
	c := newResultCollector()
	c.engine.Store(e)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `
# HELP vllm_sentinel_slo_events Events counted by an SLO over a window.
# TYPE vllm_sentinel_slo_events gauge
vllm_sentinel_slo_events{group="model_name=m1",slo="ttft",window="1h"} 100
# HELP vllm_sentinel_slo_window_warming 1 for a window the event store does not hold yet (its history is being read): its numbers are unknown and not exported.
# TYPE vllm_sentinel_slo_window_warming gauge
vllm_sentinel_slo_window_warming{group="model_name=m1",slo="ttft",window="4w"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vllm_sentinel_slo_events", "vllm_sentinel_slo_window_warming"); err != nil {
		t.Error(err)
	}
}
