package evaluator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// answerTransport answers every request with the same body, in memory.
type answerTransport struct {
	status int
	body   []byte
}

func (a answerTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(a.body))}, nil
}

var answerSeeds = []string{
	`{"status":"success"}`,
	`{"status":"success","data":null}`,
	`{"status":"success","data":{"resultType":"vector","result":[null]}}`,
	`{"status":"success","data":{"resultType":"vector","result":[]}}`,
	`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"le":"+Inf","model_name":"m"},"value":[1,"NaN"]}]}}`,
	`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"le":"1.0"},"value":[1,"-5"]},{"metric":{"le":"+Inf"},"value":[1,"+Inf"]}]}}`,
	`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__sentinel_part":"errors"},"value":[1,"9"]},{"metric":{"__sentinel_part":"total"},"value":[1,"1"]}]}}`,
	`{"status":"success","data":{"resultType":"matrix","result":[null]}}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}`,
	`{"status":"success","data":{"resultType":"string","result":null}}`,
	`{"status":"error","errorType":"bad_data","error":"parse error"}`,
	`<html>502 Bad Gateway</html>`,
	``,
	`{"status":"success","data":{"resultType":"vector","result":[{"metric":null,"value":null}]}}`,
}

// Whatever a Prometheus (or what stands in front of it) answers, an
// evaluation neither panics nor reports a number that is not finite, and
// its report encodes as JSON.
func FuzzPrometheusAnswer(f *testing.F) {
	for _, s := range answerSeeds {
		f.Add(200, []byte(s))
	}
	f.Add(503, []byte(`{"status":"error","errorType":"unavailable","error":"down"}`))
	p := rules.NewPromQL()
	obj, _ := rules.ParseObjective("99")
	latency, err := rules.Compile(p, latencySpec(1, ""), rules.Defaults{GroupBy: []string{"model_name"}})
	if err != nil {
		f.Fatal(err)
	}
	ratio, err := rules.Compile(p, rules.SLOSpec{Name: "errors", Objective: obj, Window: rules.Duration(28 * 24 * time.Hour),
		SLI: rules.SLISpec{Ratio: &rules.RatioSLI{Errors: `vllm:request_success_total{finished_reason="error"}`, Total: `vllm:request_success_total`}}},
		rules.Defaults{GroupBy: []string{"model_name"}})
	if err != nil {
		f.Fatal(err)
	}
	th := rules.Seconds(2.5)
	var inds []*rules.Indicator
	for _, spec := range []rules.IndicatorSpec{{Name: "q", Kind: rules.KindQueueGrowth}, {Name: "kv", Kind: rules.KindKVCachePressure},
		{Name: "p99", Kind: rules.KindLatencyPercentile, Metric: "time_to_first_token", Percentile: 99, Threshold: &th}} {
		in, err := rules.CompileIndicator(p, spec, rules.Defaults{})
		if err != nil {
			f.Fatal(err)
		}
		inds = append(inds, in)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			status = 200
		}
		c, err := api.NewClient(api.Config{Address: "http://prometheus.invalid", RoundTripper: answerTransport{status, body}})
		if err != nil {
			t.Fatal(err)
		}
		ev := New(NewAPIQuerier(v1.NewAPI(c), nil), []*rules.SLO{latency, ratio}, inds, Options{})
		eng, err := NewEngine(ev, nil, EngineOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rep := eng.Cycle(context.Background(), time.Unix(1e9, 0))
		for _, r := range rep.SLOs {
			for _, w := range append(append([]WindowResult(nil), r.Windows...), r.Budget) {
				for _, v := range []*float64{w.ErrorRatio, w.BurnRate, &w.Events} {
					if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
						t.Fatalf("non-finite figure in %s %s: %+v", r.SLO, w.Window, w)
					}
				}
			}
			if r.BudgetRemaining != nil && (math.IsNaN(*r.BudgetRemaining) || math.IsInf(*r.BudgetRemaining, 0)) {
				t.Fatalf("non-finite budget: %v", *r.BudgetRemaining)
			}
		}
		if _, err := json.Marshal(rep); err != nil {
			t.Fatalf("report does not encode: %v", err)
		}
	})
}

// Whatever is in the state file, loading it neither panics nor refuses to
// start; what loads restores and sends without panicking.
func FuzzStateFile(f *testing.F) {
	for _, s := range []string{
		`{"version": 1, "saved_at": "2026-01-01T00:00:00Z", "rules": {"slo:ttft": [{"labels": {"alertname": "A"}, "state": "firing", "active_at": "2026-01-01T00:00:00Z", "fired_at": "2026-01-01T00:00:00Z", "last_seen_at": "2026-01-01T00:00:00Z", "value": "NaN"}]}}`,
		`{"version": 1, "rules": {"slo:ttft": [null]}}`,
		`{"version": 1, "rules": {"x": [{"labels": {"a": "b"}, "state": "inactive", "resolved_at": "2026-01-01T00:00:00Z"}]}}`,
		`{"version": 1, "rules": {"slo:ttft": [{"labels": {"alertname": "A"}, "state": "pending", "active_at": "0001-01-01T00:00:00Z"}]}}`,
		`{"version": 2}`, `[]`, `null`, ``, "\x00\xff", `{"version": 1, "rules": {"slo:ttft": [{"state": `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "alerts.json"), content, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := NewStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		ts := time.Unix(1.8e9, 0)
		sf, err := st.Load(ts)
		if err != nil && !strings.Contains(err.Error(), "corrupt state file") {
			t.Fatalf("a damaged file is not reported as corrupt: %v", err)
		}
		for _, alerts := range sf.Rules {
			s := NewAlertSet(Timing{For: time.Minute, KeepFiringFor: time.Minute})
			s.Restore(ts, alerts, sf.SavedAt, time.Hour)
			s.Update(ts.Add(time.Minute), nil)
			s.Due(ts.Add(time.Minute), time.Minute, time.Minute, "http://x/")
		}
	})
}
