// Package notifytest holds the test doubles that the notifier packages'
// tests share: a manual clock, a log buffer, metric lookups, the loop
// around a running Dispatcher, servers that answer oddly, and the checks
// that every receiver's tests run: its answers to those servers
// (OddAnswersTest, AnswerFuzz) and its config decoding (DecodeAgreement,
// DecodeFuzz). It is for _test.go files only; no production code imports
// it. It imports nothing of notify, so that package notify's own tests may
// use it without an import cycle.
package notifytest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	SyncWithin(t, s, 5*time.Second)
}

// SyncWithin is Sync for work that may take up to wait, such as a first
// load that reads a large file.
func SyncWithin(t testing.TB, s Syncer, wait time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
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

// Answer is how a receiver, or a proxy in front of it, answers a POST.
type Answer struct {
	Status int
	Header http.Header
	// Body is sent after the header, then Size bytes of 'x' if Size > 0.
	Body string
	Size int
	// Stall, when set, holds the body back after its first byte for that
	// long, or until the client gives up.
	Stall time.Duration
}

// AnswerServer serves a on every request until the test ends.
func AnswerServer(t testing.TB, a Answer) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serve(w, r) }))
	t.Cleanup(srv.Close)
	return srv
}

// AnswerSwitch is a server that answers as it was last told to, for fuzz
// targets, which make one server and try many answers.
type AnswerSwitch struct {
	srv *httptest.Server
	mu  sync.Mutex
	a   Answer
}

// NewAnswerSwitch starts an AnswerSwitch that answers 200 until Set.
func NewAnswerSwitch(t testing.TB) *AnswerSwitch {
	s := &AnswerSwitch{a: Answer{Status: http.StatusOK}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		a := s.a
		s.mu.Unlock()
		a.serve(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the server's base URL.
func (s *AnswerSwitch) URL() string { return s.srv.URL }

// Set makes a the answer to the next requests.
func (s *AnswerSwitch) Set(a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.a = a
}

func (a Answer) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	for k, vs := range a.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(a.Status)
	body := a.Body
	if a.Stall > 0 {
		if body == "" {
			body = " "
		}
		_, _ = io.WriteString(w, body[:1])
		w.(http.Flusher).Flush()
		select {
		case <-time.After(a.Stall):
		case <-r.Context().Done():
			return
		}
		body = body[1:]
	}
	_, _ = io.WriteString(w, body)
	chunk := []byte(strings.Repeat("x", 32<<10))
	for n := a.Size; n > 0; n -= len(chunk) {
		if _, err := w.Write(chunk[:min(n, len(chunk))]); err != nil {
			return
		}
	}
}

// OddAnswers are answers no receiver should give, and some do: what every
// notifier must survive, each as a name and the Answer. The expectations
// are the notifier's own.
func OddAnswers() map[string]Answer {
	html := http.Header{"Content-Type": {"text/html"}}
	return map[string]Answer{
		"200 huge body":             {Status: 200, Size: 8 << 20},
		"200 garbage":               {Status: 200, Body: "\x00\xff\xfe garbage \x1b[31m"},
		"200 HTML page":             {Status: 200, Header: html, Body: "<html><body>Please log in to the proxy</body></html>"},
		"200 invalid JSON":          {Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: `{"ok": tru`},
		"200 stalled body":          {Status: 200, Body: "ok", Stall: time.Minute},
		"204 no body":               {Status: 204},
		"500 HTML page":             {Status: 500, Header: html, Body: "<html>\n<body>" + strings.Repeat("Internal Server Error ", 200) + "</body>\n</html>"},
		"502 huge body":             {Status: 502, Size: 8 << 20},
		"400 invalid JSON":          {Status: 400, Header: http.Header{"Content-Type": {"application/json"}}, Body: `{"error": `},
		"400 broken content type":   {Status: 400, Header: http.Header{"Content-Type": {"text/html; charset"}}, Body: "bad request"},
		"400 stalled body":          {Status: 400, Body: "bad", Stall: time.Minute},
		"429 Retry-After bad":       {Status: 429, Header: http.Header{"Retry-After": {"soon, maybe"}}},
		"429 Retry-After negative":  {Status: 429, Header: http.Header{"Retry-After": {"-30"}}},
		"429 Retry-After huge":      {Status: 429, Header: http.Header{"Retry-After": {"99999999999999999999999"}}},
		"429 Retry-After overflows": {Status: 429, Header: http.Header{"Retry-After": {"18446744074"}}},
		"503 Retry-After far date":  {Status: 503, Header: http.Header{"Retry-After": {"Fri, 31 Dec 9999 23:59:59 GMT"}}},
		"301 without Location":      {Status: 301},
	}
}

// HeaderValue is s without the control characters that would make an
// answer malformed: a fuzz target's header value, sent as an HTTP server
// can send it.
func HeaderValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
