package evaluator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
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
}

func (s *statsQuerier) Query(ctx context.Context, q string, ts time.Time) (model.Value, error) {
	form := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(ts.UnixNano())/1e9, 'f', 3, 64)}, "stats": {"all"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/api/v1/query", nil)
	if err != nil {
		return nil, err
	}
	req.URL.RawQuery = form.Encode()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
			Stats      struct {
				Samples struct {
					TotalQueryableSamples int64 `json:"totalQueryableSamples"`
				} `json:"samples"`
			} `json:"stats"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, body.Error)
	}
	s.samples.Add(body.Data.Stats.Samples.TotalQueryableSamples)
	s.queries.Add(1)
	switch body.Data.ResultType {
	case "vector":
		var v model.Vector
		err = json.Unmarshal(body.Data.Result, &v)
		return v, err
	case "scalar":
		var v model.Scalar
		err = json.Unmarshal(body.Data.Result, &v)
		return &v, err
	}
	return nil, fmt.Errorf("unexpected result type %s", body.Data.ResultType)
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
