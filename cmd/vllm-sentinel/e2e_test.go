package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/vllm-sentinel/vllm-sentinel/eventstore"
	"github.com/vllm-sentinel/vllm-sentinel/internal/poll"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
)

// buildDaemon compiles vllm-sentinel once per test binary run, so tests can
// kill -9 a real process.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "vllm-sentinel-e2e-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "vllm-sentinel")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func daemonBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// rates gives requests per second of each finished_reason at t.
type rates func(t time.Time) (stop, errors float64)

// writeSuccessHistory writes vllm:request_success_total for model llama from
// from to to at step, as OpenMetrics for promtool.
func writeSuccessHistory(t *testing.T, from, to time.Time, step time.Duration, r rates) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "success.om")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "# TYPE vllm:request_success counter")
	for _, reason := range []string{"stop", "error"} {
		total := 0.0
		for ts := from; !ts.After(to); ts = ts.Add(step) {
			stop, errs := r(ts)
			if reason == "stop" {
				total += stop * step.Seconds()
			} else {
				total += errs * step.Seconds()
			}
			fmt.Fprintf(w, "vllm:request_success_total{finished_reason=%q,model_name=\"llama\"} %g %s\n",
				reason, total, strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', 3, 64))
		}
	}
	fmt.Fprintln(w, "# EOF")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// hookRecorder is the webhook receiver behind Alertmanager: it records every
// notification Alertmanager sends.
type hookRecorder struct {
	mu   sync.Mutex
	msgs []hookMessage
}

type hookMessage struct {
	Status string `json:"status"`
	Alerts []struct {
		Status   string            `json:"status"`
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
	} `json:"alerts"`
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m hookMessage
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.msgs = append(h.msgs, m)
	h.mu.Unlock()
}

// pageNotifications lists the statuses Alertmanager sent for the 1h/5m page.
func (h *hookRecorder) pageNotifications() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, m := range h.msgs {
		for _, a := range m.Alerts {
			if a.Labels["alertname"] == "SLOBurnRate" && a.Labels["long_window"] == "1h" {
				out = append(out, a.Status)
			}
		}
	}
	return out
}

type daemonProc struct {
	cmd  *exec.Cmd
	addr string
	log  string
}

func startDaemon(t *testing.T, cfgFile, addr string) *daemonProc {
	t.Helper()
	return startDaemonArgs(t, cfgFile, addr)
}

