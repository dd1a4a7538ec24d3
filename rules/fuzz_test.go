package rules

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// scalar is a YAML scalar node as the decoder hands it to UnmarshalYAML.
func scalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Line: 1, Column: 1}
}

// FuzzParseDuration: a duration that parses prints as one that parses
// back to itself, and the YAML form accepts exactly what ParseDuration does.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "5m", "1h30m", "28d", "1w", "1y", "0", "0s", "5x", "four weeks", "", "-1m", "1.5h",
		"292y", "9223372036854775807ms", "99999999999999999999d", "1ms1s", "1h1h", "1d2h3m4s5ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		var y Duration
		yerr := y.UnmarshalYAML(scalar(s))
		if (err == nil) != (yerr == nil) || y != d {
			t.Fatalf("%q: ParseDuration %v, %v; UnmarshalYAML %v, %v", s, d, err, y, yerr)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "invalid duration") {
				t.Fatalf("%q: %v", s, err)
			}
			var te *yaml.TypeError
			if !errors.As(yerr, &te) || len(te.Errors) != 1 || !strings.HasPrefix(te.Errors[0], "line 1: ") {
				t.Fatalf("%q: YAML error %v is not a located TypeError", s, yerr)
			}
			return
		}
		if d < 0 {
			t.Fatalf("%q: negative %v", s, d.D())
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("%q: printed as %q, which parses to %v, %v", s, d.String(), back.D(), err)
		}
		if b, err := d.MarshalText(); err != nil || string(b) != d.String() {
			t.Fatalf("%q: MarshalText %q, %v", s, b, err)
		}
	})
}

// FuzzSeconds: a threshold that decodes is finite and not negative, and a
// bad one is a located TypeError.
func FuzzSeconds(f *testing.F) {
	for _, s := range []string{"1s", "250ms", "0.5", "2", "0", "-1", "-1s", "nan", "inf", "-Inf", "1e400", "fast", "", "0x1p-2", "1_000", "1h1ms", "9999999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v Seconds
		err := v.UnmarshalYAML(scalar(s))
		if err != nil {
			var te *yaml.TypeError
			if !errors.As(err, &te) || len(te.Errors) != 1 || !strings.HasPrefix(te.Errors[0], "line 1: ") {
				t.Fatalf("%q: error %v is not a located TypeError", s, err)
			}
			return
		}
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			t.Fatalf("%q: decoded to %v", s, f)
		}
		_ = v.String()
	})
}

// FuzzObjective: an objective that parses is strictly between 0 and 100,
// its budget and ratio add up to one, it prints as written and it is valid
// JSON; one that does not is a located TypeError in YAML.
func FuzzObjective(f *testing.F) {
	for _, s := range []string{"99.9", "99", "99.99", "95.5", "99.95%", "100", "0", "-1", "abc", "150", " 99.9 ", "1/3", "0x63", ".5", "5.",
		"+99", "099", "9.99e1", "1e-999999999", "1e999999999", "99.9999999999999999999999", "", "%", "1_0", "Inf", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseObjective(s)
		var y Objective
		yerr := y.UnmarshalYAML(scalar(s))
		if (err == nil) != (yerr == nil) {
			t.Fatalf("%q: ParseObjective %v; UnmarshalYAML %v", s, err, yerr)
		}
		if err != nil {
			var te *yaml.TypeError
			if !errors.As(yerr, &te) || len(te.Errors) != 1 || !strings.HasPrefix(te.Errors[0], "line 1: ") {
				t.Fatalf("%q: YAML error %v is not a located TypeError", s, yerr)
			}
			if s != "" && y.IsZero() {
				t.Fatalf("%q: refused, and then taken for missing", s)
			}
			return
		}
		if p := o.Percent(); !(p > 0 && p < 100) {
			t.Fatalf("%q: percent %v", s, p)
		}
		if b := o.Budget(); !(b > 0 && b < 1) || math.Abs(b+o.Ratio()-1) > 1e-9 {
			t.Fatalf("%q: budget %v ratio %v", s, b, o.Ratio())
		}
		if o.IsZero() || o.String() != y.String() {
			t.Fatalf("%q: %q and %q", s, o.String(), y.String())
		}
		b, err := json.Marshal(struct{ O Objective }{o})
		if err != nil || !json.Valid(b) {
			t.Fatalf("%q: JSON %s, %v", s, b, err)
		}
		var back struct{ O float64 }
		if err := json.Unmarshal(b, &back); err != nil || back.O != o.Percent() {
			t.Fatalf("%q: JSON %s reads back as %v, %v", s, b, back.O, err)
		}
	})
}

