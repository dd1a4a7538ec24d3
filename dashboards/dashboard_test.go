package dashboards

//lint:file-ignore SA1019 the classic dashboard JSON model is kept on purpose (see dashboard.go)

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

func testOptions(t *testing.T, flavour string, groupBy ...string) Options {
	t.Helper()
	p := rules.NewPromQL()
	d := rules.Defaults{Selector: `{job="vllm"}`, GroupBy: groupBy}
	obj, _ := rules.ParseObjective("99")
	s, err := rules.Compile(p, rules.SLOSpec{Name: "ttft", Objective: obj, Window: rules.Duration(28 * 24 * time.Hour),
		SLI:      rules.SLISpec{Latency: &rules.LatencySLI{Metric: "time_to_first_token", Threshold: 1}},
		Alerting: rules.AlertingSpec{Windows: rules.WindowsSpec{Default: true}}}, d)
	if err != nil {
		t.Fatal(err)
	}
	in, err := rules.CompileIndicator(p, rules.IndicatorSpec{Name: "kv", Kind: rules.KindKVCachePressure}, d)
	if err != nil {
		t.Fatal(err)
	}
	custom, err := rules.CompileIndicator(p, rules.IndicatorSpec{Name: "deep", Expr: `max by (instance) (vllm:num_requests_waiting) > 100`}, d)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := p.ParseSelector(`{job="vllm"}`)
	if err != nil {
		t.Fatal(err)
	}
	return Options{SLOs: []*rules.SLO{s}, Indicators: []*rules.Indicator{in, custom}, Selector: sel, GroupBy: groupBy,
		MetricName: func(short string) string { return rules.MetricName(short, flavour) }}
}

// panels returns the dashboard's panels by title with their queries.
func panels(t *testing.T, d dashboard.Dashboard) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, p := range d.Panels {
		if p.Panel == nil {
			continue
		}
		var exprs []string
		for _, tg := range p.Panel.Targets {
			q, ok := tg.(prometheus.Dataquery)
			if !ok {
				t.Fatalf("panel %q: target %T, want a Prometheus query", *p.Panel.Title, tg)
			}
			exprs = append(exprs, q.Expr)
		}
		out[*p.Panel.Title] = append(out[*p.Panel.Title], exprs...)
	}
	return out
}

// Every query parses once Grafana has filled in its variables, reads the
// configured metric names, and the sentinel's queries read its split group
// labels.
func TestDashboardQueries(t *testing.T) {
	for _, tc := range []struct {
		flavour       string
		ttft, kv, itl string
	}{
		{rules.FlavourV1, "vllm:time_to_first_token_seconds_bucket", "vllm:kv_cache_usage_perc", "vllm:inter_token_latency_seconds_bucket"},
		{rules.FlavourV0, "vllm:time_to_first_token_seconds_bucket", "vllm:gpu_cache_usage_perc", "vllm:time_per_output_token_seconds_bucket"},
		{rules.FlavourUnderscore, "vllm_time_to_first_token_seconds_bucket", "vllm_kv_cache_usage_perc", "vllm_inter_token_latency_seconds_bucket"},
	} {
		t.Run(tc.flavour, func(t *testing.T) {
			d, err := New(testOptions(t, tc.flavour, "model_name"))
			if err != nil {
				t.Fatal(err)
			}
			ps := panels(t, d)
			p := rules.NewPromQL()
			n := 0
			for title, exprs := range ps {
				for _, e := range exprs {
					if _, err := p.ParseExpr(strings.NewReplacer("$__rate_interval", "1m").Replace(e)); err != nil {
						t.Errorf("panel %q: %v", title, err)
					}
					if !strings.Contains(e, "vllm_sentinel_") && !strings.Contains(e, `job="vllm"`) {
						t.Errorf("panel %q: vLLM query %s without the config's selector", title, e)
					}
					n++
				}
			}
			if n < 30 {
				t.Errorf("%d queries, want the overview, SLO, indicator and vLLM panels", n)
			}
			want := map[string]string{
				"Time to first token": tc.ttft, "Inter-token latency": tc.itl, "KV cache usage": tc.kv,
				"Burn rate 1h / 5m (page, critical)": `vllm_sentinel_slo_burn_rate{model_name=~"$model_name",slo="ttft",window="1h"}`,
				"kv (kv_cache_pressure)":             `vllm_sentinel_indicator_value{indicator="kv",model_name=~"$model_name"}`,
			}
			for title, sub := range want {
				if !slices.ContainsFunc(ps[title], func(e string) bool { return strings.Contains(e, sub) }) {
					t.Errorf("panel %q: queries %q, want one with %s", title, ps[title], sub)
				}
			}
			if got := ps["Time to first token"][2]; got != `histogram_quantile(0.99, sum by (model_name, le) (rate(`+tc.ttft+`{job="vllm",model_name=~"$model_name"}[$__rate_interval])))` {
				t.Errorf("TTFT p99 query %s", got)
			}
		})
	}
}

// The SLO list and each window pair come from the config, with the pair's
// factor as the threshold line; an SLO grouped without model_name is not
// filtered by the model variable.
func TestDashboardFollowsSLOs(t *testing.T) {
	opts := testOptions(t, rules.FlavourV1)
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, p := range d.Panels {
		if p.RowPanel != nil {
			rows = append(rows, *p.RowPanel.Title)
		}
	}
	if want := []string{"Now firing", "SLO ttft", "Leading indicators", "vLLM latency", "vLLM load"}; !slices.Equal(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
	var burn []string
	for _, p := range d.Panels {
		if p.Panel == nil || !strings.HasPrefix(*p.Panel.Title, "Burn rate") {
			continue
		}
		burn = append(burn, *p.Panel.Title)
		steps := p.Panel.FieldConfig.Defaults.Thresholds.Steps
		if len(steps) != 2 || steps[1].Value == nil {
			t.Errorf("panel %q: thresholds %v, want the factor", *p.Panel.Title, steps)
		}
		for _, tg := range p.Panel.Targets {
			if e := tg.(prometheus.Dataquery).Expr; strings.Contains(e, "model_name") {
				t.Errorf("panel %q: %s filters on model_name, which the SLO does not group by", *p.Panel.Title, e)
			}
		}
	}
	if len(burn) != len(opts.SLOs[0].Windows) {
		t.Errorf("burn-rate panels %q, want one per window pair", burn)
	}
	b, err := json.Marshal(d)
	if err != nil || !strings.Contains(string(b), `"uid":"vllm-sentinel"`) {
		t.Errorf("JSON: %v", err)
	}
}