// startDaemonArgs starts the daemon with more flags.
func startDaemonArgs(t *testing.T, cfgFile, addr string, args ...string) *daemonProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "sentinel.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemonBinary(t), append([]string{"run", "--config", cfgFile, "--web.listen-address", addr, "--log.format", "json"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{cmd: cmd, addr: addr, log: logPath}
	t.Cleanup(func() {
		d.kill()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("sentinel log %s:\n%s", addr, b)
		}
	})
	poll.Until(t, 20*time.Second, "sentinel healthy", func() bool {
		resp, err := http.Get("http://" + addr + "/-/healthy")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return d
}

func (d *daemonProc) kill() {
	if d.cmd.ProcessState == nil {
		_ = d.cmd.Process.Kill()
		_ = d.cmd.Wait()
	}
}

func (d *daemonProc) terminate(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("sentinel exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("sentinel did not stop on SIGTERM")
		d.kill()
	}
}

func activeAlerts(t *testing.T, am *promtest.Alertmanager, name string) models.GettableAlerts {
	t.Helper()
	var out models.GettableAlerts
	for _, a := range am.Alerts(t) {
		if a.Labels["alertname"] == name && *a.Status.State == "active" {
			out = append(out, a)
		}
	}
	return out
}

func writeConfig(t *testing.T, dir, promURL, amURL string) string {
	t.Helper()
	cfg := fmt.Sprintf(`global:
  evaluation_interval: 1s
  resend_interval: 2s
  external_labels: {cluster: e2e}
prometheus: {url: %s, timeout: 5s}
vllm: {group_by: [model_name]}
slos:
  - name: errors
    sli:
      ratio: {errors: 'vllm:request_success_total{finished_reason="error"}', total: 'vllm:request_success_total'}
    objective: 99
    window: 28d
    min_events: 10
    # The resolve path itself is under test: no damping.
    alerting: {keep_firing_for: 0s}
notifiers:
  - {name: am, type: alertmanager, urls: [%s]}
state: {path: %s}
`, promURL, amURL, dir)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type statusAlert struct {
	Labels  map[string]string `json:"labels"`
	State   string            `json:"state"`
	FiredAt time.Time         `json:"fired_at"`
}

func daemonAlerts(t *testing.T, addr string) []statusAlert {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Alerts []statusAlert `json:"alerts"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("status: %v: %s", err, b)
	}
	return st.Alerts
}

// Over a breach the daemon pages through a real Alertmanager; kill -9 and a
// restart neither resolve nor re-page; a second sentinel with the same config
// does not duplicate the alert; when the breach ends the resolve arrives.
func TestDaemonPagesSurvivesKillAndResolves(t *testing.T) {
	t.Parallel()
	// Build first: the history below is scripted against the wall clock,
	// and a cold build must not eat into the breach.
	daemonBinary(t)
	now := time.Now().Truncate(time.Second)
	// Errors only from 20 minutes ago until breachEnd; then a flood of good
	// requests clears the 5m window within seconds.
	breachEnd := now.Add(40 * time.Second)
	history := writeSuccessHistory(t, now.Add(-2*time.Hour), now.Add(15*time.Minute), 5*time.Second, func(ts time.Time) (float64, float64) {
		switch {
		case ts.Before(now.Add(-20 * time.Minute)):
			return 1, 0
		case ts.Before(breachEnd):
			return 0, 1
		default:
			return 100, 0
		}
	})
	prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: []string{history}})
	hook := &hookRecorder{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	am := promtest.StartAlertmanagerWithConfig(t, fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname, slo, model_name, long_window]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s
        send_resolved: true
`, srv.URL))

	dirA := t.TempDir()
	cfgA := writeConfig(t, dirA, prom.URL, am.URL)
	addrA := fmt.Sprintf("127.0.0.1:%d", promtest.FreePort(t))
	a := startDaemon(t, cfgA, addrA)

	var page models.GettableAlerts
	poll.Until(t, 20*time.Second, "the 1h/5m page in Alertmanager", func() bool {
		page = nil
		for _, al := range activeAlerts(t, am, "SLOBurnRate") {
			if al.Labels["long_window"] == "1h" {
				page = append(page, al)
			}
		}
		return len(page) == 1
	})
	want := map[string]string{"alertname": "SLOBurnRate", "slo": "errors", "severity": "critical", "slo_tier": "page",
		"long_window": "1h", "short_window": "5m", "model_name": "llama", "cluster": "e2e"}
	for k, v := range want {
		if page[0].Labels[k] != v {
			t.Errorf("label %s=%q, want %q (labels %v)", k, page[0].Labels[k], v, page[0].Labels)
		}
	}
	var firedAt time.Time
	for _, da := range daemonAlerts(t, addrA) {
		if da.Labels["long_window"] == "1h" && da.State == "firing" {
			firedAt = da.FiredAt
		}
	}
	startsAt := time.Time(*page[0].StartsAt)
	if firedAt.IsZero() || !startsAt.Equal(firedAt.Truncate(time.Millisecond)) {
		t.Fatalf("Alertmanager startsAt %s, sentinel fired at %s", startsAt, firedAt)
	}

	// kill -9 while the page fires, then restart on the same state.
	a.kill()
	b := startDaemon(t, cfgA, addrA)
	// A second sentinel with the same config (its own state) posts the same
	// alerts: Alertmanager must show one page, not two.
	dirC := t.TempDir()
	cfgC := writeConfig(t, dirC, prom.URL, am.URL)
	c := startDaemon(t, cfgC, fmt.Sprintf("127.0.0.1:%d", promtest.FreePort(t)))
	time.Sleep(3 * time.Second) // a few cycles and resends of both sentinels
	pages := 0
	for _, al := range activeAlerts(t, am, "SLOBurnRate") {
		if al.Labels["long_window"] == "1h" {
			pages++
			if !time.Time(*al.StartsAt).Equal(startsAt) {
				t.Errorf("startsAt changed across the restart: %s, was %s", time.Time(*al.StartsAt), startsAt)
			}
		}
	}
	if pages != 1 {
		t.Errorf("%d 1h/5m pages in Alertmanager, want 1", pages)
	}
	if time.Now().After(breachEnd) {
		t.Fatalf("the machine is too slow for this test: the scripted breach ended before the restart checks ran")
	}
	if got := hook.pageNotifications(); len(got) != 1 || got[0] != "firing" {
		t.Errorf("notifications before the breach ends: %v, want exactly one firing (no resolve, no second page)", got)
	}
	c.terminate(t)
	// Its graceful stop saved the event store: a restart would read only
	// the time it was down.
	if b, err := os.ReadFile(filepath.Join(dirC, "events", "errors.events")); err != nil {
		t.Errorf("event store after SIGTERM: %v", err)
	} else if _, err := eventstore.Decode(b); err != nil {
		t.Errorf("event store after SIGTERM: %v", err)
	}

	// The breach ends: the resolve reaches Alertmanager.
	poll.Until(t, time.Until(breachEnd)+60*time.Second, "the page to resolve", func() bool {
		for _, al := range activeAlerts(t, am, "SLOBurnRate") {
			if al.Labels["long_window"] == "1h" {
				return false
			}
		}
		return true
	})
	poll.Until(t, 10*time.Second, "the resolved notification", func() bool { return len(hook.pageNotifications()) == 2 })
	if got := hook.pageNotifications(); got[1] != "resolved" {
		t.Errorf("notifications: %v, want firing then resolved", got)
	}
	b.terminate(t)
}

