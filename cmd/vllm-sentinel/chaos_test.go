package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
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
