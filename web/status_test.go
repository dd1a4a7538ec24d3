package web

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/eventstore"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// fakeSource serves hand-built reports, and SLO history from a real event
// store fed by the test.
type fakeSource struct {
	hist   []*evaluator.Report
	alerts []*evaluator.Alert
	slos   []*rules.SLO
	store  *eventstore.Store
}

func (f fakeSource) Last() *evaluator.Report      { return f.hist[len(f.hist)-1] }
func (f fakeSource) History() []*evaluator.Report { return f.hist }
func (f fakeSource) Alerts() []*evaluator.Alert   { return f.alerts }
func (f fakeSource) Ready() bool                  { return true }
func (f fakeSource) SLOs() []*rules.SLO           { return f.slos }

func labelSet(m map[string]string) model.LabelSet {
	ls := model.LabelSet{}
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

func (f fakeSource) WindowHistory(_ string, group map[string]string, w time.Duration, from, to time.Time, step time.Duration) []eventstore.Point {
	if f.store == nil {
		return nil
	}
	return f.store.Series(labelSet(group), w, from, to, step)
}

func (f fakeSource) PeriodHistory(_ string, group map[string]string, step time.Duration) (time.Time, []eventstore.Point) {
	if f.store == nil {
		return time.Time{}, nil
	}
	start := f.store.Through().Add(-28 * 24 * time.Hour)
	return start, f.store.Cumulative(labelSet(group), start, f.store.Through(), step)
}

func ptr(v float64) *float64 { return &v }

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func ttftSLO(t *testing.T) *rules.SLO {
	t.Helper()
	obj, err := rules.ParseObjective("99")
	if err != nil {
		t.Fatal(err)
	}
	min := 50.0
	s, err := rules.Compile(rules.NewPromQL(), rules.SLOSpec{
		Name: "ttft", Description: "99% of requests get their first token within 1s", Objective: obj,
		Window: rules.Duration(28 * 24 * time.Hour), MinEvents: &min,
		SLI: rules.SLISpec{Latency: &rules.LatencySLI{Metric: "time_to_first_token", Threshold: 1}},
		Alerting: rules.AlertingSpec{Windows: rules.WindowsSpec{Default: true},
			Annotations: map[string]string{"runbook_url": "https://runbooks.example/ttft?m={{ .Labels.model_name }}"}},
	}, rules.Defaults{GroupBy: []string{"model_name"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is two days of a group's events, 2% bad for the last hour and
// 0.1% before, and a report at its end with hand-built diagnosis and traces.
func fixture(t *testing.T) fakeSource {
	t.Helper()
	step := 30 * time.Second
	st := eventstore.New("ttft", eventstore.Tiers(step, 28*24*time.Hour))
	group := map[string]string{"model_name": "llama<script>"}
	end := t0.Add(48 * time.Hour)
	for at := t0; at.Before(end); at = at.Add(step) {
		bad := 0.06
		if end.Sub(at) <= time.Hour {
			bad = 1.2
		}
		if err := st.Add(labelSet(group), at, at.Add(step), bad, 60); err != nil {
			t.Fatal(err)
		}
	}
	// As the engine's backfill does: the whole window is read, events or not.
	st.Extend(end.Add(-28*24*time.Hour), end, step)
	res := evaluator.SLOResult{
		SLO: "ttft", Objective: 99, Labels: group, State: evaluator.StateBurning,
		Windows: []evaluator.WindowResult{
			{Window: rules.Duration(time.Hour), BurnRate: ptr(2), ErrorRatio: ptr(0.02)},
			{Window: rules.Duration(5 * time.Minute), BurnRate: ptr(2), ErrorRatio: ptr(0.02)},
		},
		Firing: []evaluator.FiringPair{
			{LongWindow: rules.Duration(6 * time.Hour), ShortWindow: rules.Duration(30 * time.Minute), Severity: "critical", Factor: 5.6, LongBurnRate: 6, ShortBurnRate: 7},
			{LongWindow: rules.Duration(time.Hour), ShortWindow: rules.Duration(5 * time.Minute), Severity: "critical", Factor: 13.44, LongBurnRate: 14, ShortBurnRate: 15},
		},
		BudgetRemaining: ptr(-0.25), Exhaustion: func() *evaluator.Duration { d := evaluator.Duration(0); return &d }(),
		Diagnosis: &evaluator.Diagnosis{Cause: "queueing", Evidence: "queue time 80% of TTFT (0.9s of 1.1s, was 0.05s)", Window: rules.Duration(time.Hour),
			Signals: []evaluator.Signal{{Name: "queue_time", Unit: "s", Baseline: ptr(0.05), Window: ptr(0.9)}}},
		TraceLookup: evaluator.TraceLookup{Traces: []evaluator.Trace{{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Start: end.Add(-10 * time.Minute),
			TTFT: 2.5, Queue: 2.0, Prefill: 0.4, Decode: 3.1, URL: "http://jaeger.example/trace/4bf92f3577b34da6a3ce929d0e0e4736"}}},
	}
	var hist []*evaluator.Report
	for i := range 10 {
		hist = append(hist, &evaluator.Report{
			Time: end.Add(time.Duration(i-9) * step),
			SLOs: []evaluator.SLOResult{res},
			Indicators: []evaluator.IndicatorStatus{{IndicatorResult: evaluator.IndicatorResult{Indicator: "queue-growth",
				Labels: map[string]string{"model_name": "llama"}, Value: evaluator.Float(0.5 + 0.05*float64(i)), Threshold: 0.05}, State: "firing"}},
		})
	}
	return fakeSource{hist: hist, slos: []*rules.SLO{ttftSLO(t)}, store: st, alerts: []*evaluator.Alert{{
		Labels: model.LabelSet{"alertname": "SLOBurnRate", "slo": "ttft", "model_name": "llama<script>", "long_window": "1h"}, State: evaluator.StateFiring, FiredAt: end.Add(-20 * time.Minute),
		Annotations: model.LabelSet{"summary": "SLO ttft is burning"},
	}}}
}

func TestOverviewShowsSLOsIndicatorsAndAlerts(t *testing.T) {
	src := fixture(t)
	p, err := NewPage()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.Render(&b, src, "1.0", Links{}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`href="/slo/ttft?model_name=llama%3Cscript%3E"`, "-25.0%", ">exhausted<", "queue-growth",
		"SLO ttft is burning", "5m&nbsp;2.00×", "threshold 0.05", `class="xtick"`} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if strings.Contains(page, "in 0s") {
		t.Error(`an overspent budget reads "exhausted in 0s"`)
	}
	if i, j := strings.Index(page, "5m&nbsp;"), strings.Index(page, "1h&nbsp;"); j < i {
		t.Error("windows not sorted: 1h before 5m")
	}
	if i, j := strings.Index(page, "1h/5m critical"), strings.Index(page, "6h/30m critical"); i < 0 || j < i {
		t.Errorf("firing pairs not sorted by window: %d, %d", i, j)
	}
	if strings.Contains(page, "llama<script>") {
		t.Error("labels are not escaped")
	}
}

// The SLO page shows what the SLO is, its budget burn-down and a burn-rate
// chart per pair from the store (axes with times and units, the factor
// dashed), the stretches above the factor, diagnosis and traces.
func TestSLOPageChartsTheStoresHistory(t *testing.T) {
	src := fixture(t)
	p, err := NewPage()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	q := url.Values{"model_name": {"llama<script>"}}
	if err := p.RenderSLO(&b, src, "1.0", Links{Alertmanager: "http://am:9093", Prometheus: "http://prom:9090", Grafana: "http://grafana"}, "ttft", q); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"99% of requests get their first token within 1s", "rolling 28d", "time_to_first_token ≤ 1s",
		`href="https://runbooks.example/ttft?m=llama%3cscript%3e"`, "http://am:9093/#/alerts?filter=", "http://prom:9090/graph?g0.expr=vllm_sentinel_slo_burn_rate",
		// axes: percent for the budget, × for burn rates, times
		`>100%<`, `>0%<`, `factor 13.44×`, `factor 5.60×`, `>UTC<`, `>12:00<`,
		"cause: queueing", "queue time 80% of TTFT", "4bf92f3577b34da6a3ce929d0e0e4736", "2.5s",
		"SLO ttft is burning",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("SLO page lacks %q", want)
		}
	}
	if i, j, k := strings.Index(page, "1h / 5m"), strings.Index(page, "6h / 30m"), strings.Index(page, "3d / 6h"); i < 0 || j < i || k < j {
		t.Errorf("pairs not sorted by window: %d %d %d", i, j, k)
	}
	// The last hour burned 2×: above the 1d/2h and 3d/6h factors only at
	// the short window; none of the page factors, so no stretch is shaded.
	if strings.Contains(page, `class="span"`) {
		t.Error("a stretch is shaded although no pair's long window burned above its factor")
	}
	for _, tc := range []struct {
		name string
		q    url.Values
	}{{"nosuch", q}, {"ttft", url.Values{"model_name": {"other"}}}} {
		if err := p.RenderSLO(&bytes.Buffer{}, src, "1.0", Links{}, tc.name, tc.q); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s %v: %v, want not found", tc.name, tc.q, err)
		}
	}
}

// Burn rates read back from the store are the events' own: 2% bad against
// a 1% budget is 2× in the last hour and 0.1× before.
func TestBurnChartValuesAreTheStoresRatios(t *testing.T) {
	src := fixture(t)
	s := src.slos[0]
	res := src.Last().SLOs[0]
	to := src.Last().Time
	w := s.Windows[0]
	v := pairChart(src, s, &res, res.Labels, w, to.Add(-6*time.Hour), to)
	if !strings.Contains(string(v.Chart), "1h burn rate 2026-03-04 00:00: 2×") {
		t.Errorf("the 1h burn at the end is not 2×: %s", v.Chart)
	}
	if !strings.Contains(string(v.Chart), "1h burn rate 2026-03-03 20:00: 0.1×") {
		t.Errorf("the 1h burn four hours before is not 0.1×")
	}
}

// The SLO page is served at /slo/<name>?<group labels>; an SLO or group
// the engine does not have is a 404 that names it.
func TestSLOPageRoutes(t *testing.T) {
	reloads := 0
	h := handler(t, fixture(t), &reloads)
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/slo/ttft?model_name=llama%3Cscript%3E&range=6h", http.StatusOK, `class="on">6h<`},
		{"/slo/ttft?model_name=other", http.StatusNotFound, "no group {model_name=other}"},
		{"/slo/latency", http.StatusNotFound, `no SLO named "latency"`},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d, want %d with %q: %.300s", tc.path, rec.Code, tc.code, tc.want, rec.Body)
		}
	}
}
