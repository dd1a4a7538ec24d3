package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

func promtoolPath(t *testing.T) string {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (apt-get install prometheus, or make deps): %v", err)
	}
	return promtool
}

// exportedRuleFile runs rules export on cfgFile into a file and reads it.
func exportedRuleFile(t *testing.T, cfgFile string) (path string, f rules.RuleFile, stderr string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "rules.yaml")
	code, _, stderr := runCLI(t, "rules", "export", "--config", cfgFile, "--out", path)
	if code != 0 {
		t.Fatalf("rules export %s: exit %d: %s", cfgFile, code, stderr)
	}
	decodeFile(t, path, &f)
	return path, f, stderr
}

func indicatorRules(f rules.RuleFile) []rules.Rule {
	for _, g := range f.Groups {
		if g.Name == rules.IndicatorGroup {
			return g.Rules
		}
	}
	return nil
}

// exportNumberRE matches every number of a rule file: in expressions,
// durations, label values and texts alike.
var exportNumberRE = regexp.MustCompile(`[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?`)

// The export of configs/example.yaml holds every indicator as an alert,
// promtool accepts it, no number in it carries float noise (more than 12
// significant digits), and it says which metric names it assumed.
func TestRulesExportExampleIndicatorsAndNumbers(t *testing.T) {
	t.Parallel()
	path, f, stderr := exportedRuleFile(t, exportExample)
	cfg := exampleConfig(t, "http://127.0.0.1:1")
	got := indicatorRules(f)
	if len(got) != len(cfg.Indicators) || len(got) == 0 {
		t.Fatalf("%d indicator rules, the example has %d indicators", len(got), len(cfg.Indicators))
	}
	for i, in := range cfg.Indicators {
		if got[i].Alert != in.Alertname || got[i].Labels["indicator"] != in.Name {
			t.Errorf("rule %d: alert %s indicator %q, want %s for %s", i, got[i].Alert, got[i].Labels["indicator"], in.Alertname, in.Name)
		}
	}

	out, err := exec.Command(promtoolPath(t), "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	rulesInFile := 0
	for _, g := range f.Groups {
		rulesInFile += len(g.Rules)
	}
	if m := regexp.MustCompile(`SUCCESS: (\d+) rules found`).FindSubmatch(out); m == nil || string(m[1]) != strconv.Itoa(rulesInFile) {
		t.Errorf("promtool: %s; the file holds %d rules", out, rulesInFile)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range exportNumberRE.FindAllString(string(b), -1) {
		mant, _, _ := strings.Cut(strings.ToLower(n), "e")
		if digits := strings.Trim(strings.ReplaceAll(mant, ".", ""), "0"); len(digits) > 12 {
			t.Errorf("%s has %d significant digits", n, len(digits))
		}
	}

	assumed := "vllm.metric_names is auto, which cannot look at Prometheus offline: assumed vLLM V1 names (vllm:kv_cache_usage_perc, vllm:inter_token_latency_seconds)"
	if !strings.Contains(stderr, assumed) {
		t.Errorf("stderr %q does not say which names it assumed", stderr)
	}
	if !strings.Contains(string(b), "\n# Metric names: "+assumed) {
		t.Errorf("the file's header does not say which names it assumed:\n%s", b[:min(len(b), 600)])
	}
}

// A flavour or overrides in vllm.metric_names are what the rules read, and
// the header says so; only auto is an assumption worth a note on stderr.
func TestRulesExportHonoursMetricNames(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile(exportExample)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(example), "metric_names: auto") {
		t.Fatal("configs/example.yaml no longer sets metric_names: auto")
	}
	for _, tc := range []struct {
		names, header string
		want, not     []string
	}{
		{"v0", "vLLM V0 names (vllm:gpu_cache_usage_perc, vllm:time_per_output_token_seconds)",
			[]string{"vllm:gpu_cache_usage_perc{", "vllm:time_per_output_token_seconds_bucket{"}, []string{"vllm:kv_cache_usage_perc{"}},
		{"underscore", "vllm_ prefixed names (vllm_kv_cache_usage_perc, vllm_inter_token_latency_seconds)",
			[]string{"vllm_kv_cache_usage_perc{", "vllm_num_requests_waiting{"}, []string{"vllm:"}},
		{"{flavour: v1, overrides: {kv_cache_usage_perc: 'my:kv_usage'}}", "vLLM V1 names (vllm:kv_cache_usage_perc, vllm:inter_token_latency_seconds) with overrides kv_cache_usage_perc=my:kv_usage",
			[]string{"my:kv_usage{", "vllm:num_requests_waiting{"}, []string{"vllm:kv_cache_usage_perc{"}},
	} {
		cfgFile := filepath.Join(t.TempDir(), "config.yaml")
		cfg := strings.Replace(string(example), "metric_names: auto", "metric_names: "+tc.names, 1)
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		path, _, stderr := exportedRuleFile(t, cfgFile)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "\n# Metric names: "+tc.header+"\n") {
			t.Errorf("%s: header does not name %q:\n%s", tc.names, tc.header, b[:min(len(b), 600)])
		}
		if stderr != "" {
			t.Errorf("%s: stderr %q, want nothing: the names are the config's, not assumed", tc.names, stderr)
		}
		// The SLOs' recording rules and the indicators' alerts alike.
		for _, w := range tc.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: no %s in the export", tc.names, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(string(b), n) {
				t.Errorf("%s: the export still reads %s", tc.names, n)
			}
		}
	}
}

