package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

func models(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("model-%02d", i)
	}
	return out
}

// storm sends what the engine sends when 40 models start burning at once.
func TestStormIsOneNotification(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dispatch.Options{GroupBy: []string{"alertname", "slo"}, GroupWait: 30 * time.Second})
	var alerts []*notify.Alert
	for _, m := range models(40) {
		alerts = append(alerts, firing(m, t0, t0))
	}
	h.send(alerts...)
	h.advance(29*time.Second, time.Second)
	if n := len(h.n.all()); n != 0 {
		t.Fatalf("%d notifications before group_wait", n)
	}
	h.advance(time.Second, time.Second)
	calls := h.n.all()
	if len(calls) != 1 {
		t.Fatalf("%d notifications, want 1", len(calls))
	}
	c := calls[0]
	if len(c.states) != 40 {
		t.Errorf("notification has %d alerts, want 40", len(c.states))
	}
	if want := `{}:{alertname="SLOBurnRate", slo="ttft"}`; c.meta.GroupKey != want {
		t.Errorf("group key %q, want %q", c.meta.GroupKey, want)
	}
	if !c.meta.Created.Equal(t0.Add(30*time.Second)) || c.meta.Attempt != 1 || !strings.HasPrefix(c.meta.ID, "msg_") {
		t.Errorf("meta %+v", c.meta)
	}
	if got := h.metric("vllm_sentinel_alert_groups", "notifier", "hooks"); got != 1 {
		t.Errorf("groups = %v, want 1", got)
	}
}

// The engine resends firing alerts every minute; the receiver hears of the
// group again only after repeat_interval, or when something changes (at
// the next group_interval tick).
func TestResendsAreDeduplicated(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dispatch.Options{
		GroupBy: []string{"alertname"}, GroupWait: 10 * time.Second, GroupInterval: time.Minute,
		RepeatInterval: 30 * time.Minute, SendResolved: true,
	})
	engine := func(now time.Time, ms ...string) {
		var as []*notify.Alert
		for _, m := range ms {
			as = append(as, firing(m, t0, now))
		}
		h.send(as...)
	}
	for i := range 29 {
		engine(h.clock.Now(), "a", "b")
		h.advance(time.Minute, 10*time.Second)
		if n := len(h.n.all()); n != 1 {
			t.Fatalf("after %d minutes: %d notifications, want 1", i+1, n)
		}
	}
	// A new alert joins: told at the next group_interval tick, with the
	// others.
	engine(h.clock.Now(), "a", "b", "c")
	h.advance(time.Minute, 10*time.Second)
	calls := h.n.all()
	if len(calls) != 2 || len(calls[1].states) != 3 {
		t.Fatalf("calls %v, want a second one with 3 alerts", calls)
	}
	// Nothing changes for repeat_interval: one more.
	for range 31 {
		engine(h.clock.Now(), "a", "b", "c")
		h.advance(time.Minute, 30*time.Second)
	}
	if n := len(h.n.all()); n != 3 {
		t.Fatalf("%d notifications after repeat_interval, want 3", n)
	}
}

// A resolve is told once, even though the engine repeats it for 15
// minutes, and the group goes away.
func TestResolveToldOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dispatch.Options{GroupBy: []string{"alertname"}, GroupWait: 10 * time.Second, GroupInterval: time.Minute, SendResolved: true})
	h.send(firing("a", t0, t0), firing("b", t0, t0))
	h.advance(time.Minute, 10*time.Second)
	resolvedAt := h.clock.Now()
	for range 15 {
		h.send(resolved("a", t0, resolvedAt), firing("b", t0, h.clock.Now()))
		h.advance(time.Minute, 10*time.Second)
	}
	calls := h.n.all()
	if len(calls) != 2 {
		t.Fatalf("calls %v, want 2", calls)
	}
	if st := calls[1].states; st["a"] || !st["b"] || len(st) != 2 {
		t.Errorf("second notification %v, want a resolved and b firing", st)
	}
	// b resolves too: one last notification, then the group is gone.
	resolvedAt = h.clock.Now()
	for range 15 {
		h.send(resolved("a", t0, t0.Add(time.Minute)), resolved("b", t0, resolvedAt))
		h.advance(time.Minute, 10*time.Second)
	}
	calls = h.n.all()
	if len(calls) != 3 {
		t.Fatalf("calls %v, want 3", calls)
	}
	if st := calls[2].states; st["b"] || len(st) != 1 {
		t.Errorf("last notification %v, want b resolved only", st)
	}
	if got := h.metric("vllm_sentinel_alert_groups", "notifier", "hooks"); got != 0 {
		t.Errorf("groups = %v, want 0", got)
	}
}

