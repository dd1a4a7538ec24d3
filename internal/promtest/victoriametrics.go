package promtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// VictoriaMetricsVersion is the VictoriaMetrics version make deps builds
// with go install.
const VictoriaMetricsVersion = "v1.151.0"

// VictoriaMetricsBinary is single-node VictoriaMetrics, as
// scripts/install-deps.sh builds it into the tools cache (see ToolsDir). A
// missing one fails the test with the command that builds it.
func VictoriaMetricsBinary(t testing.TB) string {
	t.Helper()
	p := filepath.Join(ToolsDir(), "victoria-metrics-"+VictoriaMetricsVersion, "victoria-metrics")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("promtest: VictoriaMetrics %s not found at %s: run make deps (scripts/install-deps.sh) to build it", VictoriaMetricsVersion, p)
	}
	return p
}

// VictoriaMetricsOptions configures StartVictoriaMetrics.
type VictoriaMetricsOptions struct {
	// OpenMetrics files are imported through the HTTP API (see Import)
	// once the server is ready.
	OpenMetrics []string
	// ExtraArgs are appended to the command line; a flag given here
	// replaces the harness's own.
	ExtraArgs []string
}

// VictoriaMetrics is a running single-node VictoriaMetrics on 127.0.0.1. It
// serves the Prometheus query API (answered in MetricsQL) at URL.
type VictoriaMetrics struct {
	URL     string
	DataDir string

	srv server
	// invalid is the count of refused import lines so far, so that each
	// Import reports only its own.
	invalid float64
}

// StartVictoriaMetrics starts VictoriaMetrics on a free port, imports
// opts.OpenMetrics and stops it when the test ends.
//
// Retention is a century, as for Prometheus (DefaultRetention): the stock
// month would refuse backfilled history dated further back. The response
// cache is off, because imported history lands inside ranges it may have
// cached as empty.
func StartVictoriaMetrics(t testing.TB, opts VictoriaMetricsOptions) *VictoriaMetrics {
	t.Helper()
	bin := VictoriaMetricsBinary(t)
	dir := t.TempDir()
	vm := &VictoriaMetrics{
		DataDir: filepath.Join(dir, "data"),
		srv:     server{name: "victoria-metrics", bin: bin, logPath: filepath.Join(dir, "victoria-metrics.log")},
	}
	vm.srv.cleanup(t)
	// Go's flag package, which VictoriaMetrics uses, takes --name=value as
	// well as -name=value; the former is what mergeArgs understands.
	err := vm.srv.startWithFreePort(t.Context(), func(addr string) []string {
		return mergeArgs([]string{
			"--storageDataPath=" + vm.DataDir,
			"--httpListenAddr=" + addr,
			"--retentionPeriod=100y",
			"--search.disableCache",
			"--loggerLevel=WARN",
		}, opts.ExtraArgs)
	})
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	vm.URL = vm.srv.url()
	for _, f := range opts.OpenMetrics {
		vm.Import(t, f)
	}
	return vm
}

// API returns a client for the Prometheus-compatible query API.
func (vm *VictoriaMetrics) API(t testing.TB) v1.API {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: vm.URL})
	if err != nil {
		t.Fatalf("promtest: victoria-metrics API client for %s: %v", vm.URL, err)
	}
	return v1.NewAPI(c)
}

// Import loads an OpenMetrics file with timestamps (as vllm-sim backfill
// writes it for promtool) through /api/v1/import/prometheus, and flushes it
// so that queries see it at once. That endpoint reads the exposition format
// and takes a timestamp below 2^31 for OpenMetrics seconds rather than
// milliseconds, so the file goes in unchanged.
func (vm *VictoriaMetrics) Import(t testing.TB, openMetricsFile string) {
	t.Helper()
	if err := vm.importFile(t.Context(), openMetricsFile); err != nil {
		t.Fatalf("promtest: %v\n%s", err, vm.srv.logTailMessage())
	}
}

func (vm *VictoriaMetrics) importFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import into victoria-metrics: %w", err)
	}
	defer f.Close()
	if err := vm.post(ctx, "/api/v1/import/prometheus", f); err != nil {
		return fmt.Errorf("import %s into victoria-metrics: %w", path, err)
	}
	// A line it cannot parse is logged and skipped, and the import still
	// answers 204: only its counter tells.
	invalid, err := vm.counter(ctx, invalidLinesMetric)
	if err != nil {
		return fmt.Errorf("import %s into victoria-metrics: %w", path, err)
	}
	if n := invalid - vm.invalid; n > 0 {
		vm.invalid = invalid
		return fmt.Errorf("import %s into victoria-metrics: %v lines refused (%s; the lines are in its log)", path, n, invalidLinesMetric)
	}
	// Fresh samples sit in memory for up to a second before searches see
	// them.
	if err := vm.post(ctx, "/internal/force_flush", nil); err != nil {
		return fmt.Errorf("flush victoria-metrics after importing %s: %w", path, err)
	}
	return nil
}

// invalidLinesMetric counts the exposition lines VictoriaMetrics refused.
const invalidLinesMetric = `vm_rows_invalid_total{type="prometheus"}`

// counter reads one sample, named exactly as written, from
// VictoriaMetrics's own /metrics; a counter not written yet is zero.
func (vm *VictoriaMetrics) counter(ctx context.Context, series string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, vm.URL+"/metrics", nil)
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("GET /metrics: %s: %w", series, err)
			}
			return f, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("GET /metrics: %w", err)
	}
	return 0, nil
}

func (vm *VictoriaMetrics) post(ctx context.Context, path string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, vm.URL+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, logTailBytes))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, msg)
	}
	return nil
}
