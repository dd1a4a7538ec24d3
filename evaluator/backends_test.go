package evaluator_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/internal/poll"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

const (
	// ownTolerance is how far the evaluator's error ratio may be from the
	// backend's own query of it: the same data, the same engine.
	ownTolerance = 1e-6
	// crossTolerance is how far two backends' ratios may be apart, relative:
	// their range selectors differ at the edges (Prometheus 3's are open on
	// the left, 2.42's closed; MetricsQL's increase does not extrapolate).
	crossTolerance = 0.01
)

// backendRow is one backend's evaluation of the TTFT SLO at one time.
type backendRow struct {
	name string
	data string // what the backend holds: "backfill" or a live scrape
	// ratio and own are the evaluator's error ratio per window and the
	// backend's own query of it; firing are the pairs that fire.
	ratio, own map[time.Duration]float64
	// events are the requests per window: a querier that did not
	// deduplicate its replicas would count each twice.
	events map[time.Duration]float64
	firing []string
	note   string // the evaluator's note on the SLI's data
}

// evalTTFTOn evaluates the TTFT SLO through a client built as the daemon
// builds it (headers included), and asks the backend itself for the same
// error ratio per window with ownQuery.
func evalTTFTOn(t *testing.T, name, data string, cfg evaluator.ClientConfig, ts time.Time, ownQuery func(w string) string) backendRow {
	t.Helper()
	ctx := context.Background()
	res, err := evalTTFT(t, cfg, ts)
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("%s: eval at %s: %v %+v", name, ts, err, res.Errors)
	}
	if len(res.SLOs) != 1 {
		t.Fatalf("%s: %d SLO results, want 1 (one model)", name, len(res.SLOs))
	}
	api, err := evaluator.NewPrometheusAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := res.SLOs[0]
	row := backendRow{name: name, data: data, ratio: map[time.Duration]float64{}, own: map[time.Duration]float64{}, events: map[time.Duration]float64{}}
	for _, w := range append(slices.Clone(r.Windows), r.Budget) {
		if w.ErrorRatio == nil {
			t.Fatalf("%s: window %s has no error ratio (%v events)", name, w.Window, w.Events)
		}
		row.ratio[w.Window.D()] = *w.ErrorRatio
		row.events[w.Window.D()] = w.Events
		qs := ownQuery(w.Window.String())
		v, _, _, err := api.Query(ctx, qs, ts)
		if err != nil {
			t.Fatalf("%s: %s: %v", name, qs, err)
		}
		vec, ok := v.(model.Vector)
		if !ok || len(vec) != 1 {
			t.Fatalf("%s: %s: %v, want one sample", name, qs, v)
		}
		row.own[w.Window.D()] = math.Max(0, float64(vec[0].Value))
	}
	for _, f := range r.Firing {
		row.firing = append(row.firing, fmt.Sprintf("%s/%s", f.LongWindow, f.ShortWindow))
	}
	row.note = r.Note
	return row
}

