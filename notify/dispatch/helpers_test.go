package dispatch_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

var t0 = time.Unix(0, 0).UTC()

// call is one Notify call as the fake notifier saw it.
type call struct {
	meta   notify.Meta
	at     time.Time       // the clock when called
	states map[string]bool // alert (labels string) → firing at meta.Created
	ok     bool            // the notifier answered success
}

func (c call) String() string {
	var parts []string
	for k, f := range c.states {
		s := "resolved"
		if f {
			s = "firing"
		}
		parts = append(parts, k+"="+s)
	}
	return fmt.Sprintf("%s@%s[%s]", c.meta.ID, c.meta.Created.Sub(t0), strings.Join(parts, " "))
}

// fakeNotifier records calls and answers with respond (nil: success).
type fakeNotifier struct {
	clock   *notifytest.Clock
	mu      sync.Mutex
	calls   []call
	respond func(n int) (retry bool, err error)
}

func (f *fakeNotifier) Notify(ctx context.Context, alerts ...*notify.Alert) (bool, error) {
	meta, ok := notify.MetaFrom(ctx)
	if !ok {
		return false, fmt.Errorf("no meta on the context")
	}
	c := call{meta: meta, at: f.clock.Now(), states: map[string]bool{}}
	for _, a := range alerts {
		c.states[alertKey(a)] = !notify.Resolved(a, meta.Created)
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	n := len(f.calls)
	respond := f.respond
	f.mu.Unlock()
	var retry bool
	var err error
	if respond != nil {
		retry, err = respond(n)
	}
	f.mu.Lock()
	f.calls[n-1].ok = err == nil
	f.mu.Unlock()
	return retry, err
}

// delivered returns the successful calls.
func (f *fakeNotifier) delivered() []call {
	var out []call
	for _, c := range f.all() {
		if c.ok {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeNotifier) setRespond(fn func(n int) (bool, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.respond = fn
}

func (f *fakeNotifier) all() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func alertKey(a *notify.Alert) string {
	if m, ok := a.Labels["model_name"]; ok {
		return string(m)
	}
	return a.Labels.String()
}

// harness runs a Dispatcher on a manual clock.
type harness struct {
	t     testing.TB
	clock *notifytest.Clock
	n     *fakeNotifier
	reg   *prometheus.Registry
	opts  dispatch.Options
	d     *dispatch.Dispatcher
	stop  func()
}

func newHarness(t testing.TB, o dispatch.Options) *harness {
	t.Helper()
	c := notifytest.NewClock(t0)
	h := &harness{t: t, clock: c, n: &fakeNotifier{clock: c}, reg: prometheus.NewPedanticRegistry()}
	if o.Name == "" {
		o.Name = "hooks"
	}
	o.Now, o.After, o.Registerer = c.Now, c.After, h.reg
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	h.opts = o
	h.start()
	return h
}

func (h *harness) start() {
	h.t.Helper()
	d, err := dispatch.New(h.n, h.opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.d, h.stop = d, notifytest.Run(h.t, d.Run)
}

// restart stops the Dispatcher and starts a new one on the same options
// (and OutboxDir), as a daemon restart does.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

func (h *harness) sync() {
	h.t.Helper()
	notifytest.Sync(h.t, h.d)
}

// send sends alerts and lets the loop take them in.
func (h *harness) send(alerts ...*notify.Alert) {
	h.t.Helper()
	h.d.Send(alerts...)
	h.sync()
}

// advance moves the clock in steps of at most step, syncing after each.
func (h *harness) advance(total, step time.Duration) {
	h.t.Helper()
	notifytest.Advance(h.t, h.clock, h.d, total, step)
}

func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	return notifytest.MetricValue(h.t, h.reg, name, labels...)
}

// firing is an alert as the engine sends it at now: endsAt = now + 4m.
func firing(model_ string, startsAt, now time.Time) *notify.Alert {
	return &notify.Alert{
		Labels: model.LabelSet{
			"alertname": "SLOBurnRate", "slo": "ttft", "severity": "critical", "model_name": model.LabelValue(model_),
		},
		Annotations: model.LabelSet{"summary": model.LabelValue("SLO ttft burning for " + model_)},
		StartsAt:    startsAt,
		EndsAt:      now.Add(4 * time.Minute),
	}
}

func resolved(model_ string, startsAt, at time.Time) *notify.Alert {
	a := firing(model_, startsAt, at)
	a.EndsAt = at
	return a
}

// testLogger sends logs to the test's log, shown on failure or with -v.
func testLogger(t testing.TB) *slog.Logger {
	return notifytest.NewLogger(tWriter{t})
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
