package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vllm-sentinel/vllm-sentinel/dashboards"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// panelQuery is one target of an exported dashboard's panel.
type panelQuery struct {
	panel, expr string
}

// dashboardQueries walks every panel of an exported dashboard, rows'
// panels included, and returns their targets' expressions.
func dashboardQueries(t *testing.T, b []byte) (queries []panelQuery, variables map[string]string) {
	t.Helper()
	type panel struct {
		Type    string  `json:"type"`
		Title   string  `json:"title"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				queries = append(queries, panelQuery{panel: p.Title, expr: tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	variables = map[string]string{}
	for _, v := range d.Templating.List {
		q, _ := v.Query.(string)
		variables[v.Name] = v.Type + ":" + q
	}
	return queries, variables
}

// TestDashboardQueriesReturnData exports the dashboard of
// configs/example.yaml and runs every panel's query, as Grafana would send
// it, against a real Prometheus 2.42: vLLM's metrics on a surge's
// backfilled history, and the sentinel's own metrics as a second
// Prometheus scraped them from an engine that evaluated that history. A
// query that does not parse or returns nothing fails, naming its panel.
func TestDashboardQueriesReturnData(t *testing.T) {
	start := simtest.Start
	incident := start.Add(time.Hour) // the surge's own incident time
	vllmProm := simtest.Prometheus(t, sim.Config{Scenario: sim.ScenarioSurge, Seed: 1}, start, incident.Add(40*time.Minute))
	cfg := exampleConfig(t, vllmProm.URL)
	ctx := context.Background()

	// The sentinel evaluates the surge at its height, when the TTFT page
	// and the queue's indicators fire, and serves its registry.
	logger := slog.New(slog.DiscardHandler)
	instant, ranges, err := newQueriers(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	interval := cfg.Global.EvaluationInterval.D()
	reg := prometheus.NewPedanticRegistry()
	eng, err := evaluator.NewEngine(newEvaluator(cfg, instant, &evaluator.EventOptions{Step: interval, Ranges: ranges}, false, logger), nil,
		evaluator.EngineOptions{Interval: interval, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	eng.ExportMetrics()
	at := incident.Add(20 * time.Minute)
	if span := eng.WarmUpSpan(); span > 0 {
		eng.WarmUp(ctx, evaluator.NewRangeCache(instant, ranges, at.Add(-span), at.Add(-interval), interval, 0), at)
	}
	var rep *evaluator.Report
	for k := range 4 {
		rep = eng.Cycle(ctx, at.Add(time.Duration(k)*interval))
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("evaluation errors: %+v", rep.Errors)
	}
	vllmAt := rep.Time
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	sentinelProm := promtest.StartPrometheus(t, promtest.PrometheusOptions{ScrapeTargets: []string{u.Host}})
	sentinelProm.WaitForTargets(t)

	out := filepath.Join(t.TempDir(), "dashboard.json")
	var stderr bytes.Buffer
	if code := run(ctx, []string{"dashboards", "export", "--config", "../../configs/example.yaml", "--out", out}, &stderr, &stderr); code != exitOK {
		t.Fatalf("dashboards export: exit %d\n%s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	queries, variables := dashboardQueries(t, b)

	// What Grafana sends for model_name = the simulator's model: the value
	// escaped for a regexp, inside a PromQL string (llama-3\\.1-8b).
	const modelName = "llama-3.1-8b"
	modelValue := strings.ReplaceAll(regexp.QuoteMeta(modelName), `\`, `\\`)
	vllmAPI, sentinelAPI := vllmProm.API(t), sentinelProm.API(t)
	checkModelVariable(t, vllmAPI, variables, modelName, start, vllmAt)

	p := rules.NewPromQL()
	var sentinelQueries, vllmQueries int
	for _, q := range queries {
		expr := strings.NewReplacer("$"+dashboards.ModelVar, modelValue, dashboards.RateInterval, "1m").Replace(q.expr)
		e, err := p.ParseExpr(expr)
		if err != nil {
			t.Errorf("panel %q: %v", q.panel, err)
			continue
		}
		own, theirs := metricNames(e)
		if len(own) > 0 && len(theirs) > 0 {
			t.Errorf("panel %q: query %s mixes the sentinel's metrics %v with vLLM's %v", q.panel, expr, own, theirs)
			continue
		}
		api, ts, where, count := vllmAPI, vllmAt, "vLLM's history", &vllmQueries
		if len(own) > 0 {
			api, ts, where, count = sentinelAPI, time.Now(), "the sentinel's scraped metrics", &sentinelQueries
		}
		v, _, _, err := api.Query(ctx, expr, ts)
		if err != nil {
			t.Errorf("panel %q: query %s: %v", q.panel, expr, err)
			continue
		}
		if vec, ok := v.(model.Vector); !ok || len(vec) == 0 {
			t.Errorf("panel %q: query %s returns nothing from %s at %s", q.panel, expr, where, ts.UTC().Format(time.RFC3339))
			continue
		}
		*count++
	}
	t.Logf("%d panel queries over the sentinel's metrics and %d over vLLM's returned data", sentinelQueries, vllmQueries)
	if sentinelQueries == 0 || vllmQueries == 0 {
		t.Errorf("%d sentinel and %d vLLM queries: want both", sentinelQueries, vllmQueries)
	}
}

// metricNames splits the metrics e reads into the sentinel's and the rest.
func metricNames(e parser.Expr) (own, theirs []string) {
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if strings.HasPrefix(vs.Name, "vllm_sentinel_") {
				own = append(own, vs.Name)
			} else {
				theirs = append(theirs, vs.Name)
			}
		}
		return nil
	})
	return own, theirs
}

// checkModelVariable checks that the model_name variable's
// label_values(selector, model_name) finds the model, and that the
// datasource variable asks for a Prometheus.
func checkModelVariable(t *testing.T, api v1.API, variables map[string]string, want string, from, to time.Time) {
	t.Helper()
	if got := variables[dashboards.DatasourceVar]; got != "datasource:prometheus" {
		t.Errorf("datasource variable %q, want a Prometheus data source", got)
	}
	m := regexp.MustCompile(`^query:label_values\((.+), ` + dashboards.ModelLabel + `\)$`).FindStringSubmatch(variables[dashboards.ModelVar])
	if m == nil {
		t.Fatalf("model_name variable %q: want label_values(selector, model_name)", variables[dashboards.ModelVar])
	}
	if _, err := rules.NewPromQL().ParseSelector(m[1]); err != nil {
		t.Fatalf("model_name variable: %v", err)
	}
	vals, _, _, err := api.LabelValues(context.Background(), dashboards.ModelLabel, []string{m[1]}, from, to)
	if err != nil {
		t.Fatalf("model_name variable %s: %v", m[1], err)
	}
	if !slices.Contains(vals, model.LabelValue(want)) {
		t.Errorf("model_name variable %s finds %v, want %s among them", m[1], vals, want)
	}
}

// The export is the JSON of the built dashboard: deterministic, and the
// usage errors are usage errors.
func TestDashboardsExportCLI(t *testing.T) {
	var a, b, stderr bytes.Buffer
	for _, out := range []*bytes.Buffer{&a, &b} {
		if code := run(context.Background(), []string{"dashboards", "export", "--config", "../../configs/example.yaml"}, out, &stderr); code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two exports of one config differ")
	}
	var d map[string]any
	if err := json.Unmarshal(a.Bytes(), &d); err != nil || d["uid"] != dashboards.DefaultUID {
		t.Errorf("export is not the dashboard's JSON (uid %v): %v", d["uid"], err)
	}
	for _, args := range [][]string{{"dashboards"}, {"dashboards", "import"}, {"dashboards", "export", "--nope"}} {
		if code := run(context.Background(), args, &a, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code := run(context.Background(), []string{"dashboards", "export"}, &a, &stderr); code != exitUsage {
		t.Errorf("without --config: exit %d, want %d", code, exitUsage)
	}
}
