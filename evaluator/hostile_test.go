package evaluator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// hostileProm is an HTTP Prometheus that answers the metric-name probe
// truthfully and every other query with body, as a broken proxy or a
// broken backend would.
func hostileProm(t *testing.T, probe bool, body func(query string) string) Querier {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		q := form.Get("query")
		if q == "" {
			q = r.URL.Query().Get("query")
		}
		w.Header().Set("Content-Type", "application/json")
		if probe && strings.HasPrefix(q, "count by (__name__)") {
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[`+
				`{"metric":{"__name__":"vllm:time_to_first_token_seconds_count"},"value":[1,"1"]},`+
				`{"metric":{"__name__":"vllm:request_success_total"},"value":[1,"1"]}]}}`)
			return
		}
		fmt.Fprint(w, body(q))
	}))
	t.Cleanup(srv.Close)
	api, err := NewPrometheusAPI(ClientConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return NewAPIQuerier(api, nil)
}

// bucketAnswer answers the bound probe with real bounds and every window's
// bucket query with the given +Inf and le="1.0" values.
func bucketAnswer(inf, good string) func(string) string {
	return func(q string) string {
		if strings.HasPrefix(q, "count by (le)") {
			return `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"le":"1.0"},"value":[1,"1"]},{"metric":{"le":"+Inf"},"value":[1,"1"]}]}}`
		}
		return `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"model_name":"llama","le":"+Inf"},"value":[1,"` + inf + `"]},` +
			`{"metric":{"model_name":"llama","le":"1.0"},"value":[1,"` + good + `"]}]}}`
	}
}

func constant(body string) func(string) string { return func(string) string { return body } }

// A broken answer never crashes a cycle and is never read as healthy: an
// answer without data is Prometheus being unavailable (SentinelPrometheusDown
// after its for), numbers that are not counts fail the SLO
// (SentinelEvaluationFailing), and the SLO never shows ok.
func TestHostileAnswersNeverCrashNorLookHealthy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		probe bool
		body  func(string) string
		meta  string
		cause string
	}{
		{"success without data", true, constant(`{"status":"success"}`), AlertPrometheusDown, "success without data"},
		{"data null", true, constant(`{"status":"success","data":null}`), AlertPrometheusDown, "success without data"},
		{"null sample", true, constant(`{"status":"success","data":{"resultType":"vector","result":[null]}}`), AlertPrometheusDown, "null sample"},
		{"probe without data", false, constant(`{"status":"success"}`), AlertPrometheusDown, "success without data"},
		{"NaN counts", true, bucketAnswer("NaN", "NaN"), AlertEvaluationFailing, "not a finite, non-negative count"},
		{"infinite counts", true, bucketAnswer("+Inf", "5"), AlertEvaluationFailing, "not a finite, non-negative count"},
		{"negative counts", true, bucketAnswer("-100", "-150"), AlertEvaluationFailing, "negative count"},
		{"good above total", true, bucketAnswer("100", "900"), AlertEvaluationFailing, "negative count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sender := &recordingSender{}
			ev := New(hostileProm(t, tc.probe, tc.body), []*rules.SLO{compile(t, latencySpec(1, ""))}, nil, Options{})
			eng, err := NewEngine(ev, sender, EngineOptions{Interval: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			var rep *Report
			for i := 0; i <= 5; i++ {
				rep = eng.Cycle(context.Background(), at(time.Duration(i)*30*time.Second))
			}
			for _, r := range rep.SLOs {
				t.Errorf("the SLO was evaluated from a broken answer: %s %+v", r.State, r)
			}
			if len(rep.Errors) == 0 && rep.ProbeError == nil {
				t.Fatal("no error reported")
			}
			msg := fmt.Sprint(rep.ProbeError)
			for _, e := range rep.Errors {
				msg += " " + e.Error
			}
			if !strings.Contains(msg, tc.cause) {
				t.Errorf("errors %q do not say %q", msg, tc.cause)
			}
			if len(named(sender.take(), tc.meta)) == 0 {
				t.Errorf("%s was not sent", tc.meta)
			}
		})
	}
}
