package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/internal/poll"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
)

// `vllm-sentinel run | tee log` with tee gone: the daemon keeps evaluating
// and still shuts down gracefully on SIGTERM, saving its state, rather than
// dying of SIGPIPE at its next log line.
func TestDaemonOutlivesItsLogReader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Prometheus and Alertmanager unreachable: every cycle logs.
	cfgFile := writeConfig(t, dir, "http://127.0.0.1:9", "http://127.0.0.1:9")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemonBinary(t), "run", "--config", cfgFile, "--web.listen-address", freeAddr(t))
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	if _, err := bufio.NewReader(r).ReadString('\n'); err != nil {
		t.Fatalf("no log line: %v", err)
	}
	r.Close() // the reader goes away
	time.Sleep(3 * time.Second)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("the daemon is gone before SIGTERM: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v (want a graceful 0)", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit within 20s of SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(dir, "alerts.json")); err != nil {
		t.Errorf("state not saved: %v", err)
	}
}

// An errors selector that matches nothing (the server labels its success
// counter finish_reason, as llm-d's simulator does) is a check --online
// warning naming the label and what the series have, not a silent 0.
func TestCheckOnlineWarnsOfAnErrorsSelectorMatchingNothing(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	path := filepath.Join(t.TempDir(), "success.om")
	var b strings.Builder
	b.WriteString("# TYPE vllm:request_success counter\n")
	for i, ts := 0, now.Add(-time.Hour); !ts.After(now); i, ts = i+1, ts.Add(15*time.Second) {
		fmt.Fprintf(&b, "vllm:request_success_total{finish_reason=\"stop\",model_name=\"llama\"} %d %d\n", i*10, ts.Unix())
	}
	b.WriteString("# EOF\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: []string{path}})
	cfgFile := writeConfig(t, t.TempDir(), prom.URL, "http://127.0.0.1:9")
	// An indicator whose input this server lacks is a warning too.
	cfg, _ := os.ReadFile(cfgFile)
	if err := os.WriteFile(cfgFile, append(cfg, "indicators:\n  - {name: preemptions, kind: preemption_rate}\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "check", "--online", "--config", cfgFile)
	if code != 0 {
		t.Fatalf("check --online: exit %d: %s%s", code, out, errs)
	}
	if !strings.Contains(out, "warning: SLO errors model_name=llama: the errors selector matches no series: no series has the label finished_reason (its series have: finish_reason, model_name") {
		t.Errorf("no warning naming the missing label:\n%s%s", out, errs)
	}
	if !strings.Contains(out, "warning: indicator preemptions: metric vllm:num_preemptions_total has no series") {
		t.Errorf("no warning for the indicator's absent input:\n%s%s", out, errs)
	}
}

// chaosProxy stands between the sentinel and a real Prometheus and, when
// told, answers as a broken proxy or backend would.
type chaosProxy struct {
	mode atomic.Value // string: "", "nodata", "nan"
	next http.Handler
}

func (p *chaosProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p.mode.Load() {
	case "nodata":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success"}`)
		return
	case "nan":
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if strings.Contains(form.Get("query")+r.URL.Query().Get("query"), "__sentinel_part") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[`+
				`{"metric":{"model_name":"llama","__sentinel_part":"total"},"value":[1,"NaN"]},`+
				`{"metric":{"model_name":"llama","__sentinel_part":"errors"},"value":[1,"NaN"]}]}}`)
			return
		}
	}
	p.next.ServeHTTP(w, r)
}

// The daemon against hostile parts, in one run: a broken answer, numbers
// that are not counts, a rule removed by reload, a damaged state file
// after kill -9, a cross-site reload. Each time it stays alive, the right
// meta alert reaches a real Alertmanager, and the page is neither lost nor
// resolved by mistake.
func TestChaos(t *testing.T) {
	t.Parallel()
	daemonBinary(t)
	now := time.Now().Truncate(time.Second)
	history := writeSuccessHistory(t, now.Add(-2*time.Hour), now.Add(30*time.Minute), 5*time.Second, func(ts time.Time) (float64, float64) {
		if ts.Before(now.Add(-20 * time.Minute)) {
			return 1, 0
		}
		return 0, 1 // a breach that lasts the whole test
	})
	// A live vLLM target beside the history, to kill later.
	vllm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"llama\"} 3\n")
	}))
	defer vllm.Close()
	prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: []string{history},
		ScrapeTargets: []string{strings.TrimPrefix(vllm.URL, "http://")},
		// The history reaches into the future; live samples are written now.
		OutOfOrderTimeWindow: time.Hour})
	prom.WaitForTargets(t)
	target, err := url.Parse(prom.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &chaosProxy{next: httputil.NewSingleHostReverseProxy(target)}
	proxy.mode.Store("")
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	am := promtest.StartAlertmanager(t)

	dir := t.TempDir()
	cfgFile := writeConfig(t, dir, ps.URL, am.URL)
	// A second SLO whose errors selector matches nothing: the history
	// has no finished_reason="timeout".
	cfg0, _ := os.ReadFile(cfgFile)
	withTimeouts := strings.Replace(string(cfg0), "notifiers:", `  - name: timeouts
    sli:
      ratio: {errors: 'vllm:request_success_total{finished_reason="timeout"}', total: 'vllm:request_success_total'}
    objective: 99
    window: 28d
notifiers:`, 1)
	if err := os.WriteFile(cfgFile, []byte(withTimeouts), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", promtest.FreePort(t))
	d := startDaemonArgs(t, cfgFile, addr, "--web.enable-lifecycle")
	pageActive := func() bool {
		for _, al := range activeAlerts(t, am, "SLOBurnRate") {
			if al.Labels["long_window"] == "1h" {
				return true
			}
		}
		return false
	}
	active := func(name string) func() bool {
		return func() bool { return len(activeAlerts(t, am, name)) > 0 }
	}
	alive := func(when string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/-/healthy")
		if err != nil {
			t.Fatalf("%s: the daemon is gone: %v", when, err)
		}
		resp.Body.Close()
	}
	poll.Until(t, 20*time.Second, "the page in Alertmanager", pageActive)

	// 1. A success without data: SentinelPrometheusDown, the page kept.
	proxy.mode.Store("nodata")
	poll.Until(t, 20*time.Second, "SentinelPrometheusDown", active("SentinelPrometheusDown"))
	alive("no data")
	if !pageActive() {
		t.Error("the page was resolved because Prometheus answered without data")
	}

	// 4. Counts that are not counts: SentinelEvaluationFailing, the page kept.
	proxy.mode.Store("nan")
	poll.Until(t, 20*time.Second, "SentinelEvaluationFailing", active("SentinelEvaluationFailing"))
	alive("NaN")
	if !pageActive() {
		t.Error("the page was resolved on NaN counts")
	}
	proxy.mode.Store("")
	poll.Until(t, 20*time.Second, "SentinelPrometheusDown to resolve", func() bool { return !active("SentinelPrometheusDown")() })

	// 11. The errors selector that matches nothing is no perfect record.
	poll.Until(t, 20*time.Second, "SentinelNoData for the errors side of SLO timeouts", func() bool {
		for _, a := range activeAlerts(t, am, "SentinelNoData") {
			if a.Labels["slo"] == "timeouts" && a.Labels["side"] == "errors" && strings.Contains(a.Annotations["summary"], `no series with finished_reason="timeout"`) {
				return true
			}
		}
		return false
	})

	// 13. The vLLM target dies: one SentinelTargetDown naming it, the page kept.
	vllm.Close()
	poll.Until(t, 30*time.Second, "SentinelTargetDown", func() bool {
		for _, a := range activeAlerts(t, am, "SentinelTargetDown") {
			if a.Labels["instance"] == strings.TrimPrefix(vllm.URL, "http://") {
				return true
			}
		}
		return false
	})
	if !pageActive() {
		t.Error("the page was resolved when the vLLM target died")
	}

	// 8. A cross-site form cannot reload it.
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/-/reload", strings.NewReader("x=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site reload: %v %v", resp, err)
	}

	// 6. A reload while Alertmanager is down neither waits on it nor
	// drops what its queue holds: the page is there once it is back.
	am.Stop()
	time.Sleep(2 * time.Second) // sends fail and queue up
	start := time.Now()
	if resp, err := http.Post("http://"+addr+"/-/reload", "", nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %v %v", resp, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a reload with Alertmanager down took %s", took)
	}
	am.Start(t)
	poll.Until(t, 30*time.Second, "the page back in the restarted Alertmanager", pageActive)

	// 7. The SLO removed by reload: its page resolves now, not at endsAt.
	cfg, _ := os.ReadFile(cfgFile)
	withoutSLO := regexp.MustCompile(`(?s)slos:.*?\nnotifiers:`).ReplaceAllString(string(cfg),
		"indicators:\n  - {name: queue-growth, kind: queue_growth}\nnotifiers:")
	if err := os.WriteFile(cfgFile, []byte(withoutSLO), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+addr+"/-/reload", "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %v %v", resp, err)
	}
	resolved := false
	poll.Until(t, 5*time.Second, "the removed SLO's page resolved by the sentinel", func() bool {
		for _, a := range daemonAlerts(t, addr) {
			if a.Labels["long_window"] == "1h" && a.Labels["slo"] == "errors" {
				resolved = a.State == "inactive"
			}
		}
		return resolved
	})
	poll.Until(t, 5*time.Second, "the removed SLO's page to leave Alertmanager", func() bool { return !pageActive() })

	// 2. kill -9, a damaged state file: it starts, and says so.
	d.kill()
	if err := os.WriteFile(filepath.Join(dir, "alerts.json"), []byte(`{"version": 1, "rules": {"slo:errors": [null]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	d = startDaemonArgs(t, cfgFile, addr)
	poll.Until(t, 20*time.Second, "SentinelStateLost", active("SentinelStateLost"))
	alive("damaged state")
	d.terminate(t)
}
