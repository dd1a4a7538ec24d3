package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/internal/poll"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// lockedBuffer collects a concurrently running command's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeScrapedByPrometheus runs `vllm-sim serve`, has a real Prometheus
// scrape it for 30 seconds, checks that every family is stored, lints a
// scrape with promtool and shuts the server down as SIGTERM would.
func TestServeScrapedByPrometheus(t *testing.T) {
	t.Parallel()
	addr := fmt.Sprintf("127.0.0.1:%d", promtest.FreePort(t))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", addr, "--speed", "10", "--models", "a,b", "--engines", "2"}, io.Discard, &stderr)
	}()
	text := waitForMetrics(t, "http://"+addr+"/metrics", done, &stderr)

	// promtool check metrics: lint only, and only the colons every vLLM
	// metric name has.
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 3) {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !strings.HasSuffix(line, "metric names should not contain ':'") {
			t.Errorf("promtool check metrics: %s", line)
		}
	}

	began := time.Now()
	p := promtest.StartPrometheus(t, promtest.PrometheusOptions{ScrapeTargets: []string{addr}})
	p.WaitForTargets(t)
	select {
	case <-time.After(30*time.Second - time.Since(began)):
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	}
	api := p.API(t)
	v, _, _, err := api.Query(t.Context(), `count by (__name__) ({job="vllm", __name__=~"vllm:.+"})`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, s := range v.(model.Vector) {
		stored[string(s.Metric[model.MetricNameLabel])] = true
	}
	fams, err := sim.Families(sim.FlavourV1)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		want := []string{f.Name}
		if f.Type == "histogram" {
			want = []string{f.Name + "_bucket", f.Name + "_count", f.Name + "_sum"}
		}
		for _, w := range want {
			if !stored[w] {
				t.Errorf("Prometheus has no %s after 30s of scraping (has %v)", w, stored)
			}
		}
	}
	// OpenMetrics is negotiated, so bounds are stored as vLLM writes them.
	v, _, _, err = api.Query(t.Context(), `count(vllm:time_to_first_token_seconds_bucket{le="1.0"})`, time.Now())
	if err != nil || len(v.(model.Vector)) != 1 || v.(model.Vector)[0].Value != 4 {
		t.Errorf(`le="1.0" buckets: %v, %v; want 4 series`, v, err)
	}
	v, _, _, err = api.Query(t.Context(), `min(count_over_time(vllm:num_requests_running[30s]))`, time.Now())
	if err != nil || len(v.(model.Vector)) != 1 || v.(model.Vector)[0].Value < 20 {
		t.Errorf("samples per series over 30s: %v, %v", v, err)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("serve exited %d after shutdown: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s of the signal")
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Errorf("no shutdown log: %s", stderr.String())
	}
}

func waitForMetrics(t *testing.T, url string, done <-chan int, stderr *lockedBuffer) string {
	t.Helper()
	var body string
	var lastErr error
	exited := -1
	err := poll.Wait(10*time.Second, 50*time.Millisecond, func() bool {
		select {
		case exited = <-done:
			return true
		default:
		}
		resp, err := http.Get(url)
		if lastErr = err; err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return false
		}
		body = string(b)
		return true
	})
	switch {
	case exited >= 0:
		t.Fatalf("serve exited %d: %s", exited, stderr.String())
	case err != nil:
		t.Fatalf("no /metrics at %s: %v\n%s", url, lastErr, stderr.String())
	}
	return body
}

// TestHandlerDuringRestart: the simulated outage answers 503, then metrics
// come back with counters reset.
func TestHandlerDuringRestart(t *testing.T) {
	start := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	s, err := sim.New(sim.Config{Scenario: sim.ScenarioRestart, IncidentAt: time.Minute}, start)
	if err != nil {
		t.Fatal(err)
	}
	now := start
	clock := modelClock{wallStart: start, modelStart: start, speed: 1, now: func() time.Time { return now }}
	h := newHandler(s, clock)
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	now = start.Add(50 * time.Second)
	if rec := get("/metrics"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "vllm:request_success_total") {
		t.Fatalf("before the restart: %d", rec.Code)
	}
	now = start.Add(70 * time.Second)
	if rec := get("/metrics"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("during the outage: %d, want 503", rec.Code)
	}
	now = start.Add(95 * time.Second)
	if rec := get("/metrics"); rec.Code != http.StatusOK {
		t.Fatalf("after the outage: %d", rec.Code)
	}
	if rec := get("/"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "scenario restart") {
		t.Fatalf("index: %d %q", rec.Code, rec.Body.String())
	}
	if rec := get("/nope"); rec.Code != http.StatusNotFound {
		t.Fatalf("/nope: %d", rec.Code)
	}
}
