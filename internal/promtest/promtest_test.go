package promtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// t0 starts two hours of history, one sample a minute.
func t0() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// tFuture holds one more sample per series, far from the history and after
// any plausible wall clock, to show that future blocks load and stay
// invisible to queries before them.
func tFuture() time.Time { return time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC) }

const historyMinutes = 120

// writeHistory writes an OpenMetrics file with, for minute i of the history:
//   - gauge vllm:num_requests_waiting = i
//   - counter vllm:request_success_total = 10*i
//   - histogram vllm:time_to_first_token_seconds with three observations a
//     minute (0.05s, 0.5s, 2s): buckets le="0.1" = i, le="1.0" = 2i,
//     le="+Inf" = 3i
//
// and at tFuture the gauge at 999 and the counter at 5000.
func writeHistory(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	ts := func(tm time.Time) string { return strconv.FormatInt(tm.Unix(), 10) }
	minute := func(i int) time.Time { return t0().Add(time.Duration(i) * time.Minute) }
	const labels = `{model_name="m"}`

	b.WriteString("# HELP vllm:num_requests_waiting Requests waiting to be processed.\n")
	b.WriteString("# TYPE vllm:num_requests_waiting gauge\n")
	for i := range historyMinutes + 1 {
		fmt.Fprintf(&b, "vllm:num_requests_waiting%s %d %s\n", labels, i, ts(minute(i)))
	}
	fmt.Fprintf(&b, "vllm:num_requests_waiting%s 999 %s\n", labels, ts(tFuture()))

	b.WriteString("# HELP vllm:request_success Finished requests.\n")
	b.WriteString("# TYPE vllm:request_success counter\n")
	for i := range historyMinutes + 1 {
		fmt.Fprintf(&b, "vllm:request_success_total%s %d %s\n", labels, 10*i, ts(minute(i)))
	}
	fmt.Fprintf(&b, "vllm:request_success_total%s 5000 %s\n", labels, ts(tFuture()))

	b.WriteString("# HELP vllm:time_to_first_token_seconds Time to first token.\n")
	b.WriteString("# TYPE vllm:time_to_first_token_seconds histogram\n")
	for i := range historyMinutes + 1 {
		at := ts(minute(i))
		fmt.Fprintf(&b, "vllm:time_to_first_token_seconds_bucket{model_name=\"m\",le=\"0.1\"} %d %s\n", i, at)
		fmt.Fprintf(&b, "vllm:time_to_first_token_seconds_bucket{model_name=\"m\",le=\"1.0\"} %d %s\n", 2*i, at)
		fmt.Fprintf(&b, "vllm:time_to_first_token_seconds_bucket{model_name=\"m\",le=\"+Inf\"} %d %s\n", 3*i, at)
		fmt.Fprintf(&b, "vllm:time_to_first_token_seconds_count%s %d %s\n", labels, 3*i, at)
		fmt.Fprintf(&b, "vllm:time_to_first_token_seconds_sum%s %s %s\n", labels,
			strconv.FormatFloat(2.55*float64(i), 'g', -1, 64), at)
	}
	b.WriteString("# EOF\n")

	path := filepath.Join(t.TempDir(), "history.om")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// queryCase is an instant query at a fixed time and its single result;
// empty means no series.
type queryCase struct {
	name  string
	query string
	at    time.Time
	want  float64
	empty bool
	// delta allows for floating-point interpolation; zero means exact.
	delta float64
}

func historyCases() []queryCase {
	return []queryCase{
		{name: "gauge at a sample", query: `vllm:num_requests_waiting`, at: t0().Add(10 * time.Minute), want: 10},
		{
			name:  "gauge between samples sees only the earlier one",
			query: `vllm:num_requests_waiting`, at: t0().Add(90 * time.Second), want: 1,
		},
		{
			name:  "gauge before the first sample",
			query: `vllm:num_requests_waiting`, at: t0().Add(-time.Second), empty: true,
		},
		{
			name:  "gauge after the history and its lookback, before the future sample",
			query: `vllm:num_requests_waiting`, at: t0().Add(2*time.Hour + 10*time.Minute), empty: true,
		},
		{name: "gauge at the future sample", query: `vllm:num_requests_waiting`, at: tFuture(), want: 999},
		{name: "gauge just before the future sample", query: `vllm:num_requests_waiting`, at: tFuture().Add(-time.Minute), empty: true},
		{
			name:  "counter increase over a range with samples on both edges",
			query: `increase(vllm:request_success_total[30m])`, at: t0().Add(time.Hour), want: 300,
		},
		{name: "counter at the future sample", query: `vllm:request_success_total`, at: tFuture(), want: 5000},
		{
			name:  "histogram bucket increase",
			query: `sum by (le) (increase(vllm:time_to_first_token_seconds_bucket{le="1.0"}[1h]))`,
			at:    t0().Add(2 * time.Hour), want: 120,
		},
		{
			// Prometheus 2.x keeps le as written; 3.x would normalise "1.0".
			name:  "le is matched as a string",
			query: `vllm:time_to_first_token_seconds_bucket{le="1"}`, at: t0().Add(time.Hour), empty: true,
		},
		{
			name:  "histogram median interpolates inside the (0.1, 1.0] bucket",
			query: `histogram_quantile(0.5, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket[1h])))`,
			at:    t0().Add(2 * time.Hour), want: 0.55, delta: 1e-9,
		},
	}
}

func checkQueries(t *testing.T, promAPI v1.API, cases []queryCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			v, warnings, _, err := promAPI.Query(ctx, tc.query, tc.at)
			if err != nil {
				t.Fatalf("query %q at %s: %v", tc.query, tc.at, err)
			}
			if len(warnings) > 0 {
				t.Errorf("query %q: warnings %v", tc.query, warnings)
			}
			vec, ok := v.(model.Vector)
			if !ok {
				t.Fatalf("query %q: got %s, want a vector", tc.query, v.Type())
			}
			if tc.empty {
				if len(vec) != 0 {
					t.Fatalf("query %q at %s: got %v, want no series", tc.query, tc.at, vec)
				}
				return
			}
			if len(vec) != 1 {
				t.Fatalf("query %q at %s: got %d series %v, want 1", tc.query, tc.at, len(vec), vec)
			}
			if got := vec[0].Timestamp.Time(); !got.Equal(tc.at) {
				t.Errorf("query %q: sample time %s, want %s", tc.query, got, tc.at)
			}
			got := float64(vec[0].Value)
			if math.Abs(got-tc.want) > tc.delta {
				t.Errorf("query %q at %s = %v, want %v", tc.query, tc.at, got, tc.want)
			}
		})
	}
}