func TestSendResolvedFalse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dispatch.Options{GroupBy: []string{"alertname"}, GroupWait: 10 * time.Second, GroupInterval: time.Minute})
	h.send(firing("a", t0, t0), firing("b", t0, t0))
	h.advance(time.Minute, 10*time.Second)
	for range 16 {
		h.send(resolved("a", t0, t0.Add(time.Minute)), firing("b", t0, h.clock.Now()))
		h.advance(time.Minute, 10*time.Second)
	}
	for range 16 {
		h.send(resolved("a", t0, t0.Add(time.Minute)), resolved("b", t0, t0.Add(17*time.Minute)))
		h.advance(time.Minute, 10*time.Second)
	}
	calls := h.n.all()
	if len(calls) != 1 {
		t.Fatalf("calls %v, want only the first", calls)
	}
	if got := h.metric("vllm_sentinel_alert_groups", "notifier", "hooks"); got != 0 {
		t.Errorf("groups = %v, want 0", got)
	}
	// It fires again: a new notification.
	h.send(firing("a", h.clock.Now(), h.clock.Now()))
	h.advance(time.Minute, 10*time.Second)
	if calls := h.n.all(); len(calls) != 2 || !calls[1].states["a"] {
		t.Fatalf("calls %v, want a second one with a firing", calls)
	}
}

// An alert that fires and resolves within group_wait is never told.
func TestFlapWithinGroupWaitIsNotTold(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dispatch.Options{GroupWait: 30 * time.Second, SendResolved: true})
	h.send(firing("a", t0, t0))
	h.advance(10*time.Second, 10*time.Second)
	h.send(resolved("a", t0, h.clock.Now()))
	h.advance(20*time.Minute, 30*time.Second)
	if calls := h.n.all(); len(calls) != 0 {
		t.Fatalf("calls %v, want none", calls)
	}
}

func TestGroupBy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		groupBy []string
		want    int
	}{
		{"none: one group", nil, 1},
		{"by alertname", []string{"alertname"}, 2},
		{"by a label only some have", []string{"instance"}, 2},
		{"all labels", []string{"..."}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, dispatch.Options{GroupBy: tc.groupBy, GroupWait: time.Second})
			a, b := firing("a", t0, t0), firing("b", t0, t0)
			c, d := firing("c", t0, t0), firing("d", t0, t0)
			c.Labels["alertname"], d.Labels["alertname"] = "KVCachePressure", "KVCachePressure"
			c.Labels["instance"] = "gpu-1:8000"
			h.send(a, b, c, d)
			h.advance(time.Second, time.Second)
			if n := len(h.n.all()); n != tc.want {
				t.Errorf("%d notifications, want %d", n, tc.want)
			}
		})
	}
}

// Notifications are retried with growing, jittered backoff, and the next
// one waits its turn.
func TestRetryWithBackoffKeepsOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dispatch.Options{
		GroupBy: []string{"model_name"}, GroupWait: time.Second, Backoff: 4 * time.Second, MaxBackoff: 16 * time.Second,
	})
	h.n.setRespond(func(n int) (bool, error) {
		if n <= 4 {
			return true, errors.New("HTTP 503")
		}
		return false, nil
	})
	h.send(firing("a", t0, t0))
	h.advance(time.Second, time.Second)
	h.send(firing("b", t0, t0.Add(time.Second)))
	h.advance(2*time.Minute, 100*time.Millisecond)
	calls := h.n.all()
	var order []string
	for _, c := range calls {
		for k := range c.states {
			order = append(order, k)
		}
	}
	if want := []string{"a", "a", "a", "a", "a", "b"}; !slices.Equal(order, want) {
		t.Fatalf("attempts %v, want %v", order, want)
	}
	// Attempt k waits backoff·2^(k-1), capped, jittered to [half, full].
	for i, want := range []time.Duration{4 * time.Second, 8 * time.Second, 16 * time.Second, 16 * time.Second} {
		gap := calls[i+1].at.Sub(calls[i].at)
		if gap < want/2 || gap > want+100*time.Millisecond {
			t.Errorf("gap before attempt %d = %s, want within [%s, %s]", i+2, gap, want/2, want)
		}
		if calls[i+1].meta.ID != calls[0].meta.ID || calls[i+1].meta.Attempt != i+2 {
			t.Errorf("attempt %d: meta %+v, want the same ID as the first", i+2, calls[i+1].meta)
		}
	}
	if got := h.metric("vllm_sentinel_outbox_length", "notifier", "hooks"); got != 0 {
		t.Errorf("outbox length = %v, want 0", got)
	}
}

