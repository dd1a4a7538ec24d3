package rules

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBuiltQueriesAreGoldenAndReparse(t *testing.T) {
	p := NewPromQL()
	sel, err := p.ParseSelector(`{job="vllm",namespace=~"prod-.*"}`)
	if err != nil {
		t.Fatal(err)
	}
	errs, _ := p.ParseExpr(`vllm:request_success_total{finished_reason="error"}`)
	total, _ := p.ParseExpr(`vllm:request_success_total`)
	full, _ := p.ParseExpr(`sum by (model_name) (increase(vllm:request_success_total{finished_reason=~"error|abort",job="other"}[5m]))`)
	ratio, err := p.RatioParts(errs, total, sel, []string{"model_name"}, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	fullQ, err := p.RatioParts(full, total, sel, []string{"model_name"}, 30*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{
			"buckets",
			p.BucketIncreases("vllm:time_to_first_token_seconds", sel, []string{"1.0", "1", "+Inf"}, []string{"model_name"}, 5*time.Minute),
			`sum by (model_name, le) (increase(vllm:time_to_first_token_seconds_bucket{job="vllm",le=~"1\\.0|1|\\+Inf",namespace=~"prod-.*"}[5m]))`,
		},
		{
			"bounds",
			p.BucketBounds("vllm:time_to_first_token_seconds", sel),
			`count by (le) (vllm:time_to_first_token_seconds_bucket{job="vllm",namespace=~"prod-.*"})`,
		},
		{
			"ratio selectors",
			ratio,
			`label_replace(sum by (model_name) (increase(vllm:request_success_total{finished_reason="error",job="vllm",namespace=~"prod-.*"}[1h])), "__sentinel_part", "errors", "", "") or label_replace(sum by (model_name) (increase(vllm:request_success_total{job="vllm",namespace=~"prod-.*"}[1h])), "__sentinel_part", "total", "", "")`,
		},
		{
			// The user's own job matcher wins; the written range is a placeholder.
			"ratio full expression",
			fullQ,
			`label_replace(sum by (model_name) (sum by (model_name) (increase(vllm:request_success_total{finished_reason=~"error|abort",job="other",namespace=~"prod-.*"}[30m]))), "__sentinel_part", "errors", "", "") or label_replace(sum by (model_name) (increase(vllm:request_success_total{job="vllm",namespace=~"prod-.*"}[30m])), "__sentinel_part", "total", "", "")`,
		},
	} {
		if tc.got != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.name, tc.got, tc.want)
		}
		if _, err := p.ParseExpr(tc.got); err != nil {
			t.Errorf("%s: does not re-parse: %v", tc.name, err)
		}
	}
	// Building must not mutate the stored expressions.
	if errs.String() != `vllm:request_success_total{finished_reason="error"}` {
		t.Errorf("stored expression mutated: %s", errs)
	}
	noRange, _ := p.ParseExpr(`sum(vllm:request_success_total)`)
	if _, err := p.RatioParts(noRange, total, nil, nil, time.Hour, nil); err == nil {
		t.Error("expression without a range selector accepted")
	}
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct{ short, flavour, want string }{
		{"time_to_first_token", FlavourV1, "vllm:time_to_first_token_seconds"},
		{"time_to_first_token", FlavourUnderscore, "vllm_time_to_first_token_seconds"},
		{"inter_token_latency", FlavourV0, "vllm:time_per_output_token_seconds"},
		{"kv_cache_usage_perc", FlavourV0, "vllm:gpu_cache_usage_perc"},
		{"kv_cache_usage_perc", FlavourV1, "vllm:kv_cache_usage_perc"},
		{"my:histogram_seconds", FlavourV0, "my:histogram_seconds"},
	} {
		if got := MetricName(tc.short, tc.flavour); got != tc.want {
			t.Errorf("%s/%s: %s, want %s", tc.short, tc.flavour, got, tc.want)
		}
	}
	want := []string{"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "vllm_kv_cache_usage_perc", "vllm_gpu_cache_usage_perc"}
	got := CandidateNames("kv_cache_usage_perc")
	// The flavours' own names first, in their order; the pipelines'
	// spellings after them.
	if len(got) < len(want) {
		t.Fatalf("candidates %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("candidates %v, want %v", got, want)
		}
	}
}

