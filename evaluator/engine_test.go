package evaluator

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

type recordingSender struct {
	mu   sync.Mutex
	sent [][]*model.Alert
}

func (r *recordingSender) Send(alerts ...*model.Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, alerts)
}

func (r *recordingSender) take() []*model.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*model.Alert
	for _, b := range r.sent {
		out = append(out, b...)
	}
	r.sent = nil
	return out
}

func named(alerts []*model.Alert, name string) []*model.Alert {
	var out []*model.Alert
	for _, a := range alerts {
		if string(a.Labels[model.AlertNameLabel]) == name {
			out = append(out, a)
		}
	}
	return out
}

// burningFake is a Prometheus in which the TTFT SLO of model llama burns
// (until healthy is set) and which can go down.
type burningFake struct {
	mu      sync.Mutex
	healthy bool
	down    bool
	f       *bucketFake
}

func newBurningFake() *burningFake {
	bad := window(map[string]float64{"1.0": 500, "+Inf": 1000})
	f := &bucketFake{les: vllmTTFTBounds, counts: map[string]map[string]map[string]float64{}}
	for _, w := range []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d", "4w"} {
		f.counts[w] = bad
	}
	return &burningFake{f: f}
}

func (b *burningFake) Query(ctx context.Context, q string, ts time.Time) (model.Value, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return nil, &QueryError{Query: q, Err: errors.New("dial tcp 127.0.0.1:9090: connect: connection refused")}
	}
	if b.healthy {
		good := window(map[string]float64{"1.0": 1000, "+Inf": 1000})
		for w := range b.f.counts {
			if w == "5m" || w == "1h" || w == "30m" || w == "6h" {
				b.f.counts[w] = good
			}
		}
	}
	return b.f.Query(ctx, q, ts)
}

func ttftSLOWithLinks(t *testing.T) *rules.SLO {
	spec := latencySpec(1, "")
	spec.Alerting.Labels = map[string]string{"Team": "inference"}
	// Resolves here are the lifecycle's, undamped; damping has its own test.
	spec.Alerting.KeepFiringFor = new(rules.Duration)
	spec.Alerting.Annotations = map[string]string{
		"runbook_url":   "https://runbooks.example/ttft",
		"dashboard_url": `https://grafana.example/explore?from={{ unixMillis .From }}&to={{ unixMillis .To }}&model={{ urlquery .Labels.model_name }}`,
	}
	return compile(t, spec)
}