// A receiver's Retry-After is waited for in full, even past MaxBackoff.
func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dispatch.Options{GroupWait: time.Second, Backoff: time.Second, MaxBackoff: 2 * time.Second})
	h.n.setRespond(func(n int) (bool, error) {
		if n == 1 {
			return true, fmt.Errorf("wrapped: %w", &notify.StatusError{Code: 429, Reason: "rate_limited", RetryAfter: 30 * time.Second})
		}
		return false, nil
	})
	h.send(firing("a", t0, t0))
	h.advance(time.Minute, 100*time.Millisecond)
	calls := h.n.all()
	if len(calls) != 2 {
		t.Fatalf("calls %v, want 2", calls)
	}
	if gap := calls[1].at.Sub(calls[0].at); gap < 30*time.Second || gap > 30*time.Second+100*time.Millisecond {
		t.Errorf("retried after %s, want 30s", gap)
	}
}

func TestPermanentErrorIsNotRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dispatch.Options{GroupBy: []string{"model_name"}, GroupWait: time.Second})
	h.n.setRespond(func(n int) (bool, error) {
		if n == 1 {
			return false, errors.New("HTTP 404: channel_not_found")
		}
		return false, nil
	})
	h.send(firing("a", t0, t0), firing("b", t0, t0))
	h.advance(10*time.Minute, time.Second)
	calls := h.n.all()
	if len(calls) != 2 || calls[0].meta.ID == calls[1].meta.ID {
		t.Fatalf("calls %v, want one attempt each at two notifications", calls)
	}
	if got := h.metric("vllm_sentinel_notifications_dropped_total", "notifier", "hooks", "reason", "permanent_error"); got != 1 {
		t.Errorf("dropped = %v, want 1 alert", got)
	}
}

func TestOutboxFullDropsOldest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dispatch.Options{
		GroupBy: []string{"model_name"}, GroupWait: time.Second, OutboxCapacity: 2, OutboxDir: t.TempDir(),
		Backoff: time.Hour, MaxBackoff: time.Hour,
	})
	down := true
	h.n.setRespond(func(int) (bool, error) {
		if down {
			return true, errors.New("down")
		}
		return false, nil
	})
	h.send(firing("a", t0, t0))
	h.advance(time.Second, time.Second) // a: attempted, failed
	h.send(firing("b", t0, t0), firing("c", t0, t0))
	h.advance(time.Second, time.Second) // b and c made; a dropped
	if got := h.metric("vllm_sentinel_notifications_dropped_total", "notifier", "hooks", "reason", "outbox_full"); got != 1 {
		t.Errorf("dropped = %v, want 1", got)
	}
	if got := h.metric("vllm_sentinel_outbox_length", "notifier", "hooks"); got != 2 {
		t.Errorf("outbox length = %v, want 2", got)
	}
	files, _ := filepath.Glob(filepath.Join(h.opts.OutboxDir, "outbox", "*.json"))
	if len(files) != 2 {
		t.Errorf("outbox files %v, want 2", files)
	}
	h.n.setRespond(nil)
	down = false
	h.advance(2*time.Hour, time.Minute)
	var got []string
	for _, c := range h.n.delivered() {
		for k := range c.states {
			got = append(got, k)
		}
	}
	if !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("delivered %v, want b then c", got)
	}
}

