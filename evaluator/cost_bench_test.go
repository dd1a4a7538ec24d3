package evaluator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// statsQuerier asks Prometheus for each query's cost (stats=all) and sums
// the samples it read.
type statsQuerier struct {
	base    string
	samples atomic.Int64
	queries atomic.Int64
	// bytes counts the answers' bodies: what the sentinel decodes.
	bytes atomic.Int64
	// byKind, when set, sums samples by what the query is for.
	mu     sync.Mutex
	byKind map[string]int64
}

// queryKind tells what a query the evaluator sends is for.
func queryKind(q string) string {
	switch {
	case strings.HasPrefix(q, "count by (__name__)"):
		return "name detection"
	case strings.HasPrefix(q, "count by (le)"):
		return "bucket bounds"
	case strings.HasPrefix(q, "up"):
		return "target health"
	case strings.Contains(q, " offset ") || strings.Contains(q, "__sentinel_part"):
		return "SLO events"
	}
	return "indicators"
}

func (s *statsQuerier) Query(ctx context.Context, q string, ts time.Time) (model.Value, error) {
	form := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(ts.UnixNano())/1e9, 'f', 3, 64)}, "stats": {"all"}}
	body, err := s.post(ctx, "/api/v1/query", form)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	var v model.Vector
	err = json.Unmarshal(body, &v)
	return v, err
}

// post runs a query with stats=all, adds its samples and bytes to the
// counts and returns its result.
func (s *statsQuerier) post(ctx context.Context, path string, form url.Values) (json.RawMessage, error) {
	result, samples, bytes, err := promtest.QueryStats(ctx, s.base, path, form)
	s.bytes.Add(bytes)
	if err != nil {
		return nil, err
	}
	s.samples.Add(samples)
	s.queries.Add(1)
	s.mu.Lock()
	if s.byKind != nil {
		s.byKind[queryKind(form.Get("query"))] += samples
	}
	s.mu.Unlock()
	return result, nil
}