// FuzzScalarsYAML: decoding whole YAML documents into the scalar types
// never panics, and whatever decodes keeps the types' invariants.
func FuzzScalarsYAML(f *testing.F) {
	for _, s := range []string{
		"d: 5m\ns: 1s\no: 99.9\n",
		"d: [30s]\n",
		"d: {a: b}\ns: [1]\no: {x: 1}\n",
		"o: 100\n",
		"o: !!float 99.5\ns: !!int 2\n",
		"o: &a 99\nl: [*a, 5m]\n",
		"l: [5x, 1m]\nt: fast\n",
		"s: ~\no: ~\nd: ~\n",
		"o: \"\"\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v struct {
			D Duration   `yaml:"d"`
			S Seconds    `yaml:"s"`
			O Objective  `yaml:"o"`
			L []Duration `yaml:"l"`
			T *Seconds   `yaml:"t"`
		}
		if err := yaml.Unmarshal([]byte(s), &v); err != nil {
			return
		}
		if v.D < 0 {
			t.Fatalf("negative duration %v", v.D.D())
		}
		for _, d := range v.L {
			if d < 0 {
				t.Fatalf("negative duration %v", d.D())
			}
		}
		for _, x := range []*Seconds{&v.S, v.T} {
			if x != nil && (math.IsNaN(float64(*x)) || math.IsInf(float64(*x), 0) || *x < 0) {
				t.Fatalf("threshold %v", float64(*x))
			}
		}
		if !v.O.IsZero() {
			if p := v.O.Percent(); !(p > 0 && p < 100) || !(v.O.Budget() > 0 && v.O.Budget() < 1) {
				t.Fatalf("objective %q: %v", v.O, p)
			}
		}
	})
}

