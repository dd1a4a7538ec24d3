package tracing

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// span writes one trace as Jaeger's /api/traces does.
func span(id, op string, start time.Time, model string, ttft any) map[string]any {
	return map[string]any{"traceID": id, "spans": []any{map[string]any{
		"traceID": id, "spanID": "s" + id, "operationName": op, "startTime": start.UnixMicro(), "duration": 2_000_000,
		"tags": []any{
			map[string]any{"key": AttrResponseModel, "type": "string", "value": model},
			map[string]any{"key": AttrTTFT, "type": "float64", "value": ttft},
			map[string]any{"key": AttrQueue, "type": "float64", "value": 1.5},
			map[string]any{"key": AttrPrefill, "type": "float64", "value": 0.2},
			map[string]any{"key": AttrDecode, "type": "float64", "value": 3.0},
		},
	}}}
}

// The query asks Jaeger for the service's llm_request spans of the model
// in the window, pre-filtered by duration; the answer is filtered on the
// TTFT attribute and ordered slowest first.
func TestSlowRequests(t *testing.T) {
	var query map[string][]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jaeger/api/traces" {
			http.NotFound(w, r)
			return
		}
		query = r.URL.Query()
		json.NewEncoder(w).Encode(map[string]any{"data": []any{
			span("a1", SpanName, t0.Add(-10*time.Minute), "llama", 2.5),
			span("b2", SpanName, t0.Add(-5*time.Minute), "llama", "4.0"), // a string, as some exporters send
			span("c3", SpanName, t0.Add(-5*time.Minute), "llama", 0.5),   // slow end to end, not before its first token
			span("d4", SpanName, t0.Add(-2*time.Hour), "llama", 9.0),     // before the window
			span("e5", "other", t0.Add(-time.Minute), "llama", 9.0),
			span("f6", SpanName, t0.Add(-time.Minute), "qwen", 9.0),
			span("g7", SpanName, t0.Add(-3*time.Minute), "llama", 3.0),
		}})
	}))
	defer srv.Close()
	j, err := NewJaeger(srv.URL+"/jaeger", "http://jaeger.example:16686/", "vllm", nil)
	if err != nil {
		t.Fatal(err)
	}
	trs, err := j.SlowRequests(context.Background(), Query{Model: "llama", Start: t0.Add(-time.Hour), End: t0, MinTTFT: 1, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"service": "vllm", "operation": SpanName, "minDuration": "1s", "limit": "40",
		"start": "1767265200000000", "end": "1767268800000000", "tags": `{"gen_ai.response.model":"llama"}`,
	} {
		if got := strings.Join(query[k], ","); got != want {
			t.Errorf("query %s = %q, want %q", k, got, want)
		}
	}
	if len(trs) != 2 || trs[0].TraceID != "b2" || trs[1].TraceID != "g7" {
		t.Fatalf("traces %+v, want b2 then g7", trs)
	}
	if tr := trs[0]; tr.TTFT != 4 || tr.Queue != 1.5 || tr.Prefill != 0.2 || tr.Decode != 3 ||
		tr.URL != "http://jaeger.example:16686/trace/b2" || !tr.Start.Equal(t0.Add(-5*time.Minute)) {
		t.Errorf("trace %+v", tr)
	}
}

func TestSlowRequestsErrors(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"status": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "storage down", http.StatusInternalServerError)
		},
		"not json": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			j, err := NewJaeger(srv.URL, "", "vllm", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := j.SlowRequests(context.Background(), Query{Start: t0.Add(-time.Hour), End: t0}); err == nil || !strings.Contains(err.Error(), "jaeger") {
				t.Fatalf("err = %v, want one naming jaeger", err)
			}
		})
	}
	if _, err := NewJaeger("localhost:16686", "", "vllm", nil); err == nil {
		t.Error("a URL without scheme was accepted")
	}
}
