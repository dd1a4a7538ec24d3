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
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
)

var t0 = time.Unix(0, 0).UTC()

// clock is a manual clock. After never fires: tests move time with
// advance and let the loop catch up with Sync.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) After(time.Duration) <-chan time.Time { return nil }

// call is one Notify call as the fake notifier saw it.
type call struct {
	meta   dispatch.Meta
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
	clock   *clock
	mu      sync.Mutex
	calls   []call
	respond func(n int) (retry bool, err error)
}

func (f *fakeNotifier) Notify(ctx context.Context, alerts ...*notify.Alert) (bool, error) {
	meta, ok := dispatch.MetaFrom(ctx)
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
	t      testing.TB
	clock  *clock
	n      *fakeNotifier
	reg    *prometheus.Registry
	opts   dispatch.Options
	d      *dispatch.Dispatcher
	cancel context.CancelFunc
	done   chan struct{}
}

func newHarness(t testing.TB, o dispatch.Options) *harness {
	t.Helper()
	c := &clock{now: t0}
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
	ctx, cancel := context.WithCancel(context.Background())
	h.d, h.cancel, h.done = d, cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		d.Run(ctx)
	}()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.d.Sync(ctx); err != nil {
		h.t.Fatal(err)
	}
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
	for total > 0 {
		d := min(step, total)
		h.clock.advance(d)
		total -= d
		h.sync()
	}
}

func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	return metricValue(h.t, h.reg, name, labels...)
}

func metricValue(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue next
				}
			}
			return value(m)
		}
	}
	t.Fatalf("no series %s%v", name, want)
	return 0
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
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

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tWriter sends logs to the test's log, shown on failure or with -v.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func slogTo(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