// The exported indicator alerts fire in Prometheus when and where the
// daemon's do. The daemon replays a backfilled incident (backtest, every
// 30s); promtool's rule unit tests, Prometheus's own rule manager, evaluate
// the exported rule file every 30s over the very samples that Prometheus
// holds, and at each step, through the incident and after it, the pending
// and firing alerts (ALERTS) must be the daemon's, label for label.
func TestExportedIndicatorsFireWithTheDaemon(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("backfills Prometheus")
	}
	promtool := promtoolPath(t)
	for _, tc := range []struct {
		scenario   string
		incidentAt time.Duration
		span       time.Duration // the incident and its end, with calm after
		want       []string      // alerts the daemon must fire
	}{
		{sim.ScenarioKVPressure, 15 * time.Minute, 95 * time.Minute, []string{"KvCache", "Preemptions", "DeepQueue"}},
		{sim.ScenarioStall, 15 * time.Minute, 55 * time.Minute, []string{"Stall", "DeepQueue"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			agreeOnIndicators(t, promtool, tc.scenario, tc.incidentAt, tc.span, tc.want)
		})
	}
}

func agreeOnIndicators(t *testing.T, promtool, scenario string, incidentAt, span time.Duration, want []string) {
	const scrape, step = 15 * time.Second, 30 * time.Second
	start := simtest.Start
	end := start.Add(span)
	prom := simtest.Prometheus(t, sim.Config{Scenario: scenario, Seed: 1, IncidentAt: incidentAt, ScrapeInterval: scrape}, start, end)

	// The example's indicators, and a custom one whose for is the rule's.
	example, err := os.ReadFile(exportExample)
	if err != nil {
		t.Fatal(err)
	}
	head, tail, ok := strings.Cut(string(example), "\nindicators:")
	if !ok {
		t.Fatal("configs/example.yaml has no indicators")
	}
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	custom := "\n  - {name: deep-queue, expr: 'max by (instance) (vllm:num_requests_waiting) > 10', for: 2m, keep_firing_for: 1m}"
	if err := os.WriteFile(cfgFile, []byte(head+"\nindicators:"+custom+tail), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(cfgFile, receivers.New())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Prometheus.URL = prom.URL
	cfg.SLOs = nil // the indicators are under test; the SLOs have their own
	rep, err := backtest(context.Background(), cfg, slog.New(slog.DiscardHandler), start, end, step, nil)
	if err != nil {
		t.Fatal(err)
	}
	rulesFile, f, _ := exportedRuleFile(t, cfgFile)

	// The samples of every series the exported indicators read, as
	// promtool input series on the scrape grid from start.
	var selectors []string
	p := rules.NewPromQL()
	for _, r := range indicatorRules(f) {
		e, err := p.ParseExpr(r.Expr)
		if err != nil {
			t.Fatal(err)
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && !slices.Contains(selectors, vs.Name) {
				selectors = append(selectors, vs.Name)
			}
			return nil
		})
	}
	v, _, _, err := prom.API(t).Query(context.Background(),
		fmt.Sprintf(`{__name__=~%q}[%s]`, strings.Join(selectors, "|"), model.Duration(span+time.Second)), end)
	if err != nil {
		t.Fatal(err)
	}
	var input []map[string]string
	for _, s := range v.(model.Matrix) {
		values := make([]string, int(span/scrape)+1)
		for i := range values {
			values[i] = "_"
		}
		for _, sp := range s.Values {
			off := sp.Timestamp.Time().Sub(start)
			if off%scrape != 0 || off < 0 || off > span {
				t.Fatalf("%s: sample at %s is off the %s grid from %s", s.Metric, sp.Timestamp.Time().UTC(), scrape, start)
			}
			values[off/scrape] = strconv.FormatFloat(float64(sp.Value), 'f', -1, 64)
		}
		input = append(input, map[string]string{"series": s.Metric.String(), "values": strings.Join(values, " ")})
	}
	if len(input) == 0 {
		t.Fatalf("no series for %v", selectors)
	}

	// The daemon's pending and firing indicator alerts at each step, by
	// their transitions.
	type alertAt struct {
		labels model.LabelSet
		state  string
	}
	active := map[model.Fingerprint]alertAt{}
	type expSample struct {
		Labels string  `yaml:"labels"`
		Value  float64 `yaml:"value"`
	}
	type exprTest struct {
		Expr       string      `yaml:"expr"`
		EvalTime   string      `yaml:"eval_time"`
		ExpSamples []expSample `yaml:"exp_samples"`
	}
	var checks []exprTest
	fired, quiet := map[string]bool{}, 0
	trs := rep.Transitions
	for at := 10 * time.Minute; at <= span; at += step {
		for ; len(trs) > 0 && !trs[0].Time.After(start.Add(at)); trs = trs[1:] {
			tr := trs[0]
			if tr.Labels["indicator"] == "" {
				continue
			}
			t.Logf("%s: %s %s", tr.Time.Sub(start), tr.Alertname, tr.To)
			switch tr.To {
			case "pending", "firing":
				// Twice the same state would hide a change between.
				if was, ok := active[tr.Labels.Fingerprint()]; ok && was.state == tr.To {
					t.Fatalf("%s: %s %s again without a transition between", tr.Time.Sub(start), tr.Alertname, tr.To)
				}
				active[tr.Labels.Fingerprint()] = alertAt{tr.Labels, tr.To}
				fired[tr.Alertname] = fired[tr.Alertname] || tr.To == "firing"
			default:
				delete(active, tr.Labels.Fingerprint())
			}
		}
		c := exprTest{Expr: `ALERTS{indicator!=""}`, EvalTime: model.Duration(at).String(), ExpSamples: []expSample{}}
		for _, a := range active {
			ls := a.labels.Clone()
			ls[model.MetricNameLabel], ls["alertstate"] = "ALERTS", model.LabelValue(a.state)
			c.ExpSamples = append(c.ExpSamples, expSample{Labels: ls.String(), Value: 1})
		}
		sort.Slice(c.ExpSamples, func(i, j int) bool { return c.ExpSamples[i].Labels < c.ExpSamples[j].Labels })
		if len(active) == 0 {
			quiet++
		}
		checks = append(checks, c)
	}
	// Not a comparison of two silences: the incident fires its
	// indicators, and there are steps without any.
	for _, w := range want {
		if !fired[w] {
			t.Errorf("the daemon did not fire %s", w)
		}
	}
	if quiet == 0 || quiet == len(checks) {
		t.Errorf("the daemon was quiet at %d of %d steps: want some with alerts and some without", quiet, len(checks))
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("the daemon fired %v; quiet at %d of %d steps", fired, quiet, len(checks))

	unit := map[string]any{
		"rule_files":          []string{rulesFile},
		"evaluation_interval": model.Duration(step).String(),
		"tests": []map[string]any{{
			"interval":         model.Duration(scrape).String(),
			"input_series":     input,
			"promql_expr_test": checks,
		}},
	}
	b, err := yaml.Marshal(unit)
	if err != nil {
		t.Fatal(err)
	}
	testFile := filepath.Join(t.TempDir(), "test.yaml")
	if err := os.WriteFile(testFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, "test", "rules", testFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: the exported alerts and the daemon disagree: %v\n%s", err, out)
	}
}
