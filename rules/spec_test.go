package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// An objective is a decimal percentage; what else big.Rat reads is refused,
// and every accepted one is valid JSON.
func TestObjectiveSyntaxAndJSON(t *testing.T) {
	for _, bad := range []string{"1/3", "0x63", "1_0", "99.9.9", "1e99999", "99,9", "1e-17", "1e-9999", "99.99999999999999999"} {
		if o, err := ParseObjective(bad); err == nil {
			t.Errorf("%s: accepted as %v", bad, o.Percent())
		}
	}
	for _, tc := range []struct{ in, json string }{
		{"99.9", "99.9"}, {".5", "0.5"}, {"5.", "5"}, {"+99", "99"}, {"099", "99"}, {"9.99e1", "99.9"}, {"99.95%", "99.95"},
	} {
		o, err := ParseObjective(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		b, err := json.Marshal(o)
		if err != nil || string(b) != tc.json {
			t.Errorf("%s: JSON %s, %v; want %s", tc.in, b, err, tc.json)
		}
	}
}

// The queries name the histogram and the metric: a name they cannot hold,
// or a selector that names the metric again, is refused when the spec is
// compiled, not at every evaluation.
func TestSpecsTheQueriesCouldNotHold(t *testing.T) {
	p := NewPromQL()
	obj, _ := ParseObjective("99")
	th := Seconds(1)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"latency metric", compileErr(Compile(p, SLOSpec{Name: "a", Objective: obj, Window: Duration(time.Hour),
			SLI: SLISpec{Latency: &LatencySLI{Metric: "0", Threshold: 1}}}, Defaults{})),
			`sli.latency.metric: invalid metric name "0"`},
		{"latency selector", compileErr(Compile(p, SLOSpec{Name: "a", Objective: obj, Window: Duration(time.Hour),
			SLI: SLISpec{Latency: &LatencySLI{Metric: "time_to_first_token", Threshold: 1, Selector: `{__name__="x"}`}}}, Defaults{})),
			`sli.latency.selector: selector "{__name__=\"x\"}" matches on __name__`},
		{"window without default pairs", compileErr(Compile(p, SLOSpec{Name: "a", Objective: obj, Window: Duration(30 * time.Minute),
			SLI: SLISpec{Latency: &LatencySLI{Metric: "time_to_first_token", Threshold: 1}}}, Defaults{})),
			`window: window 30m is shorter than 1h, the shortest default alerting window`},
		{"ratio side of range vectors", compileErr(Compile(p, SLOSpec{Name: "a", Objective: obj, Window: Duration(28 * 24 * time.Hour),
			SLI: SLISpec{Ratio: &RatioSLI{Errors: `increase(a[5m])[5m:1m]`, Total: `b[5m]`}}}, Defaults{})),
			`sli.ratio.errors: PromQL "increase(a[5m])[5m:1m]" is a range vector`},
		{"scalar ratio side", compileErr(Compile(p, SLOSpec{Name: "a", Objective: obj, Window: Duration(28 * 24 * time.Hour),
			SLI: SLISpec{Ratio: &RatioSLI{Errors: `scalar(sum(increase(a[5m])))`, Total: `b`}}}, Defaults{})),
			`sli.ratio.errors: PromQL "scalar(sum(increase(a[5m])))" is a scalar`},
		{"indicator of a range vector", compileErr(CompileIndicator(p, IndicatorSpec{Name: "c", Expr: `a[5m]`}, Defaults{})),
			`expr: PromQL "a[5m]" is a range vector`},
		{"percentile metric", compileErr(CompileIndicator(p, IndicatorSpec{Name: "p", Kind: KindLatencyPercentile, Metric: "a b", Percentile: 99, Threshold: &th}, Defaults{})),
			`metric: invalid metric name "a b"`},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, tc.err, tc.want)
		}
	}
	if _, err := CheckSelector(p, `{job="vllm",namespace=~"prod-.*"}`); err != nil {
		t.Error(err)
	}
}

func compileErr[T any](_ *T, err error) error { return err }

func TestConfidenceIsAProbability(t *testing.T) {
	obj, err := ParseObjective("99")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []float64{-0.1, 1, 95} {
		spec := SLOSpec{Name: "ttft", Objective: obj, Window: Duration(28 * 24 * time.Hour),
			SLI:      SLISpec{Latency: &LatencySLI{Metric: "time_to_first_token", Threshold: 1}},
			Alerting: AlertingSpec{Confidence: &c}}
		_, err := Compile(NewPromQL(), spec, Defaults{})
		if err == nil || !strings.Contains(err.Error(), "confidence must be at least 0 and below 1") {
			t.Errorf("confidence %g: err %v", c, err)
		}
	}
	half := 0.5
	s, err := Compile(NewPromQL(), SLOSpec{Name: "ttft", Objective: obj, Window: Duration(28 * 24 * time.Hour),
		SLI: SLISpec{Latency: &LatencySLI{Metric: "time_to_first_token", Threshold: 1}}, Alerting: AlertingSpec{Confidence: &half}}, Defaults{})
	if err != nil || s.Z != 0 {
		t.Errorf("confidence 0.5: z %v, err %v; want 0 (the observed ratio)", s.Z, err)
	}
}
