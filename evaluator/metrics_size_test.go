package evaluator

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// maxScrapeBytes bounds one /metrics scrape of a fleet of 1,000 groups and
// 10 SLOs without per-window series.
const maxScrapeBytes = 5 << 20

// sizeFleet is BenchmarkFleet's shape: 100 models x 10 instances grouped by
// (model_name, instance), its ten SLOs (28-day windows, the default window
// pairs) and its five built-in indicators, with a report of every group
// holding full-precision numbers, 1% of them firing a page pair.
func sizeFleet(t *testing.T) ([]*rules.SLO, []*rules.Indicator, *Report) {
	t.Helper()
	p := rules.NewPromQL()
	d := rules.Defaults{Selector: `{job="vllm"}`, GroupBy: []string{"model_name", "instance"}}
	obj, _ := rules.ParseObjective("99")
	var slos []*rules.SLO
	for _, c := range []struct {
		metric    string
		threshold float64
	}{{"time_to_first_token", 0.25}, {"time_to_first_token", 0.5}, {"time_to_first_token", 1}, {"time_to_first_token", 2.5},
		{"inter_token_latency", 0.05}, {"inter_token_latency", 0.1}, {"e2e_request_latency", 5}, {"e2e_request_latency", 10}, {"e2e_request_latency", 20}} {
		s, err := rules.Compile(p, rules.SLOSpec{
			Name: fmt.Sprintf("%s-%g", c.metric, c.threshold), Objective: obj, Window: rules.Duration(28 * 24 * time.Hour),
			SLI:      rules.SLISpec{Latency: &rules.LatencySLI{Metric: c.metric, Threshold: rules.Seconds(c.threshold)}},
			Alerting: rules.AlertingSpec{Windows: rules.WindowsSpec{Default: true}},
		}, d)
		if err != nil {
			t.Fatal(err)
		}
		slos = append(slos, s)
	}
	errObj, _ := rules.ParseObjective("99.9")
	s, err := rules.Compile(p, rules.SLOSpec{Name: "errors", Objective: errObj, Window: rules.Duration(28 * 24 * time.Hour),
		SLI: rules.SLISpec{Ratio: &rules.RatioSLI{Errors: `vllm:request_success_total{finished_reason="error"}`, Total: `vllm:request_success_total`}}}, d)
	if err != nil {
		t.Fatal(err)
	}
	slos = append(slos, s)
	th := rules.Seconds(2.5)
	var inds []*rules.Indicator
	for _, spec := range []rules.IndicatorSpec{
		{Name: "queue-growth", Kind: rules.KindQueueGrowth}, {Name: "preemptions", Kind: rules.KindPreemptionRate},
		{Name: "kv-cache", Kind: rules.KindKVCachePressure}, {Name: "stall", Kind: rules.KindQueueStall},
		{Name: "ttft-p99", Kind: rules.KindLatencyPercentile, Metric: "time_to_first_token", Percentile: 99, Threshold: &th},
	} {
		in, err := rules.CompileIndicator(p, spec, d)
		if err != nil {
			t.Fatal(err)
		}
		inds = append(inds, in)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	rep := &Report{}
	for _, s := range slos {
		for m := range 100 {
			for i := range 10 {
				r := SLOResult{SLO: s.Name, Labels: map[string]string{"model_name": fmt.Sprintf("m%03d", m), "instance": fmt.Sprintf("gpu-%02d:8000", i)}, State: StateOK}
				window := func(w time.Duration) WindowResult {
					er := rng.Float64() * 0.02
					return WindowResult{Window: rules.Duration(w), ErrorRatio: ptr(er), BurnRate: ptr(er / s.Objective.Budget()),
						Events: math.Round(w.Minutes() * 60 * (1 + rng.Float64()))}
				}
				for _, w := range s.QueryWindows() {
					r.Windows = append(r.Windows, window(w))
				}
				r.Budget = window(s.PeriodLength())
				r.BudgetRemaining = ptr(1 - *r.Budget.BurnRate)
				if rng.IntN(100) == 0 {
					w := s.Windows[0]
					r.Firing = []FiringPair{{LongWindow: rules.Duration(w.Long), ShortWindow: rules.Duration(w.Short), Severity: w.Severity, Tier: w.Tier, Factor: w.Factor}}
					r.State = StateBurning
				}
				rep.SLOs = append(rep.SLOs, r)
			}
		}
	}
	for _, in := range inds {
		for m := range 100 {
			for i := range 10 {
				rep.Indicators = append(rep.Indicators, IndicatorStatus{State: StateInactive.String(), IndicatorResult: IndicatorResult{
					Indicator: in.Name, Value: Float(rng.Float64()), Threshold: Float(in.Threshold()),
					Labels: map[string]string{"indicator": in.Name, "model_name": fmt.Sprintf("m%03d", m), "instance": fmt.Sprintf("gpu-%02d:8000", i)},
				}})
			}
		}
	}
	return slos, inds, rep
}

// scrape is one GET /metrics as Prometheus sends it: the bytes of the
// plain text and its series, then the bytes on the wire with gzip.
func scrape(t *testing.T, reg prometheus.Gatherer) (plain, series, gzipped int) {
	t.Helper()
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
	for _, enc := range []string{"", "gzip"} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept", "text/plain;version=0.0.4")
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("/metrics: %d %s", rec.Code, rec.Body.String()[:min(rec.Body.Len(), 500)])
		}
		if enc != "" {
			if rec.Header().Get("Content-Encoding") != "gzip" {
				t.Fatalf("/metrics did not compress: %v", rec.Header())
			}
			gzipped = rec.Body.Len()
			continue
		}
		plain = rec.Body.Len()
		for line := range bytes.Lines(rec.Body.Bytes()) {
			if line[0] != '#' {
				series++
			}
		}
	}
	return plain, series, gzipped
}

