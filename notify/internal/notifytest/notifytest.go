// Package notifytest holds the test doubles that the notifier packages'
// tests share: a manual clock, a log buffer, metric lookups and the loop
// around a running Dispatcher. It is for _test.go files only; no production
// code imports it. It imports nothing of notify, so that package notify's
// own tests may use it without an import cycle.
package notifytest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Clock is a manual clock, safe for concurrent use. Time moves only by
// Advance and Sleep, so tests decide what is due when.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// After never fires: tests move the clock with Advance and let the loop
// catch up with a Sync, rather than race a timer.
func (c *Clock) After(time.Duration) <-chan time.Time { return nil }

// Sleep moves the clock by d at once, so that a notifier waiting out a
// rate limit costs the test no wall time.
func (c *Clock) Sleep(_ context.Context, d time.Duration) error {
	c.Advance(d)
	return nil
}

// LogBuffer collects log output from several goroutines.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// NewLogger logs everything, debug included, as text to w.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// MetricValue returns the value (a histogram's sample count) of the one
// series of name whose labels include the given name, value pairs. It fails
// the test when there is no such series, or more than one, so that a
// lookup cannot pass on the wrong series.
func MetricValue(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	if len(labels)%2 != 0 {
		t.Fatalf("MetricValue(%s): odd number of label arguments %q", name, labels)
	}
	want := map[string]string{}
	for i := 0; i < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var found []float64
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
			switch {
			case m.Counter != nil:
				found = append(found, m.GetCounter().GetValue())
			case m.Gauge != nil:
				found = append(found, m.GetGauge().GetValue())
			case m.Histogram != nil:
				found = append(found, float64(m.GetHistogram().GetSampleCount()))
			default:
				found = append(found, 0)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d series %s%v, want 1", len(found), name, want)
	}
	return found[0]
}

// Run runs run in a goroutine until the test ends, and returns a function
// that stops it and waits for it to return (at most a few seconds, then
// the test fails). Stopping twice is harmless.
func Run(t testing.TB, run func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Error("Run did not return after its context was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Syncer is a running loop that can be asked to catch up with the clock:
// dispatch.Dispatcher's Sync.
type Syncer interface {
	Sync(ctx context.Context) error
}

// Sync waits, a few seconds at most, until s has done all that is due now.
func Sync(t testing.TB, s Syncer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// Advance moves c by total in steps of at most step, letting s catch up
// after each, so that what falls due in between happens at its own time.
func Advance(t testing.TB, c *Clock, s Syncer, total, step time.Duration) {
	t.Helper()
	for total > 0 {
		d := min(step, total)
		c.Advance(d)
		total -= d
		Sync(t, s)
	}
}