// A restart in the middle delivers what was pending, first and once, and
// does not notify again what had been notified.
func TestRestartKeepsOutboxAndGroups(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, dispatch.Options{GroupBy: []string{"alertname"}, GroupWait: 10 * time.Second, GroupInterval: time.Minute, OutboxDir: dir, SendResolved: true})
	h.send(firing("a", t0, t0))
	h.advance(10*time.Second, 10*time.Second)
	if n := len(h.n.all()); n != 1 {
		t.Fatalf("%d notifications, want 1", n)
	}
	// The receiver goes down; b joins and is notified into the outbox.
	h.n.setRespond(func(int) (bool, error) { return true, errors.New("down") })
	h.send(firing("a", t0, h.clock.Now()), firing("b", h.clock.Now(), h.clock.Now()))
	h.advance(time.Minute, 10*time.Second)
	pendingID := h.n.all()[1].meta.ID

	h.restart()
	h.n.setRespond(nil)
	// The engine carries on resending; nothing new happened.
	for range 5 {
		h.send(firing("a", t0, h.clock.Now()), firing("b", t0.Add(70*time.Second), h.clock.Now()))
		h.advance(time.Minute, 10*time.Second)
	}
	calls := h.n.all()
	var delivered []string
	for _, c := range calls[1:] {
		if !slices.Contains(delivered, c.meta.ID) {
			delivered = append(delivered, c.meta.ID)
		}
	}
	if !slices.Equal(delivered, []string{pendingID}) {
		t.Fatalf("after restart delivered %v, want only the pending %s", calls[1:], pendingID)
	}
	if last := calls[len(calls)-1]; !last.states["a"] || !last.states["b"] {
		t.Errorf("pending notification %v, want a and b firing", last)
	}
}

// New does not read the directory: a Dispatcher built while another runs on
// it (a config reload) reads it when its own Run starts.
func TestNewDoesNotLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, dispatch.Options{GroupWait: time.Second, OutboxDir: dir, Backoff: time.Hour, MaxBackoff: time.Hour})
	h.n.setRespond(func(int) (bool, error) { return true, errors.New("down") })
	h.send(firing("a", t0, t0))
	h.advance(time.Second, time.Second)
	next, err := dispatch.New(h.n, h.opts)
	if err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.n.setRespond(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); next.Run(ctx) }()
	defer func() { cancel(); <-done }()
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := next.Sync(fctx); err != nil {
		t.Fatal(err)
	}
	if err := next.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if calls := h.n.all(); len(calls) != 2 || calls[0].meta.ID != calls[1].meta.ID {
		t.Fatalf("calls %v, want the pending notification retried by the new Dispatcher", calls)
	}
}

func TestCorruptFilesAreMovedAside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "outbox"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("outbox/00000000000000000001.json", `{"version":1,"seq":1,"id":"msg_ok","group_key":"{}:{}","group_labels":{},"created":"1970-01-01T00:00:00Z","alerts":[{"labels":{"alertname":"A"},"annotations":{},"startsAt":"1970-01-01T00:00:00Z","endsAt":"1970-01-01T00:04:00Z","generatorURL":""}]}`)
	write("outbox/00000000000000000002.json", `{"version":1,"seq":2,`)
	write("outbox/00000000000000000003.json", `{"version":1,"seq":3,"id":"msg_no_alerts","created":"1970-01-01T00:00:00Z","alerts":[]}`)
	write("outbox/.tmp-00000000000000000004.json-123", `{"half`)
	write("groups.json", `not json`)

	logs := &notifytest.LogBuffer{}
	h := newHarness(t, dispatch.Options{OutboxDir: dir, Logger: notifytest.NewLogger(logs)})
	h.sync()
	calls := h.n.all()
	if len(calls) != 1 || calls[0].meta.ID != "msg_ok" {
		t.Fatalf("calls %v, want msg_ok only", calls)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "*", "*.corrupt-*"))
	aside2, _ := filepath.Glob(filepath.Join(dir, "*.corrupt-*"))
	if len(aside)+len(aside2) != 3 {
		t.Errorf("moved aside %v %v, want 3 files", aside, aside2)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "outbox", ".tmp-*")); len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	if got := h.metric("vllm_sentinel_notifications_dropped_total", "notifier", "hooks", "reason", "corrupt"); got != 3 {
		t.Errorf("dropped corrupt = %v, want 3", got)
	}
	if !strings.Contains(logs.String(), "moved aside") {
		t.Errorf("logs do not mention the corrupt files:\n%s", logs)
	}
}