func TestCalendarPeriods(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Berlin")
	s := &SLO{Calendar: "month", Location: loc}
	start, length := s.Period(time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC)) // already April 1st in Berlin
	if !start.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, loc)) || length != 30*24*time.Hour {
		t.Errorf("month: %v %v", start, length)
	}
	s = &SLO{Calendar: "week", Location: time.UTC}
	start, length = s.Period(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)) // a Sunday
	if !start.Equal(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)) || length != 7*24*time.Hour {
		t.Errorf("week: %v %v", start, length)
	}
}

func TestIndicatorQueries(t *testing.T) {
	p := NewPromQL()
	d := Defaults{Selector: `{job="vllm"}`, GroupBy: []string{"model_name"}}
	th := Seconds(2.5)
	zero, seqs, th2 := Duration(0), 128, Duration(3*time.Minute)
	names := func(s string) string { return MetricName(s, FlavourV0) }
	for _, tc := range []struct {
		spec IndicatorSpec
		want string
	}{
		{IndicatorSpec{Name: "queue-growth", Kind: KindQueueGrowth},
			`sum by (instance, model_name) (deriv(vllm:num_requests_waiting{job="vllm"}[2m])) > 0.05 and sum by (instance, model_name) (min_over_time(vllm:num_requests_waiting{job="vllm"}[2m])) > 5 or sum by (instance, model_name) (min_over_time(vllm:num_requests_waiting{job="vllm"}[2m])) > 20`},
		{IndicatorSpec{Name: "queue-growth-now", Kind: KindQueueGrowth, For: &zero},
			`sum by (instance, model_name) (deriv(vllm:num_requests_waiting{job="vllm"}[2m])) > 0.05 and sum by (instance, model_name) (vllm:num_requests_waiting{job="vllm"}) > 5 or sum by (instance, model_name) (vllm:num_requests_waiting{job="vllm"}) > 20`},
		{IndicatorSpec{Name: "preemptions", Kind: KindPreemptionRate},
			`sum by (instance, model_name) ((vllm:num_preemptions_total{job="vllm"} - vllm:num_preemptions_total{job="vllm"} offset 1m) >= 0) / 60 > 0.05 and count_over_time((sum by (instance, model_name) ((vllm:num_preemptions_total{job="vllm"} - vllm:num_preemptions_total{job="vllm"} offset 1m) >= 0) / 60 > 0.05)[3m59s:1m]) >= 4`},
		{IndicatorSpec{Name: "preemptions-now", Kind: KindPreemptionRate, For: &zero},
			`sum by (instance, model_name) ((vllm:num_preemptions_total{job="vllm"} - vllm:num_preemptions_total{job="vllm"} offset 1m) >= 0) / 60 > 0.05`},
		{IndicatorSpec{Name: "kv", Kind: KindKVCachePressure},
			`max by (instance, model_name) (quantile_over_time(0.8, vllm:gpu_cache_usage_perc{job="vllm"}[10m])) > 0.9`},
		{IndicatorSpec{Name: "kv-now", Kind: KindKVCachePressure, For: &zero},
			`max by (instance, model_name) (vllm:gpu_cache_usage_perc{job="vllm"}) > 0.9`},
		{IndicatorSpec{Name: "stall", Kind: KindQueueStall},
			`sum by (instance, model_name) (min_over_time(vllm:num_requests_waiting{job="vllm"}[5m])) > 0 unless sum by (instance, model_name) (increase(vllm:request_success_total{job="vllm"}[5m])) > 0`},
		{IndicatorSpec{Name: "stall-now", Kind: KindQueueStall, For: &zero},
			`sum by (instance, model_name) (vllm:num_requests_waiting{job="vllm"}) > 0 unless sum by (instance, model_name) (rate(vllm:request_success_total{job="vllm"}[2m])) > 0`},
		{IndicatorSpec{Name: "itl", Kind: KindLatencyPercentile, Metric: "inter_token_latency", Percentile: 99, Threshold: &th},
			`histogram_quantile(0.99, sum by (instance, model_name, le) ((vllm:time_per_output_token_seconds_bucket{job="vllm"} - vllm:time_per_output_token_seconds_bucket{job="vllm"} offset 1m) >= 0)) > 2.5 and count_over_time((histogram_quantile(0.99, sum by (instance, model_name, le) ((vllm:time_per_output_token_seconds_bucket{job="vllm"} - vllm:time_per_output_token_seconds_bucket{job="vllm"} offset 1m) >= 0)) > 2.5)[6m59s:1m]) >= 7`},
		{IndicatorSpec{Name: "queue-time", Kind: KindQueueTime},
			`sum by (instance, model_name) ((vllm:request_queue_time_seconds_sum{job="vllm"} - vllm:request_queue_time_seconds_sum{job="vllm"} offset 1m) >= 0) / sum by (instance, model_name) ((vllm:request_queue_time_seconds_count{job="vllm"} - vllm:request_queue_time_seconds_count{job="vllm"} offset 1m) >= 0) and count_over_time((sum by (instance, model_name) ((vllm:request_queue_time_seconds_sum{job="vllm"} - vllm:request_queue_time_seconds_sum{job="vllm"} offset 1m) >= 0) / sum by (instance, model_name) ((vllm:request_queue_time_seconds_count{job="vllm"} - vllm:request_queue_time_seconds_count{job="vllm"} offset 1m) >= 0) > 0.1)[9m59s:1m]) >= 4`},
		{IndicatorSpec{Name: "saturation", Kind: KindSaturation, MaxNumSeqs: &seqs},
			`max by (instance, model_name) (quantile_over_time(0.5, vllm:num_requests_running{job="vllm"}[10m])) / 128 > 0.9`},
		{IndicatorSpec{Name: "custom", Expr: `max by (instance) (vllm:num_requests_waiting) > 100`},
			`max by (instance) (vllm:num_requests_waiting) > 100`},
	} {
		in, err := CompileIndicator(p, tc.spec, d)
		if err != nil {
			t.Fatal(err)
		}
		got := in.Query(p, names)
		if got != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.spec.Name, got, tc.want)
		}
		if _, err := p.ParseExpr(got); err != nil {
			t.Errorf("%s: does not re-parse: %v", tc.spec.Name, err)
		}
	}
	in, _ := CompileIndicator(p, IndicatorSpec{Name: "kv-cache", Kind: KindKVCachePressure}, d)
	if in.Alertname != "KvCache" || in.Severity != "warning" || in.For != 2*time.Minute || in.KeepFiringFor != 2*time.Minute || in.PendingFor() != 0 {
		t.Errorf("defaults: %+v", in)
	}
	custom, _ := CompileIndicator(p, IndicatorSpec{Name: "c", Expr: `up == 0`, For: &th2}, d)
	if custom.PendingFor() != 3*time.Minute || custom.KeepFiringFor != 0 {
		t.Errorf("a custom expression waits for its own for: pending %v, keep firing %v", custom.PendingFor(), custom.KeepFiringFor)
	}
}

