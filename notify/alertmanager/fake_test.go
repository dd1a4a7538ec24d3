package alertmanager

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/internal/poll"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// t0 is the base time of the unit tests; millisecond precision, as the API
// keeps.
var t0 = time.Unix(1_767_225_600, 123e6).UTC()

// fakeAM checks requests the way Alertmanager's API v2 does (path, method,
// JSON body decoded and validated as PostableAlerts) and answers with the
// status its respond func picks.
type fakeAM struct {
	t      testing.TB
	srv    *httptest.Server
	prefix string

	mu sync.Mutex
	// respond picks the answer to the n-th request (from 1); nil means 200.
	// A zero status closes the connection without answering.
	respond   func(n int) (status int, body string)
	requests  int
	delivered [][]*models.PostableAlert // bodies answered with 2xx
	auth      []string                  // Authorization header of each request
}

func newFakeAM(t testing.TB, prefix string) *fakeAM {
	f := &fakeAM{t: t, prefix: prefix}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// newFakeAMAt serves on addr, where an Alertmanager that was down comes
// back.
func newFakeAMAt(t testing.TB, addr string) *fakeAM {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	f := &fakeAM{t: t}
	f.srv = httptest.NewUnstartedServer(f)
	f.srv.Listener.Close()
	f.srv.Listener = ln
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// unusedAddr is a loopback address where nothing listens, for now.
func unusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (f *fakeAM) URL() string { return f.srv.URL + f.prefix }

func (f *fakeAM) setRespond(fn func(n int) (int, string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.respond = fn
}

func (f *fakeAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if want := f.prefix + "/api/v2/alerts"; r.Method != http.MethodPost || r.URL.Path != want {
		f.t.Errorf("fake Alertmanager: %s %s, want POST %s", r.Method, r.URL.Path, want)
		http.NotFound(w, r)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.t.Errorf("fake Alertmanager: Content-Type %q, want application/json", ct)
	}
	var alerts models.PostableAlerts
	if err := json.NewDecoder(r.Body).Decode(&alerts); err != nil {
		f.t.Errorf("fake Alertmanager: decode body: %v", err)
		writeJSON(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := alerts.Validate(strfmt.Default); err != nil {
		f.t.Errorf("fake Alertmanager: invalid alerts: %v", err)
		writeJSON(w, http.StatusBadRequest, err.Error())
		return
	}

	f.mu.Lock()
	f.requests++
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	status, body := http.StatusOK, ""
	if f.respond != nil {
		status, body = f.respond(f.requests)
	}
	if status/100 == 2 {
		f.delivered = append(f.delivered, alerts)
	}
	f.mu.Unlock()

	if status == 0 {
		// A transport failure: the client sees the connection drop.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			f.t.Errorf("fake Alertmanager: hijack: %v", err)
			return
		}
		conn.Close()
		return
	}
	writeJSON(w, status, body)
}

// writeJSON answers as Alertmanager does: a JSON string body, empty on 200.
func writeJSON(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if msg != "" {
		_ = json.NewEncoder(w).Encode(msg)
	}
}

func (f *fakeAM) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// batches returns the alertname label of each delivered alert, per request.
func (f *fakeAM) batches() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]string
	for _, b := range f.delivered {
		var names []string
		for _, a := range b {
			names = append(names, a.Labels["alertname"])
		}
		out = append(out, names)
	}
	return out
}

// names flattens batches.
func (f *fakeAM) names() []string {
	var out []string
	for _, b := range f.batches() {
		out = append(out, b...)
	}
	return out
}

func (f *fakeAM) alerts() []*models.PostableAlert {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*models.PostableAlert
	for _, b := range f.delivered {
		out = append(out, b...)
	}
	return out
}

func (f *fakeAM) authHeaders() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...)
}

// always answers every request with the same status.
func always(status int, body string) func(int) (int, string) {
	return func(int) (int, string) { return status, body }
}

// failFirst answers the first n requests with status, then 200.
func failFirst(n, status int, body string) func(int) (int, string) {
	return func(i int) (int, string) {
		if i <= n {
			return status, body
		}
		return http.StatusOK, ""
	}
}

func testAlert(name string) *notify.Alert {
	return &notify.Alert{
		Labels:   model.LabelSet{"alertname": model.LabelValue(name), "severity": "warning"},
		StartsAt: t0,
		EndsAt:   t0.Add(4 * time.Minute),
	}
}

func testAlerts(names ...string) []*notify.Alert {
	out := make([]*notify.Alert, len(names))
	for i, n := range names {
		out[i] = testAlert(n)
	}
	return out
}

// fastOptions keeps retries in the milliseconds.
func fastOptions(urls ...string) Options {
	return Options{
		Name:       "am",
		URLs:       urls,
		Timeout:    5 * time.Second,
		Backoff:    time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
	}
}

func mustNew(t testing.TB, o Options) *Sender {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func flush(t testing.TB, s *Sender) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// eventually polls cond until it holds or a few seconds pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, cond)
}
