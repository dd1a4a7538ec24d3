package diagnosis

import (
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

func v(f float64) *float64 { return &f }

// sigs builds signals from name → [baseline, window]; a negative value is
// no data.
func sigs(m map[string][2]float64) []Signal {
	var out []Signal
	for _, d := range signalDefs() {
		g := Signal{Name: d.name, Unit: d.unit}
		if p, ok := m[d.name]; ok {
			if p[0] >= 0 {
				g.Baseline = v(p[0])
			}
			if p[1] >= 0 {
				g.Window = v(p[1])
			}
		}
		out = append(out, g)
	}
	return out
}

func TestAttribute(t *testing.T) {
	cases := []struct {
		name     string
		focus    Focus
		m        map[string][2]float64
		cause    string
		evidence []string
	}{
		{"queueing", FocusTTFT, map[string][2]float64{
			SignalTTFT: {0.11, 6.5}, SignalQueue: {0.08, 6.4}, SignalPrefill: {0.03, 0.03},
			SignalKVUsage: {0.5, 0.71}, SignalPreemptions: {0, 0}, SignalWaiting: {0, 90}, SignalRunning: {60, 70},
		}, CauseQueueing, []string{"queue time 80 ms → 6.4 s, 99 % of the TTFT rise", "prefill flat at 30 ms", "KV peak 0.71", "no preemptions", "90 waiting vs 70 running"}},
		{"kv pressure before queueing", FocusTTFT, map[string][2]float64{
			SignalTTFT: {0.1, 5}, SignalQueue: {0.05, 4.8}, SignalPrefill: {0.04, 0.05},
			SignalKVUsage: {0.6, 0.99}, SignalPreemptions: {0, 0.08},
		}, CauseKVPressure, []string{"preemptions per request 0 → 0.08", "KV peak 0.99", "queue time 50 ms → 4.8 s"}},
		{"a few preemptions are not KV pressure", FocusTTFT, map[string][2]float64{
			SignalTTFT: {0.1, 5}, SignalQueue: {0.05, 4.8}, SignalPrefill: {0.04, 0.05}, SignalPreemptions: {0.001, 0.004},
		}, CauseQueueing, nil},
		{"long prefill", FocusTTFT, map[string][2]float64{
			SignalTTFT: {0.06, 0.5}, SignalQueue: {0.01, 0.1}, SignalPrefill: {0.03, 0.35},
			SignalPromptTokens: {1000, 6700}, SignalPrefixHitRatio: {0.2, 0.03},
		}, CauseLongPrefill, []string{"prefill 30 ms → 0.35 s, 73 % of the TTFT rise", "prompt length 1000 tokens → 6700 tokens", "prefix-cache hits 20 % → 3 %"}},
		{"no phase carries the rise", FocusTTFT, map[string][2]float64{
			SignalTTFT: {0.1, 1}, SignalQueue: {0.05, 0.3}, SignalPrefill: {0.05, 0.3},
		}, CauseUnknown, []string{"TTFT 0.1 s → 1 s"}},
		{"without a baseline, shares of the window", FocusTTFT, map[string][2]float64{
			SignalTTFT: {-1, 2}, SignalQueue: {-1, 1.8}, SignalPrefill: {-1, 0.2},
		}, CauseQueueing, []string{"queue time 1.8 s (no baseline), 90 % of TTFT"}},
		{"slow decode", FocusDecode, map[string][2]float64{
			SignalDecodePerToken: {0.008, 0.014}, SignalKVUsage: {0.1, 0.12}, SignalPreemptions: {0, 0},
		}, CauseSlowDecode, []string{"decode time per token 8 ms → 14 ms"}},
		{"decode barely moved", FocusDecode, map[string][2]float64{SignalDecodePerToken: {0.008, 0.009}}, CauseUnknown, nil},
		{"errors", FocusErrors, map[string][2]float64{SignalErrorRatio: {0.0002, 0.08}, SignalTTFT: {0.04, 0.04}}, CauseErrors,
			[]string{"error ratio 0.02 % → 8 %", "TTFT flat at 40 ms"}},
		{"errors that did not rise", FocusErrors, map[string][2]float64{SignalErrorRatio: {0.01, 0.011}}, CauseUnknown, nil},
		{"no data at all", FocusTTFT, nil, CauseUnknown, []string{"TTFT unknown"}},
		{"e2e: decode carries it", FocusE2E, map[string][2]float64{
			SignalE2E: {2, 6}, SignalQueue: {0.01, 0.02}, SignalPrefill: {0.03, 0.04}, SignalDecode: {2, 5.9},
		}, CauseSlowDecode, []string{"decode 2 s → 5.9 s, 98 % of the e2e latency rise"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Attribute(c.focus, rules.Duration(time.Hour), sigs(c.m))
			if d.Cause != c.cause {
				t.Fatalf("cause %s (%s), want %s", d.Cause, d.Evidence, c.cause)
			}
			for _, e := range c.evidence {
				if !strings.Contains(d.Evidence, e) {
					t.Errorf("evidence %q lacks %q", d.Evidence, e)
				}
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{0.08, UnitSeconds, "80 ms"}, {6.4, UnitSeconds, "6.4 s"}, {0.0002, UnitRatio, "0.02 %"}, {0.91, UnitRatio, "91 %"},
		{6712, UnitTokens, "6712 tokens"}, {0, "", "0"}, {0.123456, "", "0.12"}, {123.4, UnitSeconds, "123 s"},
	} {
		if got := FormatValue(c.v, c.unit); got != c.want {
			t.Errorf("FormatValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

// Every signal's query parses, reads its window and the span before it,
// and uses the detected names, native histograms and the selector.
func TestQueries(t *testing.T) {
	p := rules.NewPromQL()
	sel, err := p.ParseSelector(`{job="vllm"}`)
	if err != nil {
		t.Fatal(err)
	}
	names := func(s string) string { return rules.MetricName(s, rules.FlavourUnderscore) }
	native := func(s string) bool { return s == "time_to_first_token" }
	qs, err := Queries(Source{PromQL: p, Names: names, Native: native, Selector: sel, GroupBy: []string{"model_name"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != len(signalDefs()) {
		t.Fatalf("%d queries for %d signals", len(qs), len(signalDefs()))
	}
	for _, q := range qs {
		for _, want := range []string{"[1h]", "[1h] offset 1h", `job="vllm"`, "by (model_name)", SpanWindow, SpanBaseline} {
			if !strings.Contains(q.Expr, want) {
				t.Errorf("%s: %s lacks %q", q.Signal, q.Expr, want)
			}
		}
		if strings.Contains(q.Expr, "vllm:") {
			t.Errorf("%s: %s keeps a V1 name under the vllm_ flavour", q.Signal, q.Expr)
		}
		if q.Signal == SignalTTFT && !strings.Contains(q.Expr, "histogram_count(sum by (model_name) (increase(vllm_time_to_first_token_seconds{") {
			t.Errorf("native TTFT not read as a native histogram: %s", q.Expr)
		}
	}
}

// Before TTFT moves, shares of its rise are noise: the signal that moved
// names the cause.
func TestAttributeBeforeTheRise(t *testing.T) {
	for _, c := range []struct {
		name  string
		m     map[string][2]float64
		cause string
		want  string
	}{
		{"KV filling", map[string][2]float64{SignalTTFT: {0.08, 0.085}, SignalQueue: {0.0096, 0.012}, SignalPrefill: {0.046, 0.049},
			SignalKVUsage: {0.5, 0.97}, SignalPreemptions: {0, 0}}, CauseKVPressure, "KV peak 0.97; no preemptions; TTFT 80 ms → 85 ms"},
		{"queue forming", map[string][2]float64{SignalTTFT: {0.08, 0.09}, SignalWaiting: {0.5, 12}, SignalKVUsage: {0.3, 0.4}},
			CauseQueueing, "waiting 0.5 → 12"},
		{"prompts growing", map[string][2]float64{SignalTTFT: {0.06, 0.08}, SignalPromptTokens: {1000, 4000}}, CauseLongPrefill,
			"prompt length 1000 tokens → 4000 tokens"},
		{"nothing moved", map[string][2]float64{SignalTTFT: {0.08, 0.09}, SignalKVUsage: {0.3, 0.4}}, CauseUnknown, "TTFT 80 ms → 90 ms"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := Attribute(FocusTTFT, rules.Duration(10*time.Minute), sigs(c.m))
			if d.Cause != c.cause || !strings.Contains(d.Evidence, c.want) {
				t.Errorf("%s: %s, want %s with %q", d.Cause, d.Evidence, c.cause, c.want)
			}
		})
	}
}
