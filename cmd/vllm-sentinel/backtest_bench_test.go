package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// BenchmarkBacktestVsPromtool replays 7 days at 1m steps of two 28d SLOs
// twice over the same Prometheus, side by side: with `vllm-sentinel
// backtest`, and with `promtool tsdb create-blocks-from rules` on what
// `rules export` writes for them, the way a rules-based setup would
// backfill the same week. It prints both wall and CPU times and their
// ratio. Run with
//
//	go test -run '^$' -bench BacktestVsPromtool -benchtime 1x -timeout 60m ./cmd/vllm-sentinel/
func BenchmarkBacktestVsPromtool(b *testing.B) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		b.Fatalf("promtool (Debian package prometheus): %v", err)
	}
	start := simtest.Start
	from, to := start.Add(24*time.Hour), start.Add(8*24*time.Hour)
	prom := simtest.Prometheus(b, sim.Config{Scenario: sim.ScenarioHealthy, Models: []string{"m1", "m2"}, Seed: 4}, start, to)
	dir := b.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`global: {evaluation_interval: 1m}
prometheus: {url: %s, timeout: 2m}
vllm: {group_by: [model_name]}
slos:
  - name: ttft
    sli: {latency: {metric: time_to_first_token, threshold: 1s}}
    objective: 99
    window: 28d
  - name: errors
    sli:
      ratio: {errors: 'vllm:request_success_total{finished_reason="error"}', total: 'vllm:request_success_total'}
    objective: 99.9
    window: 28d
`, prom.URL)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var out, errb bytes.Buffer
	rulesFile := filepath.Join(dir, "rules.yaml")
	if code := run(ctx, []string{"rules", "export", "--config", cfgFile, "--out", rulesFile}, &out, &errb); code != 0 {
		b.Fatalf("rules export: exit %d: %s", code, errb.String())
	}

	var sentinelWall, sentinelCPU time.Duration
	cpu0 := selfCPU()
	began := time.Now()
	out.Reset()
	errb.Reset()
	code := run(ctx, []string{"backtest", "--config", cfgFile, "--from", strconv.FormatInt(from.Unix(), 10), "--to", strconv.FormatInt(to.Unix(), 10), "--step", "1m", "--output", "json"}, &out, &errb)
	sentinelWall, sentinelCPU = time.Since(began), selfCPU()-cpu0
	if code != 0 {
		b.Fatalf("backtest: exit %d: %s", code, errb.String())
	}

	cmd := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "rules", "--quiet",
		"--start", strconv.FormatInt(from.Unix(), 10), "--end", strconv.FormatInt(to.Unix(), 10),
		"--url", prom.URL, "--eval-interval", "1m", "--output-dir", filepath.Join(dir, "blocks"), rulesFile)
	cmd.Stderr = &errb
	began = time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("promtool: %v: %s", err, errb.String())
	}
	promtoolWall := time.Since(began)
	promtoolCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()

	b.ReportMetric(sentinelWall.Seconds(), "sentinel-wall-s")
	b.ReportMetric(promtoolWall.Seconds(), "promtool-wall-s")
	b.ReportMetric(promtoolWall.Seconds()/sentinelWall.Seconds(), "speedup")
	b.Logf("7 days at 1m, 2 SLOs x 2 models: vllm-sentinel backtest %s wall (%s CPU in the sentinel), promtool create-blocks-from rules %s wall (%s CPU in promtool): %.1fx faster; "+
		"Prometheus's own CPU is not in either figure",
		sentinelWall.Round(time.Millisecond), sentinelCPU.Round(time.Millisecond), promtoolWall.Round(time.Millisecond), promtoolCPU.Round(time.Millisecond),
		promtoolWall.Seconds()/sentinelWall.Seconds())
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
