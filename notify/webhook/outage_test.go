package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/webhook"
)

// simAlert is one alert's life as the engine sends it: when it starts
// firing, every resend interval with endsAt = now + 4m; when it resolves,
// at once and then every resend interval for 15 minutes.
type simAlert struct {
	model, slo        string
	fireAt, resolveAt time.Duration

	lastSent  time.Time
	sentState string
}

const (
	resendInterval    = time.Minute
	resolvedRetention = 15 * time.Minute
)

func (s *simAlert) due(now time.Time) *notify.Alert {
	start, end := t0.Add(s.fireAt), t0.Add(s.resolveAt)
	switch {
	case now.Before(start):
		return nil
	case now.Before(end):
		if s.sentState == "firing" && now.Sub(s.lastSent) < resendInterval {
			return nil
		}
		s.lastSent, s.sentState = now, "firing"
		return alert(s.model, s.slo, start, now.Add(4*resendInterval))
	case now.Sub(end) > resolvedRetention:
		return nil
	default:
		if s.sentState == "resolved" && now.Sub(s.lastSent) < resendInterval {
			return nil
		}
		s.lastSent, s.sentState = now, "resolved"
		return alert(s.model, s.slo, start, end)
	}
}

// The receiver is down for ten minutes while alerts fire and resolve, and
// the daemon restarts in the middle. When the receiver is back, every
// notification arrives exactly once, in the order made, each alert's
// states in order, none lost; every payload is signed.
func TestOutageWithRestart(t *testing.T) {
	t.Parallel()
	m := func(d float64) time.Duration { return time.Duration(d * float64(time.Minute)) }
	alerts := []*simAlert{
		{model: "m0", slo: "ttft", fireAt: 0, resolveAt: m(3)},
		{model: "m1", slo: "ttft", fireAt: 0, resolveAt: m(8)},
		{model: "m2", slo: "ttft", fireAt: m(2), resolveAt: m(12)},
		{model: "m3", slo: "ttft", fireAt: m(4), resolveAt: m(15)},
		{model: "m4", slo: "ttft", fireAt: m(7), resolveAt: m(9)},
		{model: "m5", slo: "ttft", fireAt: m(10.5), resolveAt: m(20)},
		{model: "m0", slo: "errors", fireAt: m(5), resolveAt: m(6)},
		{model: "m1", slo: "errors", fireAt: m(13), resolveAt: m(14)},
	}
	const evalInterval = 30 * time.Second
	outageFrom, outageTo, restartAt, end := m(1), m(11), m(6), m(40)

	c := notifytest.NewClock(t0)
	f := newFakeHook(t, c, secret)
	var down atomic.Bool
	f.setRespond(func(n int) (int, http.Header) {
		switch {
		case !down.Load():
			return http.StatusOK, nil
		case n%2 == 0:
			return -1, nil // the connection drops
		default:
			return http.StatusServiceUnavailable, nil
		}
	})
	dir := t.TempDir()
	reg := prometheus.NewPedanticRegistry()
	logs := &notifytest.LogBuffer{}

	start := func() (*dispatch.Dispatcher, func()) {
		n, err := webhook.New(webhook.Options{Name: "hooks", URL: f.URL(), SigningKey: secret, Now: c.Now, Registerer: reg, Logger: notifytest.NewLogger(logs)})
		if err != nil {
			t.Fatal(err)
		}
		d, err := dispatch.New(n, dispatch.Options{
			Name: "hooks", GroupBy: []string{"alertname", "slo"},
			GroupWait: 30 * time.Second, GroupInterval: time.Minute, RepeatInterval: 4 * time.Hour, SendResolved: true,
			OutboxDir: dir, Backoff: time.Second, MaxBackoff: 30 * time.Second,
			Now: c.Now, After: c.After, Registerer: reg, Logger: notifytest.NewLogger(logs),
		})
		if err != nil {
			t.Fatal(err)
		}
		return d, notifytest.Run(t, d.Run)
	}
	d, stop := start()
	pendingAtRestart := 0
	for elapsed := time.Duration(0); elapsed <= end; elapsed += time.Second {
		now := c.Now()
		down.Store(elapsed >= outageFrom && elapsed < outageTo)
		if elapsed == restartAt {
			// As the daemon does at SIGTERM: a bounded flush (it cannot
			// succeed while the receiver is down), then stop.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
			if err := d.Flush(ctx); err == nil {
				t.Error("Flush succeeded while the receiver was down")
			}
			cancel()
			stop()
			files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.json"))
			pendingAtRestart = len(files)
			d, stop = start()
		}
		if elapsed%evalInterval == 0 {
			var due []*notify.Alert
			for _, a := range alerts {
				if x := a.due(now); x != nil {
					due = append(due, x)
				}
			}
			d.Send(due...)
		}
		if err := d.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if pendingAtRestart == 0 {
		t.Fatal("nothing was pending at the restart; the test would prove nothing")
	}

	reqs := f.all()
	var firstSeen, accepted []string
	bodies := map[string]string{}
	for _, r := range reqs {
		if !slices.Contains(firstSeen, r.id) {
			firstSeen = append(firstSeen, r.id)
			bodies[r.id] = string(r.raw)
		} else if bodies[r.id] != string(r.raw) {
			t.Errorf("a retry of %s changed the body", r.id)
		}
		if r.accepted {
			if slices.Contains(accepted, r.id) {
				t.Errorf("notification %s delivered twice", r.id)
			}
			accepted = append(accepted, r.id)
		}
	}
	// None lost, and in the order made.
	if !slices.Equal(firstSeen, accepted) {
		t.Errorf("delivered %v,\nwant every notification attempted, in order: %v", accepted, firstSeen)
	}
	// Resends are deduplicated: a group's notifications each say something
	// new (repeat_interval is not reached).
	last := map[string]string{}
	for _, r := range f.accepted() {
		var sum []string
		for _, a := range r.msg.Alerts {
			sum = append(sum, a.Labels["model_name"]+"="+a.Status)
		}
		s := fmt.Sprint(sum)
		if last[r.msg.GroupKey] == s {
			t.Errorf("group %s notified twice of %s", r.msg.GroupKey, s)
		}
		last[r.msg.GroupKey] = s
	}
	// Each alert's states arrive in order: firing, then resolved.
	states := map[string][]string{}
	for _, r := range f.accepted() {
		for _, a := range r.msg.Alerts {
			k := a.Labels["slo"] + "/" + a.Labels["model_name"]
			if s := states[k]; len(s) == 0 || s[len(s)-1] != a.Status {
				states[k] = append(states[k], a.Status)
			}
		}
	}
	for _, a := range alerts {
		k := a.slo + "/" + a.model
		if got := states[k]; !slices.Equal(got, []string{"firing", "resolved"}) {
			t.Errorf("%s: states %v, want [firing resolved]", k, got)
		}
	}
	for name, want := range map[string]float64{
		"vllm_sentinel_outbox_length":               0,
		"vllm_sentinel_alert_groups":                0,
		"vllm_sentinel_outbox_write_failures_total": 0,
	} {
		if got := notifytest.MetricValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got, _ := filepath.Glob(filepath.Join(dir, "outbox", "*")); len(got) != 0 {
		t.Errorf("outbox not empty: %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "groups.json")); err != nil {
		t.Errorf("groups.json: %v", err)
	}
	t.Logf("%d notifications in %d requests; %d were pending at the restart", len(accepted), len(reqs), pendingAtRestart)
}