// BenchmarkCycleQueryCost reports what one evaluation cycle costs Prometheus:
// 2 SLOs (TTFT latency, error ratio) x 4 models with 28d windows over 7 days
// of history at 15s resolution. Run with:
//
//	go test -run '^$' -bench CycleQueryCost -benchtime 3x ./evaluator/
func BenchmarkCycleQueryCost(b *testing.B) {
	start := simtest.Start
	end := start.Add(7 * 24 * time.Hour)
	prom := simtest.Prometheus(b, sim.Config{Scenario: sim.ScenarioHealthy, Models: []string{"m1", "m2", "m3", "m4"}, Seed: 11}, start, end)
	sq := &statsQuerier{base: prom.URL}
	slos := []*rules.SLO{mustSLO(b, ttftSpec(b)), mustSLO(b, errorsSpec(b))}
	ev := evaluator.New(sq, slos, nil, evaluator.Options{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, _ := ev.Eval(context.Background(), end)
		if len(res.Errors) > 0 || len(res.SLOs) != 8 {
			b.Fatalf("evaluation: %d results, errors %+v", len(res.SLOs), res.Errors)
		}
	}
	b.ReportMetric(float64(sq.samples.Load())/float64(b.N), "samples/cycle")
	b.ReportMetric(float64(sq.queries.Load())/float64(b.N), "queries/cycle")
}

// QueryRange implements evaluator.RangeQuerier with the same accounting.
func (s *statsQuerier) QueryRange(ctx context.Context, q string, r v1.Range) (model.Value, error) {
	form := url.Values{"query": {q}, "start": {strconv.FormatFloat(float64(r.Start.UnixNano())/1e9, 'f', 3, 64)},
		"end": {strconv.FormatFloat(float64(r.End.UnixNano())/1e9, 'f', 3, 64)}, "step": {strconv.FormatFloat(r.Step.Seconds(), 'f', -1, 64)}, "stats": {"all"}}
	body, err := s.post(ctx, "/api/v1/query_range", form)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	var m model.Matrix
	err = json.Unmarshal(body, &m)
	return m, err
}

// take returns the samples and queries counted since the last take.
func (s *statsQuerier) take() (samples, queries int64) {
	return s.samples.Swap(0), s.queries.Swap(0)
}

// BenchmarkEventStoreCost reports what the event store costs Prometheus for
// one 28d TTFT SLO over 29 days of 2 models x 2 engines at 15s scrapes,
// next to a naive cycle (every window queried in full) and to the 1h window
// alone: the cold build, a steady-state cycle, the catch-up after 10
// minutes down, and a steady-state cycle of the same SLO over 90d. Run with
//
//	go test -run '^$' -bench EventStoreCost -benchtime 1x -timeout 60m ./evaluator/
//
// VLLM_SENTINEL_COST_DAYS sets fewer days of history (default 29).
func BenchmarkEventStoreCost(b *testing.B) {
	days := 29
	if v, err := strconv.Atoi(os.Getenv("VLLM_SENTINEL_COST_DAYS")); err == nil && v > 0 {
		days = v
	}
	start := simtest.Start
	end := start.Add(time.Duration(days) * 24 * time.Hour)
	prom := simtest.Prometheus(b, sim.Config{Scenario: sim.ScenarioHealthy, Models: []string{"m1", "m2"}, Engines: 2, Seed: 11}, start, end)
	sq := &statsQuerier{base: prom.URL}
	ctx := context.Background()
	step := 30 * time.Second
	slo := func(window time.Duration) []*rules.SLO {
		spec := ttftSpec(b)
		spec.Window = rules.Duration(window)
		return []*rules.SLO{mustSLO(b, spec)}
	}
	evalOK := func(ev *evaluator.Evaluator, ts time.Time) {
		res, _ := ev.Eval(ctx, ts)
		if len(res.Errors) > 0 || len(res.SLOs) != 2 {
			b.Fatalf("evaluation at %s: %d results, errors %+v", ts, len(res.SLOs), res.Errors)
		}
	}
	// The last 10 minutes of history are the restart's gap.
	at := end.Add(-10 * time.Minute)
	evalOK(evaluator.New(sq, slo(28*24*time.Hour), nil, evaluator.Options{}), at)
	naive, naiveQueries := sq.take()
	if _, err := sq.Query(ctx, rules.NewPromQL().BucketIncreases("vllm:time_to_first_token_seconds", nil, []string{"1.0", "+Inf"}, []string{"model_name"}, time.Hour), at); err != nil {
		b.Fatal(err)
	}
	oneHour, _ := sq.take()

	steady := func(window time.Duration, dir string) (cold, perCycle int64) {
		ev := evaluator.New(sq, slo(window), nil, evaluator.Options{Events: &evaluator.EventOptions{Step: step, Ranges: sq, Dir: dir}})
		from := at.Add(-10 * step)
		evalOK(ev, from)
		cold, _ = sq.take()
		for ts := from.Add(step); !ts.After(at); ts = ts.Add(step) {
			evalOK(ev, ts)
		}
		n, _ := sq.take()
		if err := ev.SaveEvents(at, true); err != nil {
			b.Fatal(err)
		}
		return cold, n / 10
	}
	dir := b.TempDir()
	cold28, cycle28 := steady(28*24*time.Hour, dir)
	evalOK(evaluator.New(sq, slo(28*24*time.Hour), nil, evaluator.Options{Events: &evaluator.EventOptions{Step: step, Ranges: sq, Dir: dir}}), end)
	catchUp, _ := sq.take()
	cold90, cycle90 := steady(90*24*time.Hour, b.TempDir())

	b.ReportMetric(float64(naive), "naive-samples/cycle")
	b.ReportMetric(float64(naiveQueries), "naive-queries/cycle")
	b.ReportMetric(float64(oneHour), "1h-window-samples")
	b.ReportMetric(float64(cycle28), "store-samples/cycle")
	b.ReportMetric(float64(cold28), "cold-build-samples")
	b.ReportMetric(float64(catchUp), "catchup-10m-samples")
	b.ReportMetric(float64(cycle90), "store-90d-samples/cycle")
	b.ReportMetric(float64(cold90), "cold-build-90d-samples")
	b.Logf("%d days: naive cycle %d samples (%d queries), 1h window alone %d; store cycle %d (%.2fx the 1h window), 90d store cycle %d (%+.1f%%); "+
		"cold build %d (90d: %d); catch-up after 10m down %d (%.2f%% of a naive cycle)",
		days, naive, naiveQueries, oneHour, cycle28, float64(cycle28)/float64(oneHour), cycle90, 100*(float64(cycle90)/float64(cycle28)-1),
		cold28, cold90, catchUp, 100*float64(catchUp)/float64(naive))
}