// FuzzCompile: compiling SLOs and indicators from arbitrary strings never
// panics; a spec either compiles or says why in FieldErrors, and every
// query built from a compiled one parses again.
func FuzzCompile(f *testing.F) {
	type seed struct {
		name, errs, total, sel, defSel, metric, groupBy, objective, window, calendar, tz, annotation string
		latency                                                                                      bool
		threshold                                                                                    float64
	}
	for _, s := range []seed{
		{"ttft", "", "", "", `{job="vllm"}`, "time_to_first_token", "model_name", "99", "28d", "", "", "{{ .Labels.model_name }}", true, 1},
		{"canary", "", "", `{job="vllm-canary"}`, `{job="vllm",namespace="prod"}`, "time_to_first_token", "model_name", "99", "28d", "", "", "", true, 1},
		{"errors", `vllm:request_success_total{finished_reason="error"}`, `vllm:request_success_total`, "", `{job="vllm"}`, "", "model_name", "99.9", "28d", "", "", "https://runbooks.example/vllm/ttft", false, 0},
		{"full", `sum by (model_name) (increase(vllm:request_success_total{finished_reason=~"error|abort",job="other"}[5m]))`, `vllm:request_success_total`, "", `{job="vllm",namespace=~"prod-.*"}`, "", "model_name", "99.5", "", "month", "Europe/Berlin", "", false, 0},
		{"rate", `sum(rate(vllm:request_success_total{finished_reason="error"}[5m]))`, `vllm:request_success_total`, "", "", "", "model_name", "99", "7d", "", "", "", false, 0},
		{"drops", `sum by (instance) (increase(vllm:request_success_total{finished_reason="error"}[5m]))`, `vllm:request_success_total`, "", "", "", "model_name", "99", "28d", "", "", "", false, 0},
		{"unclosed", `sum(rate(vllm:request_success_total{finished_reason="error"}[5m])`, `sum(rate(vllm:request_success_total[5m]))`, "", "", "", "", "99.9", "28d", "", "", "", false, 0},
		{"norange", `sum(vllm:request_success_total)`, `vllm:request_success_total`, "", "", "", "", "99", "28d", "week", "", "", false, 0},
		{"subquery", `increase(a[5m:1m] @ 100 offset -1h)`, `-b`, "", "", "", "", "99", "1d", "", "", "{{ bad", false, 0},
		{"strings", `label_replace(increase(a{b="\"\\\n"}[1m]), "x", "$1", "y", "(.*)")`, `{__name__=~"a|b"}[5m]`, `{"utf8.name"="x"}`, "", "", "engine", "0.0001", "1w", "", "Mars/Olympus", "", false, 0},
		{"", "", "", "{", "}", "", "", "100", "5x", "year", "", "", true, -1},
		{"sub", `increase(a[5m])[5m:1m]`, `scalar(sum(increase(b[5m])))`, "", "", "", "model_name", "99", "28d", "", "", "", false, 0},
		{"short", "", "", `{__name__="up"}`, `{__name__="up"}`, "0", "", "99", "30m", "", "", "", true, 1},
	} {
		f.Add(s.name, s.errs, s.total, s.sel, s.defSel, s.metric, s.groupBy, s.objective, s.window, s.calendar, s.tz, s.annotation, s.latency, s.threshold)
	}
	p := NewPromQL()
	names := func(short string) string { return MetricName(short, FlavourUnderscore) }
	reparse := func(t *testing.T, what, q string) {
		t.Helper()
		if _, err := p.ParseExpr(q); err != nil {
			t.Fatalf("%s %q does not parse again: %v", what, q, err)
		}
	}
	f.Fuzz(func(t *testing.T, name, errs, total, sel, defSel, metric, groupBy, objective, window, calendar, tz, annotation string, latency bool, threshold float64) {
		spec := SLOSpec{Name: name, Calendar: calendar, TimeZone: tz}
		spec.Objective, _ = ParseObjective(objective)
		spec.Window, _ = ParseDuration(window)
		if groupBy != "" {
			spec.GroupBy = strings.Split(groupBy, ",")
		}
		if latency {
			spec.SLI.Latency = &LatencySLI{Metric: metric, Threshold: Seconds(threshold), Selector: sel}
		} else {
			spec.SLI.Ratio = &RatioSLI{Errors: errs, Total: total}
		}
		spec.Alerting.Annotations = map[string]string{"summary": annotation}
		spec.Alerting.Labels = map[string]string{strings.ReplaceAll(name, "-", "_"): groupBy}
		// The loader checks vllm.selector, and passes it only if good.
		d := Defaults{GroupBy: []string{"model_name"}}
		if _, err := CheckSelector(p, defSel); err == nil {
			d.Selector = defSel
		}
		s, err := Compile(p, spec, d)
		checkCompiled(t, s, err)
		if s != nil {
			if len(s.Windows) == 0 {
				t.Fatal("no windows")
			}
			for _, w := range s.QueryWindows() {
				if s.Ratio != nil {
					q, err := p.RatioParts(s.Ratio.Errors, s.Ratio.Total, s.Selector, s.GroupBy, w, names)
					if err != nil {
						t.Fatalf("compiled, but cannot build its query: %v", err)
					}
					reparse(t, "ratio query", q)
				}
				if s.Latency != nil {
					reparse(t, "bucket query", p.BucketIncreases(MetricName(s.Latency.Metric, FlavourV1), s.Selector, []string{"1", "+Inf"}, s.GroupBy, w))
				}
			}
		}

		kinds := append([]string{""}, indicatorKinds...)
		ind := IndicatorSpec{Name: name, Kind: kinds[len(metric)%len(kinds)], Metric: metric, Percentile: threshold, Window: spec.Window,
			Annotations: map[string]string{"summary": annotation}}
		if ind.Kind == "" {
			ind.Expr = errs
		}
		if th := Seconds(threshold); threshold >= 0 && !math.IsInf(threshold, 0) && !math.IsNaN(threshold) {
			ind.Threshold = &th
		}
		in, err := CompileIndicator(p, ind, d)
		checkCompiled(t, in, err)
		if in != nil {
			reparse(t, "indicator query", in.Query(p, names))
			reparse(t, "indicator value query", in.ValueQuery(p, names))
		}
	})
}

// checkCompiled: exactly one of the result and the error, and the error's
// problems as FieldErrors, each with a path.
func checkCompiled[T any](t *testing.T, r *T, err error) {
	t.Helper()
	if (r == nil) == (err == nil) {
		t.Fatalf("result %v and error %v", r, err)
	}
	if err == nil {
		return
	}
	var fes FieldErrors
	if !errors.As(err, &fes) || len(fes) == 0 {
		t.Fatalf("error %v without FieldErrors", err)
	}
	for _, fe := range fes {
		if len(fe.Path) == 0 || fe.Err == nil {
			t.Fatalf("field error without a path: %v", fe)
		}
	}
}
