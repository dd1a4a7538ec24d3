package web

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
)

func handler(t *testing.T, src Source, reloads *int) http.Handler {
	t.Helper()
	p, err := NewPage()
	if err != nil {
		t.Fatal(err)
	}
	return Handler(Options{Source: func() Source { return src }, Page: p, Version: "1.0",
		Prometheus: func() string { return "http://prom:9090" },
		Reload:     func(context.Context) error { *reloads++; return nil }})
}

// A page on another site cannot make a visitor's browser reload the
// sentinel: the lifecycle API refuses what a cross-site form or fetch sends,
// and takes what curl sends.
func TestReloadRefusesCrossSiteRequests(t *testing.T) {
	reloads := 0
	h := handler(t, fakeSource{hist: []*evaluator.Report{{}}}, &reloads)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"curl", nil, http.StatusOK},
		{"same origin fetch", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com", "Content-Type": "application/json"}, http.StatusOK},
		{"cross-site form", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"form without fetch metadata", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusForbidden},
		{"text/plain form", map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, http.StatusForbidden},
		{"other origin", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"same-site", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "http://example.com/-/reload", strings.NewReader(""))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			before := reloads
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if reloaded := reloads > before; reloaded != (tc.want == http.StatusOK) {
				t.Errorf("reloaded: %v", reloaded)
			}
		})
	}
}

// A status JSON cannot hold is a 500 that says why, never a 200 with an
// empty body.
func TestStatusThatCannotBeEncodedIsAnError(t *testing.T) {
	nan := math.NaN()
	reloads := 0
	h := handler(t, fakeSource{hist: []*evaluator.Report{{SLOs: []evaluator.SLOResult{{SLO: "ttft", BudgetRemaining: &nan}}}}}, &reloads)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/status", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "cannot encode") {
		t.Errorf("status %d: %q", rec.Code, rec.Body)
	}
}
