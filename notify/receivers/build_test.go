package receivers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vllm-sentinel/vllm-sentinel/internal/poll"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
	"github.com/vllm-sentinel/vllm-sentinel/notify/webhook"
)

// run builds the notifier from the entry, runs it until the test ends and
// sends it one alert.
func run(t *testing.T, typ, name, text string, env receivers.Env) receivers.Queue {
	t.Helper()
	r := receivers.New()
	settings, err := r.Decode(typ, entry(t, fmt.Sprintf("name: %s\ntype: %s\n%s", name, typ, text)))
	if err != nil {
		t.Fatal(err)
	}
	q, err := r.Build(name, settings, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	q.Send(firing("SLOBurnRate"))
	return q
}

// A webhook entry becomes a Dispatcher in front of the webhook notifier,
// with its outbox under the state directory: the payload arrives signed,
// with the entry's headers and the external URL.
func TestBuildWebhook(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "")
	key := "whsec_" + strings.Repeat("QUJD", 8)
	state := t.TempDir()
	reg := prometheus.NewPedanticRegistry()
	q := run(t, "webhook", "hooks", fmt.Sprintf("url_file: %s\nsecret_file: %s\nheaders: {X-Scope-OrgID: team-a}\ngroup_wait: 10ms\nrepeat_interval: 1d\n",
		secretFile(t, rc.srv.URL+"/alerts"), secretFile(t, key)),
		receivers.Env{StateDir: state, ExternalURL: "http://sentinel.example:9105", Registerer: reg})

	poll.Until(t, 10*time.Second, "the webhook payload", func() bool { return len(rc.requests()) > 0 })
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	req := rc.requests()[0]
	if req.path != "/alerts" || req.header.Get("X-Scope-OrgID") != "team-a" {
		t.Errorf("request to %s with headers %v", req.path, req.header)
	}
	var m webhook.Message
	if err := json.Unmarshal(req.body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Receiver != "hooks" || m.ExternalURL != "http://sentinel.example:9105" || len(m.Alerts) != 1 || m.Status != webhook.StatusFiring {
		t.Errorf("payload %+v", m)
	}
	k, err := webhook.ParseSigningKey(key)
	if err != nil {
		t.Fatal(err)
	}
	id, ts := req.header.Get("Webhook-Id"), req.header.Get("Webhook-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q: %v", ts, err)
	}
	if got, want := req.header.Get("Webhook-Signature"), webhook.Sign(k, id, sec, req.body); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(state, "notify", "hooks", "outbox")); err != nil {
		t.Errorf("no outbox under the state directory: %v", err)
	}
	if n := testutil.CollectAndCount(reg, "vllm_sentinel_outbox_length"); n != 1 {
		t.Errorf("%d outbox length series, want 1", n)
	}
}

// A Slack entry becomes a Dispatcher in front of the Slack notifier; its
// logs say which notifier speaks, once, and never the webhook URL.
func TestBuildSlack(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "ok")
	var logs notifytest.LogBuffer
	run(t, "slack", "oncall", "webhook_url_file: "+secretFile(t, rc.srv.URL+"/services/T0/B0/X")+"\ngroup_wait: 10ms\n",
		receivers.Env{Logger: notifytest.NewLogger(&logs)})
	poll.Until(t, 10*time.Second, "the Slack message", func() bool { return len(rc.requests()) > 0 })
	req := rc.requests()[0]
	if req.path != "/services/T0/B0/X" || !strings.Contains(string(req.body), "SLOBurnRate") {
		t.Errorf("request to %s: %s", req.path, req.body)
	}
	poll.Until(t, 10*time.Second, "the debug log of the message", func() bool { return strings.Contains(logs.String(), "message posted") })
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Count(line, "component=notifier") != 1 || strings.Count(line, "notifier=oncall") != 1 {
			t.Errorf("log line does not name the notifier once: %s", line)
		}
		if strings.Contains(line, "/services/") {
			t.Errorf("log line shows the webhook URL: %s", line)
		}
	}
}

// An alertmanager entry posts to the API v2 of every URL, not through a
// Dispatcher.
func TestBuildAlertmanager(t *testing.T) {
	t.Parallel()
	a, b := newReceiver(t, ""), newReceiver(t, "")
	var logs notifytest.LogBuffer
	q := run(t, "alertmanager", "am", fmt.Sprintf("urls: [%s, %s/prefix]\ntimeout: 5s\n", a.srv.URL, b.srv.URL),
		receivers.Env{Logger: notifytest.NewLogger(&logs)})
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Count(line, "component=notifier") != 1 || strings.Count(line, "notifier=am") != 1 {
			t.Errorf("log line does not name the notifier once: %s", line)
		}
	}
	for url, rc := range map[string]*receiver{"/api/v2/alerts": a, "/prefix/api/v2/alerts": b} {
		reqs := rc.requests()
		if len(reqs) != 1 || reqs[0].path != url || !strings.Contains(string(reqs[0].body), "SLOBurnRate") {
			t.Errorf("%s got %d requests: %+v", url, len(reqs), reqs)
		}
	}
}

func TestBuildRefusesForeignSettings(t *testing.T) {
	t.Parallel()
	r := receivers.New()
	for _, s := range []any{nil, "urls", struct{}{}} {
		if _, err := r.Build("x", s, receivers.Env{}); err == nil || !strings.Contains(err.Error(), `notifier "x"`) {
			t.Errorf("Build(%#v) = %v, want an error naming the notifier", s, err)
		}
	}
}
