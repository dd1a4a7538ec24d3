package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// BenchmarkExportedRulesCost reports what Prometheus reads to evaluate the
// exported rules of one 28d TTFT latency SLO (2 models, 15s scrapes) at the
// end of 29 days of vllm-sim history, in the old shape (every window
// computed from the raw series) and in the new one (windows up to 1h from
// the raw series, longer ones summed from the 5m base records). The base
// records are real: promtool backfills the base group over the history
// (create-blocks-from rules, at the group's 5m interval) into the TSDB
// before the measurement. Alert expressions are counted in both shapes;
// they read recorded series only, absent here, so they add next to nothing.
//
// The new shape costs two evaluations: the window group every evaluation
// interval (30s here) and the base group every 5m; samples/h adds both.
// The budget window's ratio and events are compared, per model, as a check
// that the sums of the 5m records give the same answer: ratio-diff-%budget
// is the largest difference in error ratio as a share of the error budget
// (1% for 99%), events-diff-% that of the event counts.
//
//	go test -run '^$' -bench ExportedRulesCost -benchtime 1x -timeout 30m ./rules/
//
// With the default 29 days (the 28d window full, plus a day) the history is
// an 8.3 GB OpenMetrics file in the temporary directory and the run takes
// about 3 minutes, most of it promtool's backfill; VLLM_SENTINEL_COST_DAYS
// sets fewer days. A shorter history only partly fills the 28d window,
// whose cost (scrapes per series in the old shape, 5m slots in the new)
// grows linearly with the days it holds; the windows up to 3d are full
// from 4 days on and cost the same as in the full run.
func BenchmarkExportedRulesCost(b *testing.B) {
	days := 29
	if v := os.Getenv("VLLM_SENTINEL_COST_DAYS"); v != "" {
		d, err := strconv.Atoi(v)
		if err != nil || d < 2 {
			b.Fatalf("VLLM_SENTINEL_COST_DAYS=%q: want a whole number of days, at least 2", v)
		}
		days = d
	}
	const interval = 30 * time.Second
	start := simtest.Start
	end := start.Add(time.Duration(days) * 24 * time.Hour)
	prom := simtest.Prometheus(b, sim.Config{Scenario: sim.ScenarioHealthy, Models: []string{"m1", "m2"}, Seed: 11}, start, end)

	p := NewPromQL()
	obj, _ := ParseObjective("99")
	s, err := Compile(p, SLOSpec{Name: "ttft", Objective: obj, Window: Duration(28 * 24 * time.Hour),
		SLI:      SLISpec{Latency: &LatencySLI{Metric: "time_to_first_token", Threshold: 1, Selector: `{job="vllm"}`}},
		Alerting: AlertingSpec{Windows: WindowsSpec{Default: true}}}, Defaults{GroupBy: []string{"model_name"}})
	if err != nil {
		b.Fatal(err)
	}
	names := func(short string) string { return MetricName(short, FlavourV1) }
	f, err := p.ExportRules([]*SLO{s}, names, interval, nil)
	if err != nil {
		b.Fatal(err)
	}
	if len(f.Groups) != 2 || f.Groups[0].Interval != Duration(BaseSlot).String() {
		b.Fatalf("groups %+v, want the base group then the window group", f.Groups)
	}
	base, windows := f.Groups[0], f.Groups[1]
	backfillRules(b, prom.URL, prom.DataDir, base, start.Add(BaseSlot), end)
	prom.Stop()
	prom.Start(b)

	pq := &costQuerier{base: prom.URL}
	slots, _, err := pq.query(b.Context(), `count_over_time(`+RecordTotalEvents+`{slo="ttft"}[4w])`, end)
	if err != nil || len(slots) == 0 {
		b.Fatalf("no backfilled base records: %v %v", slots, err)
	}
	b.Logf("base records in the 28d window: %v", slots)

	var old, summed, baseExprs []string
	for _, w := range exportWindows(s) {
		ratio, events, err := p.exportSLI(s, names, w)
		if err != nil {
			b.Fatal(err)
		}
		old = append(old, ratio, events)
	}
	for _, r := range windows.Rules {
		summed = append(summed, r.Expr)
		if r.Alert != "" {
			old = append(old, r.Expr)
		}
	}
	for _, r := range base.Rules {
		baseExprs = append(baseExprs, r.Expr)
	}

	var oldSamples, newSamples, baseSamples int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		oldSamples += pq.cost(b, old, end)
		newSamples += pq.cost(b, summed, end)
		baseSamples += pq.cost(b, baseExprs, end)
	}
	b.StopTimer()

	// The budget window, per model, in both shapes.
	budget := exportWindows(s)[len(exportWindows(s))-1]
	oldRatio, oldEvents, _ := p.exportSLI(s, names, budget)
	newRatio, newEvents := summedSLI(s, budget)
	ratioDiff := pq.diff(b, "error ratio", oldRatio, newRatio, end) / s.Objective.Budget()
	eventsDiff := pq.diff(b, "events", oldEvents, newEvents, end) / pq.value(b, oldEvents, end)

	n := float64(b.N)
	perHour := func(samples float64, every time.Duration) float64 { return samples * float64(time.Hour/every) }
	oldHour := perHour(float64(oldSamples)/n, interval)
	newHour := perHour(float64(newSamples)/n, interval) + perHour(float64(baseSamples)/n, BaseSlot)
	b.ReportMetric(float64(oldSamples)/n, "old-samples/eval")
	b.ReportMetric(float64(newSamples)/n, "new-samples/eval")
	b.ReportMetric(float64(baseSamples)/n, "base-samples/eval")
	b.ReportMetric(oldHour, "old-samples/h")
	b.ReportMetric(newHour, "new-samples/h")
	b.ReportMetric(oldHour/newHour, "x-cheaper")
	b.ReportMetric(100*ratioDiff, "ratio-diff-%budget")
	b.ReportMetric(100*eventsDiff, "events-diff-%")
}