func TestGroupByChangeStartsAfresh(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, dispatch.Options{GroupBy: []string{"alertname"}, GroupWait: time.Second, OutboxDir: dir})
	h.send(firing("a", t0, t0))
	h.advance(time.Second, time.Second)
	h.stop()
	h.opts.GroupBy = []string{"alertname", "model_name"}
	h.start()
	h.send(firing("a", t0, h.clock.Now()))
	h.advance(time.Second, time.Second)
	calls := h.n.all()
	if len(calls) != 2 || calls[1].meta.GroupKey != `{}:{alertname="SLOBurnRate", model_name="a"}` {
		t.Fatalf("calls %v, want a second notification under the new grouping", calls)
	}
}

func TestFlush(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dispatch.Options{GroupWait: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.d.Flush(ctx); err != nil {
		t.Fatalf("Flush with nothing to do: %v", err)
	}
	h.n.setRespond(func(int) (bool, error) { return true, errors.New("down") })
	h.send(firing("a", t0, t0))
	h.advance(time.Second, time.Second)
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	err := h.d.Flush(short)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 notifications not delivered") {
		t.Fatalf("Flush = %v, want a deadline error counting 1 notification", err)
	}
	h.n.setRespond(nil)
	h.advance(time.Minute, time.Second)
	if err := h.d.Flush(ctx); err != nil {
		t.Fatalf("Flush after delivery: %v", err)
	}
}

// With the real clock the loop's timers drive it.
func TestRealClock(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(time.Time{})
	n := &fakeNotifier{clock: c}
	d, err := dispatch.New(n, dispatch.Options{Name: "hooks", GroupWait: 20 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n.setRespond(func(k int) (bool, error) {
		if k == 1 {
			return true, errors.New("once")
		}
		return false, nil
	})
	notifytest.Run(t, d.Run)
	now := time.Now()
	d.Send(firing("a", now, now))
	deadline := time.Now().Add(5 * time.Second)
	for len(n.all()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if calls := n.all(); len(calls) != 2 {
		t.Fatalf("calls %v, want a failure and a retry", calls)
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := d.Flush(fctx); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	n := &fakeNotifier{clock: notifytest.NewClock(time.Time{})}
	for _, tc := range []struct {
		name string
		o    dispatch.Options
		n    notify.Notifier
		want string
	}{
		{"no name", dispatch.Options{}, n, "name is required"},
		{"no notifier", dispatch.Options{Name: "x"}, nil, "no notifier"},
		{"negative", dispatch.Options{Name: "x", GroupWait: -1}, n, "must not be negative"},
		{"backoffs", dispatch.Options{Name: "x", Backoff: time.Minute, MaxBackoff: time.Second}, n, "max backoff"},
		{"wildcard and more", dispatch.Options{Name: "x", GroupBy: []string{"...", "slo"}}, n, "cannot be combined"},
		{"empty label", dispatch.Options{Name: "x", GroupBy: []string{""}}, n, "empty label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dispatch.New(tc.n, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// Two Dispatchers share a registry, and a second one under the same name
// (a reload) adopts the first one's collectors.
func TestSharedRegisterer(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	n := &fakeNotifier{clock: notifytest.NewClock(time.Time{})}
	for _, name := range []string{"a", "b", "a"} {
		if _, err := dispatch.New(n, dispatch.Options{Name: name, Registerer: reg}); err != nil {
			t.Fatalf("New(%s): %v", name, err)
		}
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

func TestSendCopiesAndSkipsNil(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dispatch.Options{GroupWait: time.Second})
	a := firing("a", t0, t0)
	h.d.Send(a, nil)
	a.Labels["model_name"] = "changed"
	h.sync()
	h.advance(time.Second, time.Second)
	calls := h.n.all()
	if len(calls) != 1 || !calls[0].states["a"] {
		t.Fatalf("calls %v, want the alert as sent", calls)
	}
}