func TestPrometheusBackfillPastAndFuture(t *testing.T) {
	t.Parallel()
	prom := StartPrometheus(t, PrometheusOptions{OpenMetrics: []string{writeHistory(t)}})
	checkQueries(t, prom.API(t), historyCases())
}

func TestPrometheusRestartKeepsData(t *testing.T) {
	t.Parallel()
	prom := StartPrometheus(t, PrometheusOptions{OpenMetrics: []string{writeHistory(t)}})
	promAPI := prom.API(t)
	cases := historyCases()
	checkQueries(t, promAPI, cases)

	pid := prom.srv.proc.cmd.Process.Pid
	prom.Stop()
	prom.Stop() // idempotent
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("prometheus pid %d after Stop: kill(0) = %v, want ESRCH", pid, err)
	}
	if resp, err := http.Get(prom.URL + "/-/ready"); err == nil {
		resp.Body.Close()
		t.Fatalf("prometheus still answers on %s after Stop: %s", prom.URL, resp.Status)
	}

	url := prom.URL
	prom.Start(t)
	if prom.URL != url {
		t.Fatalf("URL after restart = %s, want %s", prom.URL, url)
	}
	checkQueries(t, promAPI, cases)
}

func TestPrometheusScrapesTargets(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=\"m\"} 7\n")
	}))
	t.Cleanup(target.Close)

	prom := StartPrometheus(t, PrometheusOptions{ScrapeTargets: []string{target.Listener.Addr().String()}})
	prom.WaitForTargets(t)

	v, _, _, err := prom.API(t).Query(t.Context(), `vllm:num_requests_running{job="vllm"}`, time.Now())
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	vec, ok := v.(model.Vector)
	if !ok || len(vec) != 1 || vec[0].Value != 7 {
		t.Fatalf("scraped value = %v, want one sample of 7", v)
	}
}