func TestEngineFiresPersistsAndResolves(t *testing.T) {
	dir := t.TempDir()
	prom := newBurningFake()
	sender := &recordingSender{}
	reg := prometheus.NewRegistry()
	opts := EngineOptions{
		Interval: 30 * time.Second, ExternalLabels: map[string]string{"cluster": "eu"},
		ExternalURL: "http://sentinel:9105", StateDir: dir, Registerer: reg,
	}
	eng, err := NewEngine(New(prom, []*rules.SLO{ttftSLOWithLinks(t)}, nil, Options{}), sender, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Restore(at(0)); err != nil {
		t.Fatal(err)
	}
	eng.Cycle(context.Background(), at(0))
	sent := sender.take()
	pages := named(sent, AlertSLOBurnRate)
	if len(named(sent, AlertWatchdog)) != 1 {
		t.Errorf("watchdog not sent: %v", sent)
	}
	var page *model.Alert
	for _, p := range pages {
		if p.Labels["long_window"] == "1h" {
			page = p
		}
	}
	if page == nil {
		t.Fatalf("no 1h/5m page among %v", pages)
	}
	want := model.LabelSet{"alertname": "SLOBurnRate", "slo": "ttft", "severity": "critical", "slo_tier": "page",
		"long_window": "1h", "short_window": "5m", "model_name": "llama", "Team": "inference", "cluster": "eu"}
	if !page.Labels.Equal(want) {
		t.Errorf("labels %v, want %v", page.Labels, want)
	}
	if !page.StartsAt.Equal(at(0)) || !page.EndsAt.Equal(at(4*time.Minute)) || page.GeneratorURL != "http://sentinel:9105/" {
		t.Errorf("timing: %v %v %q", page.StartsAt, page.EndsAt, page.GeneratorURL)
	}
	if d := string(page.Annotations["dashboard_url"]); d != "https://grafana.example/explore?from=-3600000&to=0&model=llama" {
		t.Errorf("dashboard_url %q", d)
	}
	if s := string(page.Annotations["description"]); !strings.Contains(s, "Burn rate 50.00 over 1h") || !strings.Contains(s, "Error budget left: -4900.00%") {
		t.Errorf("description %q", s)
	}
	if got := testutil.ToFloat64(eng.metrics.evaluations); got != 1 {
		t.Errorf("evaluations metric %v", got)
	}
	if !eng.Ready() {
		t.Error("not ready after a clean cycle")
	}

	// Restart: a new engine restores the page; no second page, same startsAt.
	eng2, err := NewEngine(New(prom, []*rules.SLO{ttftSLOWithLinks(t)}, nil, Options{}), sender, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng2.Restore(at(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	eng2.Cycle(context.Background(), at(30*time.Second))
	if sent := named(sender.take(), AlertSLOBurnRate); len(sent) != 0 {
		t.Errorf("restart re-sent before the resend interval: %v", sent)
	}

	// Prometheus goes down: no resolve is sent, PrometheusDown fires after 2 cycles.
	prom.mu.Lock()
	prom.down = true
	prom.mu.Unlock()
	eng2.Cycle(context.Background(), at(60*time.Second))
	eng2.Cycle(context.Background(), at(90*time.Second))
	sent = sender.take()
	for _, a := range named(sent, AlertSLOBurnRate) {
		if !a.EndsAt.After(at(90 * time.Second)) {
			t.Errorf("resolve sent while Prometheus was down: %v", a)
		}
	}
	if len(named(sent, AlertPrometheusDown)) != 0 {
		t.Error("PrometheusDown fired before its 'for'")
	}
	eng2.Cycle(context.Background(), at(120*time.Second))
	if d := named(sender.take(), AlertPrometheusDown); len(d) != 1 || d[0].Labels["severity"] != "critical" {
		t.Errorf("PrometheusDown not sent: %v", d)
	}

	// Back up and healthy: the page resolves with endsAt = resolve time.
	prom.mu.Lock()
	prom.down, prom.healthy = false, true
	prom.mu.Unlock()
	eng2.Cycle(context.Background(), at(150*time.Second))
	sent = sender.take()
	resolved := 0
	for _, a := range named(sent, AlertSLOBurnRate) {
		if a.Labels["long_window"] == "1h" {
			if !a.EndsAt.Equal(at(150*time.Second)) || !a.StartsAt.Equal(at(0)) {
				t.Errorf("resolve: %v", a)
			}
			resolved++
		}
	}
	if resolved != 1 {
		t.Errorf("page resolve sent %d times", resolved)
	}
	if d := named(sent, AlertPrometheusDown); len(d) != 1 || !d[0].EndsAt.Equal(at(150*time.Second)) {
		t.Errorf("PrometheusDown resolve: %v", d)
	}
}

func TestEngineNoDataNamesTheAbsentMetric(t *testing.T) {
	f := &bucketFake{} // no bucket series at all
	sender := &recordingSender{}
	eng, err := NewEngine(New(QuerierFunc(func(ctx context.Context, q string, ts time.Time) (model.Value, error) {
		return f.Query(ctx, q, ts)
	}), []*rules.SLO{compile(t, latencySpec(1, ""))}, nil, Options{}), sender, EngineOptions{Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= 5; i++ {
		eng.Cycle(context.Background(), at(time.Duration(i)*time.Minute))
	}
	nd := named(sender.take(), AlertNoData)
	if len(nd) != 1 || nd[0].Labels["metric"] != "vllm:time_to_first_token_seconds_bucket" || nd[0].Labels["slo"] != "ttft" {
		t.Errorf("NoData: %v", nd)
	}
	if !eng.Ready() {
		t.Error("not ready although Prometheus answered: an absent metric is a finding, not a failure")
	}
}

// A rule removed from the config does not keep its alerts alive through a
// reload or a restart: they resolve, and the resolve is sent; an evaluation that fails for a reason other than
// Prometheus being down raises SentinelEvaluationFailing.
func TestEnginePrunesRemovedRulesAndReportsFailingOnes(t *testing.T) {
	dir := t.TempDir()
	prom := newBurningFake()
	sender := &recordingSender{}
	opts := EngineOptions{Interval: time.Minute, StateDir: dir}
	eng, err := NewEngine(New(prom, []*rules.SLO{compile(t, latencySpec(1, ""))}, nil, Options{}), sender, opts)
	if err != nil {
		t.Fatal(err)
	}
	eng.Cycle(context.Background(), at(0))
	if len(named(sender.take(), AlertSLOBurnRate)) == 0 {
		t.Fatal("no page to begin with")
	}

	// The SLO is renamed: its old alerts resolve on reload, and receivers
	// hear it rather than wait for endsAt...
	renamed := latencySpec(1, "")
	renamed.Name = "ttft-v2"
	renamed.SLI.Latency.Threshold = 2 // not a bound: fails to evaluate
	next, err := NewEngine(New(prom, []*rules.SLO{compile(t, renamed)}, nil, Options{}), sender, opts)
	if err != nil {
		t.Fatal(err)
	}
	next.CopyState(eng)
	sender.take()
	next.Cycle(context.Background(), at(30*time.Second))
	assertRemovedSLOResolved(t, "reload", sender.take(), next.Alerts(), at(30*time.Second))
	// ...and on restart.
	restarted, err := NewEngine(New(prom, []*rules.SLO{compile(t, renamed)}, nil, Options{}), sender, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(opts.StateDir, "alerts.json")); err != nil {
		t.Fatal(err)
	}
	if err := eng.store.Save(snapshotOf(eng, at(0))); err != nil {
		t.Fatal(err)
	}
	if err := restarted.Restore(at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	restarted.Cycle(context.Background(), at(time.Minute))
	assertRemovedSLOResolved(t, "restart", sender.take(), restarted.Alerts(), at(time.Minute))
	for i := 2; i <= 7; i++ {
		restarted.Cycle(context.Background(), at(time.Duration(i)*time.Minute))
	}
	failing := named(sender.take(), AlertEvaluationFailing)
	if len(failing) == 0 || failing[0].Labels["slo"] != "ttft-v2" || !strings.Contains(string(failing[0].Annotations["description"]), "not a bucket bound") {
		t.Errorf("SentinelEvaluationFailing: %v", failing)
	}
}

// assertRemovedSLOResolved checks that the alerts of the removed SLO "ttft"
// were sent resolved at ts and are held only as resolved.
func assertRemovedSLOResolved(t *testing.T, when string, sent []*model.Alert, held []*Alert, ts time.Time) {
	t.Helper()
	n := 0
	for _, a := range sent {
		if a.Labels["slo"] != "ttft" {
			continue
		}
		n++
		if a.EndsAt.After(ts) {
			t.Errorf("%s: alert of the removed SLO sent as firing: %v", when, a.Labels)
		}
	}
	if n == 0 {
		t.Errorf("%s: no resolve sent for the removed SLO's alerts", when)
	}
	for _, a := range held {
		if a.Labels["slo"] == "ttft" && a.State != StateInactive {
			t.Errorf("%s: alert of the removed SLO kept %s: %v", when, a.State, a.Labels)
		}
	}
}

// snapshotOf is the state file e would save at ts.
func snapshotOf(e *Engine, ts time.Time) *stateFile {
	sf := &stateFile{SavedAt: ts, Rules: map[ruleKey][]*Alert{}}
	for k, s := range e.sets {
		sf.Rules[k] = s.Snapshot()
	}
	return sf
}