// evalTTFT evaluates the TTFT SLO at ts as vllm-sentinel eval does: a
// querier built from prometheus.url and prometheus.headers, metric names
// detected (metric_names: auto, the default) on the backend itself.
func evalTTFT(t *testing.T, cfg evaluator.ClientConfig, ts time.Time) (*evaluator.Result, error) {
	t.Helper()
	q, err := evaluator.NewPrometheusQuerier(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	names := evaluator.NewNames(rules.FlavourAuto, nil, nil, logger)
	ev := evaluator.New(q, []*rules.SLO{mustSLO(t, ttftSpec(t))}, nil, evaluator.Options{Logger: logger, Names: names})
	return ev.Eval(context.Background(), ts)
}

// classicRatio is the TTFT error ratio over a window as PromQL and MetricsQL
// both write it, from the classic histogram's buckets.
func classicRatio(w string) string {
	return fmt.Sprintf(`1 - sum(increase(vllm:time_to_first_token_seconds_bucket{le="1.0"}[%[1]s])) / sum(increase(vllm:time_to_first_token_seconds_count[%[1]s]))`, w)
}

// nativeRatio is the same from a native histogram.
func nativeRatio(w string) string {
	return fmt.Sprintf(`1 - histogram_fraction(0, 1, sum(increase(vllm:time_to_first_token_seconds[%s])))`, w)
}

// The TTFT SLO over a backfilled surge gives the same error ratios and fires
// the same pairs on every backend sentinel supports: Prometheus 2.42,
// Prometheus 3, a Thanos querier over two replicas and VictoriaMetrics. On
// each, the evaluator's ratio is the backend's own query of it; across them
// the ratios agree within 1 %. Prometheus 3 storing the live scrape of
// vllm-sim as native histograms (NHCB) agrees with a classic scrape of the
// same exposition. With BACKENDS_TABLE=path the table is written there as
// markdown.
func TestBackendsAgree(t *testing.T) {
	start := simtest.Start
	// 20 minutes into the surge, on the 15s sample grid. In the breach's
	// first minutes, while the ratio climbs fast, the 5m window's ratio
	// moves by up to 5 % between left-closed and left-open range selectors
	// (one sample of twenty); by now that window is saturated and the
	// longer ones differ by under 1 %.
	ts := start.Add(80 * time.Minute)
	file := simtest.Backfill(t, sim.Config{Scenario: sim.ScenarioSurge, Engines: 2, Seed: 11}, start, start.Add(2*time.Hour))

	prom2 := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: []string{file}})
	prom3 := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: []string{file}, Version3: true})
	thanos := promtest.StartThanos(t, promtest.ThanosOptions{OpenMetrics: []string{file}})
	vm := promtest.StartVictoriaMetrics(t, promtest.VictoriaMetricsOptions{OpenMetrics: []string{file}})

	rows := []backendRow{
		evalTTFTOn(t, "Prometheus 2.42", "backfill", evaluator.ClientConfig{URL: prom2.URL}, ts, classicRatio),
		evalTTFTOn(t, "Prometheus 3 (classic)", "backfill", evaluator.ClientConfig{URL: prom3.URL}, ts, classicRatio),
		evalTTFTOn(t, "Thanos "+promtest.ThanosVersion+" (querier over 2 replicas)", "backfill, into both replicas", evaluator.ClientConfig{URL: thanos.URL}, ts, classicRatio),
		evalTTFTOn(t, "VictoriaMetrics "+promtest.VictoriaMetricsVersion, "backfill, imported", evaluator.ClientConfig{URL: vm.URL}, ts, classicRatio),
	}
	for _, r := range rows {
		checkOwn(t, r)
		checkAgree(t, rows[0], r, true)
	}
	if len(rows[0].firing) == 0 {
		t.Errorf("%s: no pair fires 20 minutes into the surge", rows[0].name)
	}

	classic, native := nhcbRows(t)
	checkOwn(t, classic)
	checkOwn(t, native)
	checkAgree(t, classic, native, false)
	rows = append(rows, classic, native)

	table := backendsTable(rows, ts)
	t.Log("\n" + table)
	if path := os.Getenv("BACKENDS_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func checkOwn(t *testing.T, r backendRow) {
	t.Helper()
	for w, got := range r.ratio {
		if want := r.own[w]; math.Abs(got-want) > ownTolerance {
			t.Errorf("%s %s: error ratio %v, its own query says %v", r.name, model.Duration(w), got, want)
		}
	}
}

// checkAgree compares r's ratios, pairs and, with events, its request
// counts with ref's. The live twins' counts differ by their extrapolation
// (each server has scraped the frozen simulator for a different while),
// which cancels in the ratios.
func checkAgree(t *testing.T, ref, r backendRow, events bool) {
	t.Helper()
	for w, want := range ref.ratio {
		got, ok := r.ratio[w]
		if !ok {
			t.Errorf("%s: no window %s", r.name, model.Duration(w))
			continue
		}
		if math.Abs(got-want) > crossTolerance*math.Max(got, want) {
			t.Errorf("%s %s: error ratio %v, %s says %v (%.2f%% apart)", r.name, model.Duration(w), got, ref.name, want, 100*math.Abs(got-want)/want)
		}
		if got, want := r.events[w], ref.events[w]; events && math.Abs(got-want) > crossTolerance*math.Max(got, want) {
			t.Errorf("%s %s: %v events, %s counts %v", r.name, model.Duration(w), got, ref.name, want)
		}
	}
	if !slices.Equal(r.firing, ref.firing) {
		t.Errorf("%s fires %v, %s %v", r.name, r.firing, ref.name, ref.firing)
	}
}