func TestAlertmanagerPostAndGet(t *testing.T) {
	t.Parallel()
	am := StartAlertmanager(t)

	// The API keeps millisecond precision.
	startsAt := time.Now().Add(-5 * time.Minute).Truncate(time.Millisecond).UTC()
	labels := models.LabelSet{
		"alertname":  "VLLMTimeToFirstTokenBudgetBurn",
		"severity":   "page",
		"model_name": "m",
	}
	params := alert.NewPostAlertsParamsWithContext(t.Context()).WithAlerts(models.PostableAlerts{{
		Alert: models.Alert{
			Labels:       labels,
			GeneratorURL: "http://sentinel.example:9105/",
		},
		Annotations: models.LabelSet{"summary": "TTFT burning budget"},
		StartsAt:    strfmt.DateTime(startsAt),
		EndsAt:      strfmt.DateTime(startsAt.Add(time.Hour)),
	}})
	if _, err := am.Client().Alert.PostAlerts(params); err != nil {
		t.Fatalf("post alerts: %v", err)
	}

	alerts := am.Alerts(t)
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts, want 1: %v", len(alerts), alerts)
	}
	got := alerts[0]
	if !maps.Equal(got.Labels, labels) {
		t.Errorf("labels = %v, want %v", got.Labels, labels)
	}
	if got.StartsAt == nil || !time.Time(*got.StartsAt).Equal(startsAt) {
		t.Errorf("startsAt = %v, want %s", got.StartsAt, startsAt)
	}
	if got.Annotations["summary"] != "TTFT burning budget" {
		t.Errorf("annotations = %v", got.Annotations)
	}

	// Alerts live in memory only, so a restart forgets them.
	am.Stop()
	am.Start(t)
	if alerts := am.Alerts(t); len(alerts) != 0 {
		t.Errorf("after restart: got %d alerts, want none", len(alerts))
	}
}

func TestBackfillErrorIncludesPromtoolOutput(t *testing.T) {
	t.Parallel()
	promtool := promtoolBinary().mustPath(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "no-eof.om")
	if err := os.WriteFile(file, []byte("# TYPE g gauge\ng 1 1767225600\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := backfill(t.Context(), promtool, file, filepath.Join(dir, "data"), DefaultMaxBlockDuration)
	if err == nil || !strings.Contains(err.Error(), "data does not end with # EOF") {
		t.Fatalf("backfill without # EOF: err = %v, want promtool's complaint", err)
	}
}

func TestFailedStartIncludesLogTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &server{
		name:    "prometheus",
		bin:     prometheusBinary().mustPath(t),
		args:    []string{"--no-such-flag"},
		addr:    fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		logPath: filepath.Join(dir, "prometheus.log"),
	}
	defer s.stop()
	err := s.start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("start with a bad flag: err = %v, want the log tail naming the flag", err)
	}
}

func TestStartOnTakenPortIsRetryable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	dir := t.TempDir()
	config := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(config, []byte(DefaultAlertmanagerConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &server{
		name: "alertmanager",
		bin:  alertmanagerBinary().mustPath(t),
		args: []string{
			"--config.file=" + config, "--storage.path=" + dir,
			"--web.listen-address=" + l.Addr().String(), "--cluster.listen-address=",
		},
		addr:    l.Addr().String(),
		logPath: filepath.Join(dir, "alertmanager.log"),
	}
	defer s.stop()
	if err := s.start(t.Context()); !errors.Is(err, errAddrInUse) {
		t.Fatalf("start on a taken port: err = %v, want errAddrInUse", err)
	}
}

func TestMissingBinaryNamesPackage(t *testing.T) {
	t.Parallel()
	_, err := binary{names: []string{"promtest-no-such-binary"}, pkg: "promtest-pkg"}.path()
	if err == nil || !strings.Contains(err.Error(), "promtest-no-such-binary") ||
		!strings.Contains(err.Error(), "apt-get install promtest-pkg") {
		t.Fatalf("err = %v, want the binary and the package named", err)
	}
}

func TestMergeArgs(t *testing.T) {
	t.Parallel()
	defaults := []string{"--a=1", "--b=2", "--c=3"}
	tests := map[string]struct {
		extra []string
		want  []string
	}{
		"none":             {extra: nil, want: []string{"--a=1", "--b=2", "--c=3"}},
		"override = form":  {extra: []string{"--b=9"}, want: []string{"--a=1", "--c=3", "--b=9"}},
		"override spaced":  {extra: []string{"--c", "9"}, want: []string{"--a=1", "--b=2", "--c", "9"}},
		"new flag appends": {extra: []string{"--d=4"}, want: []string{"--a=1", "--b=2", "--c=3", "--d=4"}},
		"prefix not taken": {extra: []string{"--aa=5"}, want: []string{"--a=1", "--b=2", "--c=3", "--aa=5"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := mergeArgs(defaults, tc.extra)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("mergeArgs(%v, %v) = %v, want %v", defaults, tc.extra, got, tc.want)
			}
		})
	}
}