// TestMetricsScrapeSizeFleet measures /metrics for 1,000 groups x 10 SLOs
// (and 5 indicators over the same groups), with and without per-window
// series, and holds the second to maxScrapeBytes. The report is synthetic
// but shaped as BenchmarkFleet's evaluation is, so the bytes are
// deterministic:
//
//	go test -run TestMetricsScrapeSizeFleet -v ./evaluator/
func TestMetricsScrapeSizeFleet(t *testing.T) {
	slos, inds, rep := sizeFleet(t)
	reg := prometheus.NewPedanticRegistry()
	eng, err := NewEngine(New(nil, slos, inds, Options{}), nil, EngineOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	eng.last = rep
	eng.ExportMetrics()

	began := time.Now()
	perWindow, perWindowSeries, perWindowGz := scrape(t, reg)
	perWindowTook := time.Since(began) / 2
	eng.SetWindowMetrics(false)
	began = time.Now()
	fleet, fleetSeries, fleetGz := scrape(t, reg)
	fleetTook := time.Since(began) / 2
	t.Logf("1,000 groups x 10 SLOs and 5 indicators, with per-window series: %d series, %d bytes = %.1f MB (%.1f MB gzip), %s a scrape",
		perWindowSeries, perWindow, float64(perWindow)/(1<<20), float64(perWindowGz)/(1<<20), perWindowTook.Round(time.Millisecond))
	t.Logf("without per-window series: %d series, %d bytes = %.2f MB (%.2f MB gzip), %s a scrape",
		fleetSeries, fleet, float64(fleet)/(1<<20), float64(fleetGz)/(1<<20), fleetTook.Round(time.Millisecond))
	if fleet > maxScrapeBytes {
		t.Errorf("/metrics without per-window series takes %d bytes, more than %d", fleet, maxScrapeBytes)
	}
	// Per SLO and group: the budget and the SLO window's events, and the
	// 1% that fire one pair; per indicator and group: value and state.
	if want := 10*1000*2 + 100 + 5*1000*2; fleetSeries < want || fleetSeries > want+len(slos)*4+len(inds)+20 {
		t.Errorf("without per-window series: %d series, want %d and the per-SLO and process series", fleetSeries, want)
	}
}
