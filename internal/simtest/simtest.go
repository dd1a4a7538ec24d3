// Package simtest gives integration tests a real Prometheus holding a
// vllm-sim scenario's history.
package simtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// Start is a fixed, whole-day start time for backfills, so tests are
// deterministic and scenarios' diurnal curves line up.
var Start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday

// Backfill writes cfg's history from start to end as OpenMetrics and returns
// the file. Series get job="vllm" and an instance label, as a scrape would,
// unless cfg sets its own TargetLabels.
func Backfill(t testing.TB, cfg sim.Config, start, end time.Time) string {
	t.Helper()
	if cfg.TargetLabels == nil {
		cfg.TargetLabels = map[string]string{"job": "vllm", "instance": "vllm-sim:8000"}
	}
	path := filepath.Join(t.TempDir(), "history.om")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	st, err := sim.WriteOpenMetrics(context.Background(), f, cfg, start, end)
	if err != nil {
		f.Close()
		t.Fatalf("simulate %s: %v", cfg.Scenario, err)
	}
	t.Logf("simulated %s over %s: %d samples, %d bytes in %s", cfg.Scenario, end.Sub(start), st.Samples, st.Bytes, time.Since(began).Round(time.Millisecond))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Prometheus starts a real Prometheus over cfg's history from start to end.
func Prometheus(t testing.TB, cfg sim.Config, start, end time.Time) *promtest.Prometheus {
	t.Helper()
	file := Backfill(t, cfg, start, end)
	began := time.Now()
	p := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: []string{file}})
	t.Logf("backfilled and started Prometheus in %s", time.Since(began).Round(time.Millisecond))
	return p
}