// nhcbScrapes is how many scrapes the live simulator advances for: then
// its counters stand still, so two scrapers end up with the same samples.
// At nhcbScrapeInterval that takes 20 seconds.
const (
	nhcbScrapes        = 40
	nhcbScrapeInterval = 500 * time.Millisecond
)

// nhcbRows scrapes the same live vllm-sim exposition into two Prometheus
// 3 servers, one converting classic histograms to native histograms with
// custom buckets, and evaluates the TTFT SLO on both.
//
// Each server scrapes its own simulator (same config and seed), which
// advances 30s of model time per scrape for nhcbScrapes scrapes and then
// stands still: both servers store the same values, scraped at slightly
// different times. Every window then covers the whole history, so the
// ratios compare the two storage forms and nothing else.
func nhcbRows(t *testing.T) (classic, native backendRow) {
	t.Helper()
	cfg := sim.Config{Scenario: sim.ScenarioSurge, Engines: 2, Seed: 11, IncidentAt: 10 * time.Minute}
	classicSim, classicDone := steppedSim(t, cfg, 30*time.Second, nhcbScrapes)
	nativeSim, nativeDone := steppedSim(t, cfg, 30*time.Second, nhcbScrapes)
	promC := promtest.StartPrometheus(t, promtest.PrometheusOptions{Version3: true, ScrapeTargets: []string{classicSim}, ScrapeInterval: nhcbScrapeInterval})
	promN := promtest.StartPrometheus(t, promtest.PrometheusOptions{Version3: true, NativeHistograms: true, ScrapeTargets: []string{nativeSim}, ScrapeInterval: nhcbScrapeInterval})
	// Two scrapes past the last step, so that each server holds the final
	// values.
	if err := poll.Wait(2*time.Minute, 100*time.Millisecond, func() bool {
		return classicDone() >= nhcbScrapes+2 && nativeDone() >= nhcbScrapes+2
	}); err != nil {
		t.Fatalf("live scrapes: %d and %d of %d after 2 minutes", classicDone(), nativeDone(), nhcbScrapes+2)
	}
	ts := time.Now()
	classic = evalTTFTOn(t, "Prometheus 3 (classic, live twin)", "live scrape of vllm-sim", evaluator.ClientConfig{URL: promC.URL}, ts, classicRatio)
	native = evalTTFTOn(t, "Prometheus 3 (NHCB)", "live scrape of vllm-sim", evaluator.ClientConfig{URL: promN.URL}, ts, nativeRatio)
	if !strings.Contains(native.note, "native histogram") || strings.Contains(classic.note, "native histogram") {
		t.Errorf("the NHCB server's SLI is not read from a native histogram, or the classic one's is: notes %q and %q", native.note, classic.note)
	}
	return classic, native
}

// steppedSim serves vllm-sim's /metrics, advancing its model clock by step
// on each of the first n scrapes and not at all afterwards. It returns the
// host:port and a count of the scrapes served.
func steppedSim(t *testing.T, cfg sim.Config, step time.Duration, n int) (string, func() int) {
	t.Helper()
	modelStart := simtest.Start
	s, err := sim.New(cfg, modelStart)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	var mu sync.Mutex
	served := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if served < n {
			s.AdvanceTo(modelStart.Add(time.Duration(served+1) * step))
		}
		served++
		mu.Unlock()
		metrics.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), func() int {
		mu.Lock()
		defer mu.Unlock()
		return served
	}
}

