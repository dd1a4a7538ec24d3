package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/internal/poll"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer lets the test read the log while the daemon writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunStartsServesAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	addr := freeAddr(t)
	good := fmt.Sprintf("indicators: [{name: queue-growth, kind: queue_growth}]\nstate: {path: %s}\nweb: {listen_address: %q}\n", dir, addr)
	if err := os.WriteFile(cfgFile, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--config", cfgFile, "--log.format", "json", "--web.enable-lifecycle"}, &logs, &logs)
	}()

	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/-/healthy")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon never became healthy: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), "vllm_sentinel_build_info") {
		t.Errorf("/metrics lacks build info")
	}
	resp, err = http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body.Reset()
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(body.String(), "<h2>SLOs</h2>") {
		t.Errorf("status page: %d %s", resp.StatusCode, body.String())
	}

	// A bad config is refused on reload and the old one keeps running.
	os.WriteFile(cfgFile, []byte("global: {evaluation_interval: never}\n"), 0o600)
	resp, err = http.Post(base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad reload: status %d, want 400", resp.StatusCode)
	}
	os.WriteFile(cfgFile, []byte(good), 0o600)
	resp, err = http.Post(base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("good reload: status %d", resp.StatusCode)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop")
	}
	for _, want := range []string{`"msg":"starting vllm-sentinel"`, `"msg":"reload refused: the running configuration is kept"`, `"msg":"shutting down"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

// Slack and webhook notifiers are wired through grouping and the outbox:
// the watchdog (and, with Prometheus unreachable, SentinelPrometheusDown)
// reach both receivers, signed for the webhook.
func TestRunDeliversToSlackAndWebhook(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	got := map[string][]string{}
	record := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var b bytes.Buffer
			b.ReadFrom(r.Body)
			mu.Lock()
			got[name] = append(got[name], b.String())
			if name == "webhook" && r.Header.Get("webhook-signature") == "" {
				got["unsigned"] = append(got["unsigned"], b.String())
			}
			mu.Unlock()
			if name == "slack" {
				fmt.Fprint(w, "ok")
			}
		}
	}
	slackSrv := httptest.NewServer(record("slack"))
	defer slackSrv.Close()
	hookSrv := httptest.NewServer(record("webhook"))
	defer hookSrv.Close()
	slackURL := filepath.Join(dir, "slack-url")
	os.WriteFile(slackURL, []byte(slackSrv.URL+"/services/T0/B0/SECRET\n"), 0o600)
	hookSecret := filepath.Join(dir, "hook-secret")
	os.WriteFile(hookSecret, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), 0o600)
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`global: {evaluation_interval: 1s}
prometheus: {url: "http://%s", timeout: 1s}
notifiers:
  - {name: oncall, type: slack, webhook_url_file: %s, group_wait: 1s, group_interval: 1s}
  - {name: hooks, type: webhook, url: %q, secret_file: %s, group_wait: 1s, group_interval: 1s}
indicators:
  - {name: queue-growth, kind: queue_growth}
state: {path: %s}
web: {listen_address: %q}
`, freeAddr(t), slackURL, hookSrv.URL, hookSecret, dir, addr)
	logs, stop := runInProcess(t, dir, cfg)
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		ok := len(got["slack"]) > 0 && len(got["webhook"]) > 0
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no notification reached slack and webhook: %v\n%s", got, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(got["slack"][0], "SentinelWatchdog") || !strings.Contains(got["webhook"][0], `"version":"4"`) {
		t.Errorf("payloads: slack %s\nwebhook %s", got["slack"][0], got["webhook"][0])
	}
	if len(got["unsigned"]) > 0 {
		t.Error("webhook notification without a signature")
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Error("the Slack webhook URL leaked into the log")
	}
}

// A damaged outbox never stops the daemon: it starts, the file is moved
// aside, and SentinelStateLost says which notifier's outbox was lost.
func TestDamagedOutboxRaisesStateLost(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var bodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		mu.Lock()
		bodies = append(bodies, b.String())
		mu.Unlock()
	}))
	defer hook.Close()
	outbox := filepath.Join(dir, "notify", "hooks")
	if err := os.MkdirAll(outbox, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outbox, "groups.json"), []byte("\x00 not json {"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global: {evaluation_interval: 1s}
prometheus: {url: "http://%s", timeout: 1s}
notifiers:
  - {name: hooks, type: webhook, url: %q, group_wait: 1s, group_interval: 1s}
indicators:
  - {name: queue-growth, kind: queue_growth}
state: {path: %s}
web: {listen_address: %q}
`, freeAddr(t), hook.URL, dir, freeAddr(t))
	logs, stop := runInProcess(t, dir, cfg)
	poll.Until(t, 20*time.Second, "SentinelStateLost at the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bodies {
			if strings.Contains(b, "SentinelStateLost") && strings.Contains(b, "outbox of notifier hooks") {
				return true
			}
		}
		return false
	})
	if code := stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, logs.String())
	}
	if m, _ := filepath.Glob(filepath.Join(outbox, "groups.json.corrupt-*")); len(m) != 1 {
		t.Errorf("damaged groups file not moved aside: %v", m)
	}
}

// runInProcess writes cfg into dir and runs the daemon on it in this
// process; stop ends it as SIGTERM would and returns its exit code.
func runInProcess(t *testing.T, dir, cfg string) (logs *syncBuffer, stop func() int) {
	t.Helper()
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logs = &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "--config", cfgFile, "--log.format", "json"}, logs, logs) }()
	return logs, func() int { cancel(); return <-done }
}