func TestIndicatorValueQueries(t *testing.T) {
	p := NewPromQL()
	in, _ := CompileIndicator(p, IndicatorSpec{Name: "q", Kind: KindQueueGrowth}, Defaults{GroupBy: []string{"model_name"}})
	names := func(s string) string { return MetricName(s, FlavourV1) }
	if got, want := in.ValueQuery(p, names), `sum by (instance, model_name) (deriv(vllm:num_requests_waiting[2m]))`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// Arithmetic inside the value stays: it is the value.
	seqs := 64
	sat, _ := CompileIndicator(p, IndicatorSpec{Name: "s", Kind: KindSaturation, MaxNumSeqs: &seqs}, Defaults{GroupBy: []string{"model_name"}})
	if got, want := sat.ValueQuery(p, names), `max by (instance, model_name) (quantile_over_time(0.5, vllm:num_requests_running[10m])) / 64`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestRenameVLLMFollowsTheFlavour(t *testing.T) {
	p := NewPromQL()
	errs, _ := p.ParseExpr(`vllm:request_success_total{finished_reason="error"}`)
	total, _ := p.ParseExpr(`sum(increase(vllm:time_to_first_token_seconds_count[5m])) + sum(increase(my_other_metric[5m]))`)
	under := func(s string) string { return MetricName(s, FlavourUnderscore) }
	q, err := p.RatioParts(errs, total, nil, nil, time.Hour, under)
	if err != nil {
		t.Fatal(err)
	}
	want := `label_replace(sum(increase(vllm_request_success_total{finished_reason="error"}[1h])), "__sentinel_part", "errors", "", "") or label_replace(sum(sum(increase(vllm_time_to_first_token_seconds_count[1h])) + sum(increase(my_other_metric[1h]))), "__sentinel_part", "total", "", "")`
	if q != want {
		t.Errorf("got  %s\nwant %s", q, want)
	}
}

func TestSLISelectorWinsAndRatioSidesAreChecked(t *testing.T) {
	p := NewPromQL()
	d := Defaults{Selector: `{job="vllm",namespace="prod"}`, GroupBy: []string{"model_name"}}
	obj, _ := ParseObjective("99")
	spec := SLOSpec{Name: "canary", Objective: obj, Window: Duration(28 * 24 * time.Hour),
		SLI: SLISpec{Latency: &LatencySLI{Metric: "time_to_first_token", Threshold: 1, Selector: `{job="vllm-canary"}`}}}
	s, err := Compile(p, spec, d)
	if err != nil {
		t.Fatal(err)
	}
	got := p.BucketIncreases("vllm:time_to_first_token_seconds", s.Selector, []string{"1.0"}, s.GroupBy, time.Hour)
	if want := `sum by (model_name, le) (increase(vllm:time_to_first_token_seconds_bucket{job="vllm-canary",le=~"1\\.0|1",namespace="prod"}[1h]))`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, tc := range []struct{ errors, want string }{
		{`sum(rate(vllm:request_success_total{finished_reason="error"}[5m]))`, "rate() gives events per second"},
		{`sum by (instance) (increase(vllm:request_success_total{finished_reason="error"}[5m]))`, "sum by (instance) drops model_name"},
		{`sum without (model_name) (increase(vllm:request_success_total{finished_reason="error"}[5m]))`, "drops model_name"},
	} {
		bad := SLOSpec{Name: "errors", Objective: obj, Window: Duration(28 * 24 * time.Hour),
			SLI: SLISpec{Ratio: &RatioSLI{Errors: tc.errors, Total: `vllm:request_success_total`}}}
		if _, err := Compile(p, bad, d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.errors, err, tc.want)
		}
	}
}

