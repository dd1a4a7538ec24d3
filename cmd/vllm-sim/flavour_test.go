package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// A Prometheus asks for OpenMetrics first. The flavours that keep counters
// without _total or bounds as le="1" get the text format, in which
// client_golang writes them as they are; the others get OpenMetrics, with
// le="1.0" as vLLM's Python client writes it.
func TestHandlerFormatPerFlavour(t *testing.T) {
	start := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	for flavour, want := range map[string]struct{ contentType, line string }{
		sim.FlavourV1:    {"application/openmetrics-text", `vllm:time_to_first_token_seconds_bucket{engine="0",model_name="llama-3.1-8b",le="1.0"} `},
		sim.FlavourRay:   {"application/openmetrics-text", `ray_vllm:num_preemptions_total{engine="0",model_name="llama-3.1-8b"} `},
		sim.FlavourOTel:  {"text/plain", `vllm_num_preemptions{engine="0",model_name="llama-3.1-8b"} `},
		sim.FlavourRatio: {"text/plain", `vllm:time_to_first_token_seconds_bucket{engine="0",model_name="llama-3.1-8b",le="1"} `},
		sim.FlavourLLMD:  {"text/plain", `vllm:request_success_total{finish_reason="stop",model_name="llama-3.1-8b"} `},
	} {
		s, err := sim.New(sim.Config{Flavour: flavour}, start)
		if err != nil {
			t.Fatal(err)
		}
		now := start.Add(time.Minute)
		h := newHandler(s, modelClock{wallStart: start, modelStart: start, speed: 1, now: func() time.Time { return now }})
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, want.contentType) {
			t.Errorf("%s: Content-Type %q, want %s", flavour, ct, want.contentType)
		}
		if !strings.Contains(rec.Body.String(), "\n"+want.line) {
			t.Errorf("%s: no line %q in\n%.2000s", flavour, want.line, rec.Body.String())
		}
	}
}