// Over healthy data only the watchdog is posted; with Prometheus stopped
// SentinelPrometheusDown reaches Alertmanager and the daemon keeps running;
// when Prometheus is back the alert resolves.
func TestDaemonHealthyThenPrometheusDown(t *testing.T) {
	t.Parallel()
	daemonBinary(t)
	now := time.Now().Truncate(time.Second)
	history := writeSuccessHistory(t, now.Add(-2*time.Hour), now.Add(15*time.Minute), 5*time.Second, func(time.Time) (float64, float64) { return 5, 0 })
	prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: []string{history}})
	am := promtest.StartAlertmanager(t)
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", promtest.FreePort(t))
	d := startDaemon(t, writeConfig(t, dir, prom.URL, am.URL), addr)

	poll.Until(t, 20*time.Second, "the watchdog", func() bool { return len(activeAlerts(t, am, "SentinelWatchdog")) == 1 })
	poll.Until(t, 10*time.Second, "readiness", func() bool {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	time.Sleep(2 * time.Second)
	for _, a := range am.Alerts(t) {
		if a.Labels["alertname"] != "SentinelWatchdog" {
			t.Errorf("healthy data posted %v", a.Labels)
		}
	}

	prom.Stop()
	poll.Until(t, 30*time.Second, "SentinelPrometheusDown", func() bool { return len(activeAlerts(t, am, "SentinelPrometheusDown")) == 1 })
	if d.cmd.ProcessState != nil {
		t.Fatal("the daemon exited while Prometheus was down")
	}
	prom.Start(t)
	poll.Until(t, 30*time.Second, "SentinelPrometheusDown to resolve", func() bool { return len(activeAlerts(t, am, "SentinelPrometheusDown")) == 0 })
	d.terminate(t)
}

// rules export writes a file that promtool accepts and that, loaded into a
// real Prometheus, fires the same 1h/5m page over a breach.
func TestRulesExportFiresInPrometheus(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	history := writeSuccessHistory(t, now.Add(-2*time.Hour), now.Add(10*time.Minute), 5*time.Second, func(ts time.Time) (float64, float64) {
		if ts.Before(now.Add(-20 * time.Minute)) {
			return 1, 0
		}
		return 0, 1
	})
	dir := t.TempDir()
	cfgFile := writeConfig(t, dir, "http://127.0.0.1:9", "http://127.0.0.1:9")
	rulesFile := filepath.Join(dir, "rules.yaml")
	if code, _, errs := runCLI(t, "rules", "export", "--config", cfgFile, "--out", rulesFile); code != 0 {
		t.Fatalf("rules export: exit %d: %s", code, errs)
	}
	if out, err := exec.Command("promtool", "check", "rules", rulesFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: []string{history}, RuleFiles: []string{rulesFile},
		// The history reaches into the future; recorded series are written now.
		OutOfOrderTimeWindow: time.Hour})
	api := prom.API(t)
	poll.Until(t, 30*time.Second, "the exported 1h/5m page to fire in Prometheus", func() bool {
		alerts, err := api.Alerts(context.Background())
		if err != nil {
			return false
		}
		for _, a := range alerts.Alerts {
			if a.Labels["alertname"] == "SLOBurnRate" && a.Labels["long_window"] == "1h" && a.Labels["slo"] == "errors" &&
				a.Labels["model_name"] == "llama" && a.Labels["severity"] == "critical" && a.State == "firing" {
				return true
			}
		}
		return false
	})
}