func TestSelectorProbes(t *testing.T) {
	p := NewPromQL()
	e, _ := p.ParseExpr(`vllm:request_success_total{finished_reason="error"}`)
	sel, _ := p.ParseSelector(`{job="vllm"}`)
	probes := p.SelectorProbes(e, sel, func(s string) string { return MetricName(s, FlavourUnderscore) })
	var got []string
	for _, pr := range probes {
		got = append(got, pr.Matcher.Name+": "+pr.Values+" | "+pr.Any)
	}
	want := []string{
		`finished_reason: count by (finished_reason) (vllm_request_success_total{job="vllm"}) | topk(1, vllm_request_success_total{job="vllm"})`,
		`job: count by (job) (vllm_request_success_total{finished_reason="error"}) | topk(1, vllm_request_success_total{finished_reason="error"})`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The stall indicator's value is the number waiting; what it is compared
// with, and shown beside it, is the floor.
func TestStallThresholdIsItsFloor(t *testing.T) {
	floor := 3.0
	in, err := CompileIndicator(NewPromQL(), IndicatorSpec{Name: "stall", Kind: KindQueueStall, Floor: &floor}, Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if in.Threshold() != 3 {
		t.Errorf("threshold %v, want the floor 3", in.Threshold())
	}
}

func TestTargetsDownQuery(t *testing.T) {
	p := NewPromQL()
	sel, _ := p.ParseSelector(`{job="vllm"}`)
	got := p.TargetsDown("vllm:num_requests_waiting", sel, 10*time.Minute)
	want := `up == 0 and on (job, instance) max by (job, instance) (present_over_time(vllm:num_requests_waiting{job="vllm"}[10m]))`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// The spellings pipelines write are recognised, and mapped back to their
// metric with the histogram suffix apart.
func TestPipelineSpellings(t *testing.T) {
	for _, tc := range []struct{ series, short, suffix string }{
		{"vllm:request_success", "request_success", ""},                                   // Collector trim_metric_suffixes
		{"vllm_request_success", "request_success", ""},                                   // OTLP without suffixes
		{"vllm:time_to_first_token_bucket", "time_to_first_token", "_bucket"},             // histogram without _seconds
		{"vllm_time_to_first_token_count", "time_to_first_token", "_count"},               //
		{"vllm:kv_cache_usage_perc_ratio", "kv_cache_usage_perc", ""},                     // unit 1 with suffixes
		{"ray_vllm:num_requests_waiting", "num_requests_waiting", ""},                     // Ray's metrics export
		{"ray_vllm:time_to_first_token_seconds_bucket", "time_to_first_token", "_bucket"}, //
		{"ray_vllm_num_preemptions", "num_preemptions", ""},                               //
		{"vllm:time_per_output_token_bucket", "inter_token_latency", "_bucket"},           // V0 name, trimmed
	} {
		short, suffix, ok := ShortNameOf(tc.series)
		if !ok || short != tc.short || suffix != tc.suffix {
			t.Errorf("%s: %q %q %v, want %q %q", tc.series, short, suffix, ok, tc.short, tc.suffix)
		}
	}
	for _, other := range []string{"vllm:something_else_total", "vllm:request_success_created", "vllm:time_to_first_token_seconds_created"} {
		if _, _, ok := ShortNameOf(other); ok {
			t.Errorf("%s was recognised as a vLLM metric", other)
		}
	}
}

func TestNativeLatencyParts(t *testing.T) {
	p := NewPromQL()
	sel, _ := p.ParseSelector(`{job="vllm"}`)
	got := p.NativeLatencyParts("vllm:time_to_first_token_seconds", sel, []string{"model_name"}, 0.5, time.Hour)
	x := `sum by (model_name) (increase(vllm:time_to_first_token_seconds{job="vllm"}[1h]))`
	want := `label_replace(histogram_count(` + x + `) - histogram_fraction(0, 0.5, ` + x + `) * histogram_count(` + x + `), "__sentinel_part", "errors", "", "") or label_replace(histogram_count(` + x + `), "__sentinel_part", "total", "", "")`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := p.ParseExpr(got); err != nil {
		t.Errorf("does not re-parse: %v", err)
	}
}

func TestPercentileOnNativeHistograms(t *testing.T) {
	p := NewPromQL()
	th := Seconds(2.5)
	in, err := CompileIndicator(p, IndicatorSpec{Name: "p99", Kind: KindLatencyPercentile, Metric: "time_to_first_token", Percentile: 99, Threshold: &th},
		Defaults{Selector: `{job="vllm"}`, GroupBy: []string{"model_name"}})
	if err != nil {
		t.Fatal(err)
	}
	names := func(s string) string { return MetricName(s, FlavourV1) }
	value := `histogram_quantile(0.99, sum by (instance, model_name) (rate(vllm:time_to_first_token_seconds{job="vllm"}[1m])))`
	want := value + ` > 2.5 and count_over_time((` + value + ` > 2.5)[6m59s:1m]) >= 7`
	if got := in.NativeQuery(p, names); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := in.NativeValueQuery(p, names); got != value {
		t.Errorf("value query %s", got)
	}
}

func TestAnyTargetDownKeepsTheLabelsUpHas(t *testing.T) {
	q := NewPromQL()
	sel, err := q.ParseSelector(`{job="vllm", model_name="llama", instance=~"gpu-.*"}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := q.AnyTargetDown(sel), `up{instance=~"gpu-.*",job="vllm"} == 0`; got != want {
		t.Errorf("AnyTargetDown = %s, want %s", got, want)
	}
}

func TestDeltaReadsTwoSamplesAndKeepsTheUsersOffset(t *testing.T) {
	q := NewPromQL()
	errs, err := q.ParseExpr(`vllm:request_success_total{finished_reason="error"} offset 1m`)
	if err != nil {
		t.Fatal(err)
	}
	total, _ := q.ParseExpr(`vllm:request_success_total offset 1m`)
	got, err := q.RatioCounts(errs, total, nil, []string{"model_name"}, Delta(30*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `label_replace(sum by (model_name) (((vllm:request_success_total{finished_reason="error"} offset 1m - vllm:request_success_total{finished_reason="error"} offset 1m30s) >= 0)), "__sentinel_part", "errors", "", "") or ` +
		`label_replace(sum by (model_name) (((vllm:request_success_total offset 1m - vllm:request_success_total offset 1m30s) >= 0)), "__sentinel_part", "total", "", "")`
	if got != want {
		t.Errorf("delta query\n got  %s\n want %s", got, want)
	}
	full, _ := q.ParseExpr(`sum(increase(vllm:request_success_total[5m]))`)
	if _, err := q.RatioCounts(full, full, nil, nil, Delta(30*time.Second), nil); !errors.Is(err, ErrNotIncremental) {
		t.Errorf("full expression as a delta: err %v, want ErrNotIncremental", err)
	}
}

// Every spelling a bound has in Prometheus, for a window across a change
// of spelling: OTLP's and a Go client's "1", Python's and Prometheus 3's
// "1.0".
func TestLeSpellings(t *testing.T) {
	got := LeSpellings([]string{"1.0", "0.005", "2560", "1e-05", "+Inf"})
	want := []string{"1.0", "1", "0.005", "2560", "2560.0", "1e-05", "0.00001", "+Inf"}
	if !slices.Equal(got, want) {
		t.Errorf("LeSpellings = %q, want %q", got, want)
	}
}