// backendsTable renders the rows as markdown: per window the evaluator's
// error ratio (its own query's difference from it in brackets), and the
// pairs that fire.
func backendsTable(rows []backendRow, ts time.Time) string {
	var windows []time.Duration
	for w := range rows[0].ratio {
		windows = append(windows, w)
	}
	slices.Sort(windows)
	var b strings.Builder
	fmt.Fprintf(&b, "TTFT SLO (99%% under 1s, 28d), sim surge, one model, 2 engines; backfill evaluated at %s (incident +20m)\n\n", ts.UTC().Format(time.RFC3339))
	b.WriteString("| backend | data |")
	for _, w := range windows {
		fmt.Fprintf(&b, " %s |", model.Duration(w))
	}
	b.WriteString(" events (4w) | firing pairs |\n|---|---|")
	for range windows {
		b.WriteString("---|")
	}
	b.WriteString("---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s |", r.name, r.data)
		for _, w := range windows {
			fmt.Fprintf(&b, " %.6f (Δ %.0e) |", r.ratio[w], math.Abs(r.ratio[w]-r.own[w]))
		}
		fmt.Fprintf(&b, " %.0f | %s |\n", r.events[windows[len(windows)-1]], strings.Join(r.firing, ", "))
	}
	b.WriteString("\nΔ: difference from the backend's own PromQL/MetricsQL of the same ratio. ")
	b.WriteString("Thanos's querier runs Prometheus 3's engine (range selectors open on the left); MetricsQL's increase starts from the sample before the window and does not extrapolate, which on the sample grid gives 2.42's numbers. ")
	b.WriteString("The live rows hold 20 minutes of model time scraped in 20 seconds, so every window covers all of it; they are compared with each other, not with the backfill.\n")
	return b.String()
}

// prometheus.headers reaches the backend: a Thanos querier enforcing
// tenancy (--query.enforce-tenancy, tenant from the THANOS-TENANT header
// matched against the tenant_id label) gives the tenant its header names
// the same SLO numbers as a querier without tenancy, and another tenant, or
// a request without the header, no data at all.
func TestThanosTenancyHeader(t *testing.T) {
	start := simtest.Start
	ts := start.Add(80 * time.Minute)
	file := simtest.Backfill(t, sim.Config{Scenario: sim.ScenarioSurge, Seed: 11}, start, start.Add(90*time.Minute))
	th := promtest.StartThanos(t, promtest.ThanosOptions{OpenMetrics: []string{file},
		ExternalLabels: map[string]string{promtest.ThanosTenantLabel: "team-a"}})
	enforcing := th.StartQuerier(t, "--query.enforce-tenancy")

	open := evalTTFTOn(t, "Thanos without tenancy", "", evaluator.ClientConfig{URL: th.URL}, ts, classicRatio)
	teamA := evalTTFTOn(t, "Thanos, tenant team-a", "", evaluator.ClientConfig{URL: enforcing,
		Headers: map[string]string{promtest.ThanosTenantHeader: "team-a"}}, ts, classicRatio)
	checkOwn(t, teamA)
	for w, want := range open.ratio {
		if got := teamA.ratio[w]; got != want {
			t.Errorf("tenant team-a %s: error ratio %v, without tenancy %v", model.Duration(w), got, want)
		}
	}
	if len(teamA.firing) == 0 || !slices.Equal(teamA.firing, open.firing) {
		t.Errorf("tenant team-a fires %v, without tenancy %v", teamA.firing, open.firing)
	}

	for name, headers := range map[string]map[string]string{
		"tenant team-b":    {promtest.ThanosTenantHeader: "team-b"},
		"no tenant header": nil,
	} {
		res, err := evalTTFT(t, evaluator.ClientConfig{URL: enforcing, Headers: headers}, ts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, r := range res.SLOs {
			t.Errorf("%s: sees %v (state %s, budget events %v)", name, r.Labels, r.State, r.Budget.Events)
		}
		if len(res.Errors) != 1 || res.Errors[0].Absent == "" {
			t.Errorf("%s: want the SLO's metric reported absent, got %+v", name, res.Errors)
		}
	}
}