// backfillRules evaluates g over [start, end] against the Prometheus at
// promURL with promtool, as that Prometheus would have at g's interval,
// and moves the blocks into dataDir; Prometheus loads them on its next
// start.
func backfillRules(b *testing.B, promURL, dataDir string, g RuleGroup, start, end time.Time) {
	b.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		b.Fatalf("promtool (Debian package prometheus): %v", err) // never skipped, as in promtest
	}
	dir := b.TempDir()
	file := filepath.Join(dir, "base.yaml")
	y, err := yaml.Marshal(RuleFile{Groups: []RuleGroup{g}})
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(file, y, 0o644); err != nil {
		b.Fatal(err)
	}
	blocks := filepath.Join(dir, "blocks")
	began := time.Now()
	cmd := exec.CommandContext(b.Context(), promtool, "tsdb", "create-blocks-from", "rules", "--quiet",
		"--url="+promURL, "--start="+start.Format(time.RFC3339), "--end="+end.Format(time.RFC3339),
		"--output-dir="+blocks, file)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	entries, err := os.ReadDir(blocks)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(blocks, e.Name()), filepath.Join(dataDir, e.Name())); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("promtool backfilled %d rules over %s into %d blocks in %s", len(g.Rules), end.Sub(start), len(entries), time.Since(began).Round(time.Millisecond))
}

// costQuerier runs instant queries with stats=all and reads how many
// samples Prometheus touched (totalQueryableSamples).
type costQuerier struct{ base string }

// cost evaluates every expression once at ts and returns the samples read.
func (c *costQuerier) cost(b *testing.B, exprs []string, ts time.Time) int64 {
	b.Helper()
	var total int64
	for _, e := range exprs {
		_, n, err := c.query(b.Context(), e, ts)
		if err != nil {
			b.Fatal(err)
		}
		total += n
	}
	return total
}

// diff returns the largest difference, over the model_name groups, between
// the values of direct and summed at ts.
func (c *costQuerier) diff(b *testing.B, what, direct, summed string, ts time.Time) float64 {
	b.Helper()
	was, _, err1 := c.query(b.Context(), direct, ts)
	now, _, err2 := c.query(b.Context(), summed, ts)
	if err1 != nil || err2 != nil || len(was) == 0 || len(was) != len(now) {
		b.Fatalf("%s: direct %v (%v), summed %v (%v)", what, was, err1, now, err2)
	}
	worst := 0.0
	for _, o := range was {
		for _, n := range now {
			if o.Metric["model_name"] == n.Metric["model_name"] {
				b.Logf("model %s: 28d %s %.6g direct, %.6g summed", o.Metric["model_name"], what, o.Value, n.Value)
				worst = math.Max(worst, math.Abs(float64(n.Value-o.Value)))
			}
		}
	}
	return worst
}

// value returns the smallest value of q at ts.
func (c *costQuerier) value(b *testing.B, q string, ts time.Time) float64 {
	b.Helper()
	v, _, err := c.query(b.Context(), q, ts)
	if err != nil || len(v) == 0 {
		b.Fatalf("%s: %v %v", q, v, err)
	}
	least := math.Inf(1)
	for _, s := range v {
		least = math.Min(least, float64(s.Value))
	}
	return least
}

func (c *costQuerier) query(ctx context.Context, q string, ts time.Time) (model.Vector, int64, error) {
	form := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(ts.UnixNano())/1e9, 'f', 3, 64)}}
	result, samples, _, err := promtest.QueryStats(ctx, c.base, "/api/v1/query", form)
	if err != nil {
		return nil, 0, err
	}
	var v model.Vector
	if err := json.Unmarshal(result, &v); err != nil {
		return nil, 0, fmt.Errorf("query %q: %w", q, err)
	}
	return v, samples, nil
}
