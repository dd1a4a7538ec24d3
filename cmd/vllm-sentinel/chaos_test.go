package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
	code, out, errs := runCLI(t, "check", "--online", "--config", cfgFile)
	if code != 0 {
		t.Fatalf("check --online: exit %d: %s%s", code, out, errs)
	}
	if !strings.Contains(out, "warning: SLO errors model_name=llama: the errors selector matches no series: no series has the label finished_reason (its series have: finish_reason, model_name") {
		t.Errorf("no warning naming the missing label:\n%s%s", out, errs)
	}
}
