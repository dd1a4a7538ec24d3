package rules

import (
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

func exportFixture(t *testing.T, spec SLOSpec) (*PromQL, *SLO, *RuleFile) {
	t.Helper()
	p := NewPromQL()
	s, err := Compile(p, spec, Defaults{GroupBy: []string{"model_name"}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.ExportRules([]*SLO{s}, nil, 30*time.Second, map[string]string{"cluster": "eu", "team": "other"})
	if err != nil {
		t.Fatal(err)
	}
	return p, s, f
}

func exportErrorsSpec() SLOSpec {
	obj, _ := ParseObjective("99")
	return SLOSpec{Name: "errors", Objective: obj, Window: Duration(30 * 24 * time.Hour),
		SLI:      SLISpec{Ratio: &RatioSLI{Errors: `vllm:request_success_total{finished_reason="error"}`, Total: `vllm:request_success_total`}},
		Alerting: AlertingSpec{Labels: map[string]string{"team": "inference", "severity": "ignored"}, Annotations: map[string]string{"runbook_url": "https://runbooks.example/errors", "dashboard": "{{ .SLO }}"}}}
}

func exportTTFTSpec() SLOSpec {
	obj, _ := ParseObjective("99")
	return SLOSpec{Name: "ttft", Objective: obj, Window: Duration(28 * 24 * time.Hour),
		SLI: SLISpec{Latency: &LatencySLI{Metric: "time_to_first_token", Threshold: 1, Selector: `{job="vllm"}`}}}
}

// windowGroup is the group of an SLO's windows and alerts, named as before
// the base records got their own group, so that Prometheus keeps its alert
// state across the upgrade.
func windowGroup(t *testing.T, f *RuleFile, slo string) *RuleGroup {
	t.Helper()
	for i := range f.Groups {
		if f.Groups[i].Name == "vllm-sentinel-slo-"+slo {
			return &f.Groups[i]
		}
	}
	t.Fatalf("no group for SLO %s in %+v", slo, f.Groups)
	return nil
}

// The exported alert is the daemon's burn alert: same labels, same summary
// shape, and an expression whose value is the long window's burn rate.
func TestExportedBurnAlertIsTheDaemonsAlert(t *testing.T) {
	p, s, f := exportFixture(t, exportErrorsSpec())
	g := windowGroup(t, f, "errors")
	var page *Rule
	for i, r := range g.Rules {
		if r.Alert != "" && r.Labels["long_window"] == "1h" {
			page = &g.Rules[i]
		}
	}
	if page == nil {
		t.Fatal("no 1h/5m alert exported")
	}
	want := `vllm_sentinel:slo_error_ratio:rate1h{slo="errors"} / 0.01 > 14.4 and vllm_sentinel:slo_error_ratio:rate5m{slo="errors"} / 0.01 > 14.4 and vllm_sentinel:slo_events:rate1h{slo="errors"} >= 10`
	if page.Expr != want {
		t.Errorf("expr\n got  %s\n want %s", page.Expr, want)
	}
	if _, err := p.ParseExpr(page.Expr); err != nil {
		t.Errorf("does not re-parse: %v", err)
	}
	if page.KeepFiringFor != "5m" {
		t.Errorf("keep_firing_for %q, want the short window 5m, as the daemon damps the pair", page.KeepFiringFor)
	}
	daemon := s.BurnAlertLabels(s.Windows[0])
	delete(daemon, "alertname")
	for k, v := range daemon {
		if page.Labels[k] != v {
			t.Errorf("label %s: exported %q, daemon %q", k, page.Labels[k], v)
		}
	}
	if page.Labels["severity"] != "critical" || page.Labels["team"] != "inference" || page.Labels["cluster"] != "eu" {
		t.Errorf("labels %v", page.Labels)
	}
	if got := page.Annotations["summary"]; got != s.BurnSummary(s.Windows[0], "", `{{ $value | printf "%.2f" }}`) || !strings.HasPrefix(got, "SLO errors is burning its error budget ") {
		t.Errorf("summary %q", got)
	}
	if page.Annotations["runbook_url"] != "https://runbooks.example/errors" || page.Annotations["dashboard"] != "" {
		t.Errorf("annotations %v", page.Annotations)
	}
}

// Each SLO exports a base group, evaluated every 5m, that records the bad
// and all events of the last 5m; windows up to 1h (5m, 30m, 1h) are read
// from the raw series and every longer one, the budget window included,
// sums the base records. No expression reads more than 5m of a raw series
// except those direct windows, which read exactly their window.
func TestExportSumsLongWindowsFromFiveMinuteRecords(t *testing.T) {
	for name, tc := range map[string]struct {
		spec       SLOSpec
		bad, total string
	}{
		"latency": {
			spec:  exportTTFTSpec(),
			bad:   `clamp_min(sum by (model_name) (increase(vllm:time_to_first_token_seconds_count{job="vllm"}[5m])) - sum by (model_name) (increase(vllm:time_to_first_token_seconds_bucket{job="vllm",le=~"1|1\\.0"}[5m])), 0)`,
			total: `sum by (model_name) (increase(vllm:time_to_first_token_seconds_count{job="vllm"}[5m]))`,
		},
		"ratio": {
			spec:  exportErrorsSpec(),
			bad:   `sum by (model_name) (increase(vllm:request_success_total{finished_reason="error"}[5m]))`,
			total: `sum by (model_name) (increase(vllm:request_success_total[5m]))`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			p, s, f := exportFixture(t, tc.spec)
			if len(f.Groups) != 2 {
				t.Fatalf("%d groups, want the base group and the window group", len(f.Groups))
			}
			base, g := f.Groups[0], windowGroup(t, f, s.Name)
			if base.Name != g.Name+"-increase5m" || base.Interval != "5m" || g.Interval != "30s" {
				t.Errorf("groups %q every %s, %q every %s", base.Name, base.Interval, g.Name, g.Interval)
			}
			if len(base.Rules) != 2 ||
				base.Rules[0].Record != RecordBadEvents || base.Rules[0].Expr != tc.bad ||
				base.Rules[1].Record != RecordTotalEvents || base.Rules[1].Expr != tc.total {
				t.Errorf("base rules\n got  %+v\n want %s = %s\n      %s = %s", base.Rules, RecordBadEvents, tc.bad, RecordTotalEvents, tc.total)
			}
			for _, r := range base.Rules {
				if len(r.Labels) != 1 || r.Labels["slo"] != s.Name {
					t.Errorf("%s: labels %v", r.Record, r.Labels)
				}
				checkRanges(t, p, r, BaseSlot, false)
			}

			recorded := map[string]int{}
			for _, r := range g.Rules {
				if r.Alert != "" {
					checkRanges(t, p, r, 0, false)
					continue
				}
				recorded[r.Record]++
				w := recordWindow(t, r.Record)
				checkRanges(t, p, r, w, w > time.Hour)
				if r.Labels["slo"] != s.Name {
					t.Errorf("%s: labels %v", r.Record, r.Labels)
				}
			}
			for _, w := range append(s.QueryWindows(), s.Window) {
				for _, name := range []string{RecordErrorRatio + windowSuffix(w), RecordEvents + windowSuffix(w)} {
					if recorded[name] != 1 {
						t.Errorf("%s recorded %d times, want once", name, recorded[name])
					}
				}
			}

			budget := Duration(s.Window).String()
			wantRatio := `sum by (model_name) (sum_over_time(vllm_sentinel:slo_bad_events:increase5m{slo="` + s.Name + `"}[` + budget + `])) / ` +
				`sum by (model_name) (sum_over_time(vllm_sentinel:slo_total_events:increase5m{slo="` + s.Name + `"}[` + budget + `]))`
			wantEvents := `sum by (model_name) (sum_over_time(vllm_sentinel:slo_total_events:increase5m{slo="` + s.Name + `"}[` + budget + `]))`
			for _, r := range g.Rules {
				switch r.Record {
				case RecordErrorRatio + windowSuffix(s.Window):
					if r.Expr != wantRatio {
						t.Errorf("budget window ratio\n got  %s\n want %s", r.Expr, wantRatio)
					}
				case RecordEvents + windowSuffix(s.Window):
					if r.Expr != wantEvents {
						t.Errorf("budget window events\n got  %s\n want %s", r.Expr, wantEvents)
					}
				}
			}
		})
	}
}

// recordWindow is the window of a recorded name such as
// vllm_sentinel:slo_events:rate6h.
func recordWindow(t *testing.T, record string) time.Duration {
	t.Helper()
	i := strings.LastIndex(record, ":rate")
	if i < 0 || (!strings.HasPrefix(record, RecordErrorRatio+":") && !strings.HasPrefix(record, RecordEvents+":")) {
		t.Fatalf("unexpected record %q", record)
	}
	d, err := ParseDuration(record[i+len(":rate"):])
	if err != nil {
		t.Fatalf("record %q: %v", record, err)
	}
	return d.D()
}

// checkRanges parses r and checks each of its range selectors: a summed
// rule reads only the base records, through sum_over_time, over w; any
// other rule reads only raw series, over w (0: no range at all).
func checkRanges(t *testing.T, p *PromQL, r Rule, w time.Duration, summed bool) {
	t.Helper()
	e, err := p.ParseExpr(r.Expr)
	if err != nil {
		t.Errorf("%s%s does not parse: %v", r.Record, r.Alert, err)
		return
	}
	n := 0
	parser.Inspect(e, func(node parser.Node, path []parser.Node) error {
		ms, ok := node.(*parser.MatrixSelector)
		if !ok {
			return nil
		}
		n++
		vs := ms.VectorSelector.(*parser.VectorSelector)
		isBase := vs.Name == RecordBadEvents || vs.Name == RecordTotalEvents
		if ms.Range != w {
			t.Errorf("%s: %s read over %s, want %s", r.Record, vs, Duration(ms.Range), Duration(w))
		}
		if !isBase && ms.Range > time.Hour {
			t.Errorf("%s: raw series %s read over %s", r.Record, vs, Duration(ms.Range))
		}
		if !summed {
			if strings.HasPrefix(vs.Name, "vllm_sentinel:") {
				t.Errorf("%s: direct rule reads the record %s", r.Record, vs)
			}
			return nil
		}
		call, ok := path[len(path)-1].(*parser.Call)
		if !isBase || !ok || call.Func.Name != "sum_over_time" {
			t.Errorf("%s: reads %s other than as sum_over_time of a base record", r.Record, vs)
		}
		return nil
	})
	if (n == 0) != (w == 0) {
		t.Errorf("%s%s: %d range selectors in %s", r.Record, r.Alert, n, r.Expr)
	}
}

// A budget window that is also a burn-rate window is recorded once; an SLO
// whose windows are all direct has no base group to evaluate.
func TestExportRecordsEachWindowOnceAndBaseOnlyWhenSummed(t *testing.T) {
	spec := exportErrorsSpec()
	spec.Window = Duration(72 * time.Hour)
	_, _, f := exportFixture(t, spec)
	seen := map[string]bool{}
	for _, r := range windowGroup(t, f, "errors").Rules {
		if r.Record != "" && seen[r.Record] {
			t.Errorf("%s recorded twice", r.Record)
		}
		seen[r.Record] = true
	}
	if !seen[RecordErrorRatio+":rate3d"] || len(f.Groups) != 2 {
		t.Errorf("3d SLO: %d groups, records %v", len(f.Groups), seen)
	}

	spec.Window = Duration(time.Hour)
	_, _, f = exportFixture(t, spec)
	if len(f.Groups) != 1 || f.Groups[0].Name != "vllm-sentinel-slo-errors" {
		t.Fatalf("1h SLO: groups %+v", f.Groups)
	}
	for _, r := range f.Groups[0].Rules {
		if strings.Contains(r.Expr, "sum_over_time") {
			t.Errorf("1h SLO sums base records: %s", r.Expr)
		}
	}
}

func TestExportRefusesCalendarAndInterpolation(t *testing.T) {
	p := NewPromQL()
	interp := exportTTFTSpec()
	interp.SLI.Latency.ThresholdMode = ThresholdInterpolate
	cal := exportErrorsSpec()
	cal.Window, cal.Calendar = 0, "month"
	for name, tc := range map[string]struct {
		spec SLOSpec
		want string
	}{
		"interpolate": {interp, "interpolate cannot be exported"},
		"calendar":    {cal, "calendar windows cannot be exported"},
	} {
		s, err := Compile(p, tc.spec, Defaults{GroupBy: []string{"model_name"}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := p.ExportRules([]*SLO{s}, nil, time.Minute, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
	}
}

func exportIndicators(t *testing.T, p *PromQL, specs ...IndicatorSpec) []*Indicator {
	t.Helper()
	var ins []*Indicator
	for _, spec := range specs {
		in, err := CompileIndicator(p, spec, Defaults{Selector: `{job="vllm"}`, GroupBy: []string{"model_name"}})
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in)
	}
	return ins
}

// expandAlertTemplate expands an exported annotation as Prometheus's rule
// manager does (rules/alerting.go, template/template.go), for one alert
// with labels and value: text/template with its variables and the one
// function the exports use, humanizePercentage, as Prometheus defines it.
// Importing Prometheus's own engine would pull its whole TSDB into the
// module; the integration test has Prometheus expand them for real.
func expandAlertTemplate(t *testing.T, text string, labels map[string]string, value float64) string {
	t.Helper()
	defs := `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
	funcs := template.FuncMap{"humanizePercentage": func(v float64) string { return fmt.Sprintf("%.4g%%", v*100) }}
	tmpl, err := template.New("test").Option("missingkey=zero").Funcs(funcs).Parse(defs + text)
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	data := struct {
		Labels, ExternalLabels map[string]string
		ExternalURL            string
		Value                  any
	}{Labels: labels, Value: value}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatalf("expand %q: %v", text, err)
	}
	return b.String()
}

// Each exported indicator alert is the daemon's: its query, its labels,
// and texts that Prometheus expands to the daemon's words. A built-in kind
// holds its "for" in the query, so only keep_firing_for is left to the
// rule; a custom expression keeps its for.
func TestExportedIndicatorAlertIsTheDaemonsAlert(t *testing.T) {
	p := NewPromQL()
	th, forDur, keep := Seconds(0.85), Duration(5*time.Minute), Duration(3*time.Minute)
	ins := exportIndicators(t, p,
		IndicatorSpec{Name: "kv-cache", Kind: KindKVCachePressure, Threshold: &th, Labels: map[string]string{"team": "inference", "indicator": "ignored"},
			Annotations: map[string]string{"runbook_url": "https://runbooks.example/kv", "dashboard": "{{ .Indicator }}"}},
		IndicatorSpec{Name: "ttft-p99", Kind: KindLatencyPercentile, Metric: "time_to_first_token", Percentile: 99, Threshold: ptr(Seconds(2.5))},
		IndicatorSpec{Name: "deep-queue", Expr: `max by (instance) (vllm:num_requests_waiting) > 100`, For: &forDur, KeepFiringFor: &keep, Severity: "critical"},
	)
	names := func(s string) string { return MetricName(s, FlavourV0) }
	g, err := p.ExportIndicators(ins, names, 30*time.Second, map[string]string{"cluster": "eu", "team": "other"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != IndicatorGroup || g.Interval != "30s" || len(g.Rules) != len(ins) {
		t.Fatalf("group %s every %s with %d rules, want %s every 30s with %d", g.Name, g.Interval, len(g.Rules), IndicatorGroup, len(ins))
	}
	for i, in := range ins {
		r := g.Rules[i]
		if r.Alert != in.Alertname || r.Record != "" {
			t.Errorf("rule %d: alert %q record %q, want alert %q", i, r.Alert, r.Record, in.Alertname)
		}
		if want := in.Query(p, names); r.Expr != want {
			t.Errorf("%s: expr\n got  %s\n want the daemon's %s", in.Name, r.Expr, want)
		}
		want := in.AlertLabels(nil)
		delete(want, "alertname")
		if want["cluster"] == "" {
			want["cluster"] = "eu"
		}
		if _, ok := want["team"]; !ok {
			want["team"] = "other"
		}
		if !maps.Equal(r.Labels, want) {
			t.Errorf("%s: labels %v, want %v", in.Name, r.Labels, want)
		}
	}
	kv, p99, custom := g.Rules[0], g.Rules[1], g.Rules[2]
	if !strings.Contains(kv.Expr, "vllm:gpu_cache_usage_perc") || !strings.Contains(p99.Expr, "vllm:time_to_first_token_seconds_bucket") {
		t.Errorf("names not resolved by the given function:\n%s\n%s", kv.Expr, p99.Expr)
	}
	if kv.For != "" || kv.KeepFiringFor != "2m" || p99.For != "" || p99.KeepFiringFor != "5m" {
		t.Errorf("built-ins: for %q/%q keep_firing_for %q/%q, want no for and keep_firing_for 2m/5m", kv.For, p99.For, kv.KeepFiringFor, p99.KeepFiringFor)
	}
	if custom.For != "5m" || custom.KeepFiringFor != "3m" || custom.Labels["severity"] != "critical" {
		t.Errorf("custom: for %q keep_firing_for %q labels %v, want 5m, 3m, critical", custom.For, custom.KeepFiringFor, custom.Labels)
	}
	if kv.Labels["team"] != "inference" || kv.Labels["indicator"] != "kv-cache" {
		t.Errorf("kv-cache labels %v: the indicator's own label wins over the external one, never over indicator", kv.Labels)
	}
	if kv.Annotations["runbook_url"] != "https://runbooks.example/kv" || kv.Annotations["dashboard"] != "" {
		t.Errorf("kv-cache annotations %v: want the literal runbook_url only", kv.Annotations)
	}

	// Prometheus's own template engine writes what the daemon writes, for
	// a group and for none (0.9512 is written alike by both percentages).
	group := map[string]string{"instance": "a:8000", "model_name": "llama"}
	for _, tc := range []struct {
		in     *Indicator
		r      Rule
		labels map[string]string
		who    string
		value  float64
	}{
		{ins[0], kv, group, "(instance=a:8000, model_name=llama)", 0.9512},
		{ins[1], p99, group, "(instance=a:8000, model_name=llama)", 3.14159},
		{ins[2], custom, map[string]string{"instance": "b:8000"}, "(instance=b:8000)", 123},
		{ins[1], p99, nil, "the deployment", 2.5},
	} {
		summary, description := tc.in.AlertText(tc.who, FormatFigure(tc.value), FormatPercent(tc.value))
		if got := expandAlertTemplate(t, tc.r.Annotations["summary"], tc.labels, tc.value); got != summary {
			t.Errorf("%s summary\n Prometheus %q\n daemon     %q", tc.in.Name, got, summary)
		}
		if got := expandAlertTemplate(t, tc.r.Annotations["description"], tc.labels, tc.value); got != description {
			t.Errorf("%s description\n Prometheus %q\n daemon     %q", tc.in.Name, got, description)
		}
	}
	if g, err := p.ExportIndicators(nil, nil, time.Minute, nil); g != nil || err != nil {
		t.Errorf("no indicators: %v, %v; want no group", g, err)
	}
}

func ptr[T any](v T) *T { return &v }

// sigDigits counts the significant digits of a number as written.
func sigDigits(s string) int {
	mant, _, _ := strings.Cut(strings.ToLower(s), "e")
	digits := strings.Trim(strings.ReplaceAll(mant, ".", ""), "0")
	return len(digits)
}

// Thresholds derived in float64 print as their decimals: a 94.4% objective
// budgets 0.056, not 1-0.944's 0.055999999999999994, and a 28d window's 3d
// ticket factor, 0.9333..., keeps 12 digits.
func TestExportPrintsCleanNumbers(t *testing.T) {
	obj, _ := ParseObjective("94.4")
	spec := exportErrorsSpec()
	spec.Objective, spec.Window = obj, Duration(28*24*time.Hour)
	_, _, f := exportFixture(t, spec)
	var exprs []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	all := strings.Join(exprs, "\n")
	for _, want := range []string{"/ 0.056 > ", "> 0.933333333333 and"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in\n%s", want, all)
		}
	}
	for _, n := range numberRE.FindAllString(all, -1) {
		if sigDigits(n) > 12 {
			t.Errorf("%s has %d significant digits", n, sigDigits(n))
		}
	}
	for v, want := range map[float64]float64{1 - 0.944: 0.056, 28.0 / 30: 0.933333333333, 0.1 + 0.2: 0.3, 14.4: 14.4, 1e-9 / 3: 3.33333333333e-10} {
		if got := roundDigits(v); got != want {
			t.Errorf("roundDigits(%v) = %v, want %v", v, got, want)
		}
	}
}

// numberRE matches the numbers of an expression or a rule file.
var numberRE = regexp.MustCompile(`[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?`)
