package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
)

// Whatever request reaches the HTTP API, it answers without panicking, and
// a reload happens only for a request no cross-site page could have sent.
func FuzzHandler(f *testing.F) {
	for _, s := range [][5]string{
		{"GET", "/", "", "", ""},
		{"GET", "/api/v1/status", "", "", ""},
		{"POST", "/-/reload", "", "", ""},
		{"POST", "/-/reload", "application/x-www-form-urlencoded", "https://evil.example", "cross-site"},
		{"POST", "/-/reload", "text/plain", "", ""},
		{"POST", "/-/reload", "application/json", "null", "same-origin"},
		{"PUT", "/-/ready", "", "", ""},
		{"GET", "/%zz", "", "", "none"},
		{"POST", "/-/reload", "multipart/form-data; boundary=x", "http://example.com", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], "body")
	}
	p, err := NewPage()
	if err != nil {
		f.Fatal(err)
	}
	src := fakeSource{hist: []*evaluator.Report{{}}}
	f.Fuzz(func(t *testing.T, method, path, contentType, origin, site, body string) {
		reloaded := false
		h := Handler(Options{Source: func() Source { return src }, Page: p, Prometheus: func() string { return "" },
			Reload: func(context.Context) error { reloaded = true; return nil }})
		req, err := http.NewRequest(method, "http://example.com/", strings.NewReader(body))
		if err != nil {
			return
		}
		req.URL.Path = "/" + strings.TrimPrefix(path, "/")
		req.Host = "example.com"
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", site)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if reloaded && crossSite(req) != "" {
			t.Fatalf("reloaded on a cross-site request: %q %q %q", contentType, origin, site)
		}
	})
}
