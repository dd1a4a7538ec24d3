package alertmanager

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

func TestSendDeliversAlertFields(t *testing.T) {
	t.Parallel()
	f := newFakeAM(t, "")
	reg := prometheus.NewPedanticRegistry()
	o := fastOptions(f.URL())
	o.Registerer = reg
	s := mustNew(t, o)

	a := &notify.Alert{
		Labels: model.LabelSet{
			"alertname": "SLOBurnRate", "slo": "ttft", "severity": "critical", "Team": "Inference",
		},
		Annotations: model.LabelSet{
			"summary":     "TTFT SLO burning 14.4x",
			"runbook_url": "https://runbooks.example/ttft",
		},
		StartsAt:     t0,
		EndsAt:       t0.Add(4 * time.Minute),
		GeneratorURL: "http://sentinel.example:9105/slo/ttft",
	}
	s.Send(a, nil)
	// Send copies: a later change by the caller is not what gets sent.
	a.Labels["slo"] = "changed"

	notifytest.Run(t, s.Run)
	flush(t, s)

	got := f.alerts()
	if len(got) != 1 {
		t.Fatalf("delivered %d alerts, want 1", len(got))
	}
	g := got[0]
	wantLabels := map[string]string{"alertname": "SLOBurnRate", "slo": "ttft", "severity": "critical", "Team": "Inference"}
	if !mapsEqual(g.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", g.Labels, wantLabels)
	}
	wantAnn := map[string]string{"summary": "TTFT SLO burning 14.4x", "runbook_url": "https://runbooks.example/ttft"}
	if !mapsEqual(g.Annotations, wantAnn) {
		t.Errorf("annotations = %v, want %v", g.Annotations, wantAnn)
	}
	if st := time.Time(g.StartsAt); !st.Equal(t0) {
		t.Errorf("startsAt = %s, want %s", st, t0)
	}
	if et := time.Time(g.EndsAt); !et.Equal(t0.Add(4 * time.Minute)) {
		t.Errorf("endsAt = %s, want %s", et, t0.Add(4*time.Minute))
	}
	if g.GeneratorURL != "http://sentinel.example:9105/slo/ttft" {
		t.Errorf("generatorURL = %q", g.GeneratorURL)
	}

	url := f.URL()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vllm_sentinel_notifications_total", []string{"notifier", "am", "url", url, "result", "success"}, 1},
		{"vllm_sentinel_notifications_total", []string{"notifier", "am", "url", url, "result", "failure"}, 0},
		{"vllm_sentinel_notification_requests_total", []string{"notifier", "am", "url", url, "result", "success"}, 1},
		{"vllm_sentinel_notifications_dropped_total", []string{"notifier", "am", "url", url, "reason", "queue_full"}, 0},
		{"vllm_sentinel_notifications_dropped_total", []string{"notifier", "am", "url", url, "reason", "permanent_error"}, 0},
		{"vllm_sentinel_notification_queue_length", []string{"notifier", "am", "url", url}, 0},
		{"vllm_sentinel_notification_latency_seconds", []string{"notifier", "am", "url", url}, 1},
	} {
		if got := notifytest.MetricValue(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestRetryableFailureIsRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int // 0: the connection drops
	}{
		{"500", http.StatusInternalServerError},
		{"502", http.StatusBadGateway},
		{"503", http.StatusServiceUnavailable},
		{"429", http.StatusTooManyRequests},
		{"408", http.StatusRequestTimeout},
		{"connection dropped", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAM(t, "")
			f.setRespond(failFirst(2, tc.status, "try later"))
			reg := prometheus.NewPedanticRegistry()
			o := fastOptions(f.URL())
			o.Registerer = reg
			s := mustNew(t, o)
			s.Send(testAlerts("A", "B")...)
			notifytest.Run(t, s.Run)
			flush(t, s)

			if got, want := f.batches(), [][]string{{"A", "B"}}; !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("delivered %v, want %v once", got, want)
			}
			if n := f.requestCount(); tc.status != 0 && n != 3 {
				t.Errorf("%d requests, want 3", n)
			}
			url := f.URL()
			for _, c := range []struct {
				name   string
				labels []string
				want   float64
			}{
				{"vllm_sentinel_notifications_total", []string{"notifier", "am", "url", url, "result", "success"}, 2},
				{"vllm_sentinel_notifications_total", []string{"notifier", "am", "url", url, "result", "failure"}, 4},
				{"vllm_sentinel_notification_requests_total", []string{"notifier", "am", "url", url, "result", "success"}, 1},
				{"vllm_sentinel_notification_requests_total", []string{"notifier", "am", "url", url, "result", "failure"}, 2},
				{"vllm_sentinel_notifications_dropped_total", []string{"notifier", "am", "url", url, "reason", "permanent_error"}, 0},
			} {
				if got := notifytest.MetricValue(t, reg, c.name, c.labels...); got != c.want {
					t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
				}
			}
		})
	}
}

func TestPermanentErrorDropsBatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status     int
		body       string
		wantReason string
	}{
		// Alertmanager's answer to a label set it does not accept.
		{http.StatusBadRequest, `invalid label set: invalid name "0bad"`, `invalid label set: invalid name`},
		{http.StatusUnauthorized, "", "Unauthorized"},
		{http.StatusNotFound, "", "Not Found"},
		{http.StatusRequestEntityTooLarge, "too large", "too large"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			f := newFakeAM(t, "")
			f.setRespond(failFirst(1, tc.status, tc.body))
			reg := prometheus.NewPedanticRegistry()
			var logs notifytest.LogBuffer
			o := fastOptions(f.URL())
			o.Registerer = reg
			o.Logger = notifytest.NewLogger(&logs)
			s := mustNew(t, o)
			s.Send(testAlerts("A", "B")...)
			notifytest.Run(t, s.Run)
			flush(t, s)
			if n := f.requestCount(); n != 1 {
				t.Fatalf("%d requests, want 1: a refused batch is not retried", n)
			}
			// The loop goes on with later alerts.
			s.Send(testAlert("C"))
			flush(t, s)
			if got, want := f.names(), []string{"C"}; !slices.Equal(got, want) {
				t.Errorf("delivered %v, want %v", got, want)
			}
			url := f.URL()
			if got := notifytest.MetricValue(t, reg, "vllm_sentinel_notifications_dropped_total",
				"notifier", "am", "url", url, "reason", "permanent_error"); got != 2 {
				t.Errorf("dropped permanent_error = %v, want 2", got)
			}
			if got := notifytest.MetricValue(t, reg, "vllm_sentinel_notification_requests_total",
				"notifier", "am", "url", url, "result", "failure"); got != 1 {
				t.Errorf("failed requests = %v, want 1", got)
			}
			if !strings.Contains(logs.String(), tc.wantReason) {
				t.Errorf("log does not give the reason %q:\n%s", tc.wantReason, logs.String())
			}
		})
	}
}

func TestQueueFullDropsOldest(t *testing.T) {
	t.Parallel()
	f := newFakeAM(t, "")
	reg := prometheus.NewPedanticRegistry()
	var logs notifytest.LogBuffer
	o := fastOptions(f.URL())
	o.QueueCapacity = 3
	o.MaxBatch = 2
	o.Registerer = reg
	o.Logger = notifytest.NewLogger(&logs)
	s := mustNew(t, o)

	// Before Run, so that nothing leaves the queue meanwhile.
	s.Send(testAlerts("A1", "A2")...)
	s.Send(testAlert("A3"))
	s.Send(testAlerts("A4", "A5", "A6", "A7", "A8")...)

	url := f.URL()
	if got := notifytest.MetricValue(t, reg, "vllm_sentinel_notifications_dropped_total",
		"notifier", "am", "url", url, "reason", "queue_full"); got != 5 {
		t.Errorf("dropped queue_full = %v, want 5", got)
	}
	if got := notifytest.MetricValue(t, reg, "vllm_sentinel_notification_queue_length", "notifier", "am", "url", url); got != 3 {
		t.Errorf("queue length = %v, want 3", got)
	}
	if !strings.Contains(logs.String(), "queue full") {
		t.Errorf("no log of the drop:\n%s", logs.String())
	}

	notifytest.Run(t, s.Run)
	flush(t, s)
	if got, want := f.batches(), [][]string{{"A6", "A7"}, {"A8"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if got := notifytest.MetricValue(t, reg, "vllm_sentinel_notification_queue_length", "notifier", "am", "url", url); got != 0 {
		t.Errorf("queue length after flush = %v, want 0", got)
	}
}

func TestOrderHoldsWhileRetrying(t *testing.T) {
	t.Parallel()
	f := newFakeAM(t, "")
	failed := make(chan struct{})
	f.setRespond(func(n int) (int, string) {
		if n == 1 {
			close(failed)
			return http.StatusServiceUnavailable, "not now"
		}
		return http.StatusOK, ""
	})
	o := fastOptions(f.URL())
	o.Backoff = 20 * time.Millisecond
	o.MaxBackoff = 20 * time.Millisecond
	s := mustNew(t, o)
	s.Send(testAlert("A1"))
	notifytest.Run(t, s.Run)
	<-failed
	s.Send(testAlerts("A2", "A3")...)
	flush(t, s)
	if got, want := f.names(), []string{"A1", "A2", "A3"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
}

func TestPathPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, prefix, suffix string }{
		{"prefix", "/am", ""},
		{"trailing slash", "/am", "/"},
		{"two segments", "/monitoring/alertmanager", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAM(t, tc.prefix)
			s := mustNew(t, fastOptions(f.URL()+tc.suffix))
			s.Send(testAlert("A"))
			notifytest.Run(t, s.Run)
			flush(t, s)
			if got := f.names(); !slices.Equal(got, []string{"A"}) {
				t.Errorf("delivered %v, want [A]", got)
			}
		})
	}
}

func TestBasicAuthFromHTTPConfig(t *testing.T) {
	t.Parallel()
	const password = "s3cret-pw"
	f := newFakeAM(t, "")
	f.setRespond(failFirst(1, http.StatusServiceUnavailable, "not now"))
	var logs notifytest.LogBuffer
	o := fastOptions(f.URL())
	o.HTTPConfig = commoncfg.HTTPClientConfig{
		BasicAuth: &commoncfg.BasicAuth{Username: "sentinel", Password: password},
	}
	o.Logger = notifytest.NewLogger(&logs)
	s := mustNew(t, o)
	s.Send(testAlert("A"))
	notifytest.Run(t, s.Run)
	flush(t, s)

	want := basicAuthHeader(t, "sentinel", password)
	for i, h := range f.authHeaders() {
		if h != want {
			t.Errorf("request %d: Authorization %q, want %q", i+1, h, want)
		}
	}
	if len(f.authHeaders()) != 2 {
		t.Errorf("%d requests, want 2", len(f.authHeaders()))
	}

	f.setRespond(always(http.StatusServiceUnavailable, "down"))
	_, err := s.Notify(t.Context(), testAlert("B"))
	if err == nil {
		t.Fatal("Notify against a 503: no error")
	}
	f.srv.Close()
	_, err2 := s.Notify(t.Context(), testAlert("C"))
	if err2 == nil {
		t.Fatal("Notify against a closed server: no error")
	}
	for _, text := range []string{err.Error(), err2.Error(), logs.String()} {
		if strings.Contains(text, password) {
			t.Errorf("password leaked into %q", text)
		}
	}
	if !strings.Contains(logs.String(), "will retry") {
		t.Errorf("the failed attempt was not logged:\n%s", logs.String())
	}
}

func basicAuthHeader(t testing.TB, user, pw string) string {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	r.SetBasicAuth(user, pw)
	return r.Header.Get("Authorization")
}

func TestCredentialsInURL(t *testing.T) {
	t.Parallel()
	const password = "url-s3cret"
	f := newFakeAM(t, "/am")
	f.setRespond(failFirst(1, http.StatusInternalServerError, "boom"))
	reg := prometheus.NewPedanticRegistry()
	var logs notifytest.LogBuffer
	withCreds := strings.Replace(f.URL(), "http://", "http://alice:"+password+"@", 1)
	o := fastOptions(withCreds)
	o.Logger = notifytest.NewLogger(&logs)
	o.Registerer = reg
	s := mustNew(t, o)
	s.Send(testAlert("A"))
	notifytest.Run(t, s.Run)
	flush(t, s)

	if got, want := f.authHeaders()[0], basicAuthHeader(t, "alice", password); got != want {
		t.Errorf("Authorization %q, want %q", got, want)
	}
	// The URL label is the URL without credentials.
	if got := notifytest.MetricValue(t, reg, "vllm_sentinel_notifications_total",
		"notifier", "am", "url", f.URL(), "result", "success"); got != 1 {
		t.Errorf("success for %s = %v, want 1", f.URL(), got)
	}

	f.setRespond(always(http.StatusBadGateway, "down"))
	_, err := s.Notify(t.Context(), testAlert("B"))
	if err == nil || !strings.Contains(err.Error(), "alertmanager "+f.URL()+": post 1 alerts: HTTP 502: down") {
		t.Errorf("Notify error = %v, want it to name %s without credentials", err, f.URL())
	}
	mfs, _ := reg.Gather()
	for _, text := range []string{err.Error(), logs.String(), prometheusText(mfs)} {
		if strings.Contains(text, password) {
			t.Errorf("password leaked into %q", text)
		}
	}

	// Nor do the errors of New quote it.
	for _, raw := range []string{
		"http://alice:" + password + "@127.0.0.1:notaport",
		"http://alice:" + password + "@127.0.0.1:9093/?x=1",
		"ftp://alice:" + password + "@127.0.0.1:9093",
	} {
		_, err := New(Options{Name: "am", URLs: []string{raw}})
		if err == nil {
			t.Errorf("New(%q): no error", raw)
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("New error leaks the password: %v", err)
		}
	}
	o = fastOptions(withCreds)
	o.HTTPConfig.BasicAuth = &commoncfg.BasicAuth{Username: "bob", Password: "other"}
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "credentials both in the URL and in http_config") {
		t.Errorf("New with credentials in URL and http_config: err = %v", err)
	}
}

func prometheusText(mfs []*dto.MetricFamily) string {
	var b strings.Builder
	for _, mf := range mfs {
		b.WriteString(mf.String())
	}
	return b.String()
}

func TestEveryURLGetsEveryAlert(t *testing.T) {
	t.Parallel()
	f1, f2 := newFakeAM(t, ""), newFakeAM(t, "/am")
	s := mustNew(t, fastOptions(f1.URL(), f2.URL()))
	s.Send(testAlerts("A", "B")...)
	s.Send(testAlert("C"))
	notifytest.Run(t, s.Run)
	flush(t, s)
	for _, f := range []*fakeAM{f1, f2} {
		if got, want := f.names(), []string{"A", "B", "C"}; !slices.Equal(got, want) {
			t.Errorf("%s got %v, want %v", f.URL(), got, want)
		}
	}
}

func TestOneURLDownDoesNotHoldBackTheOthers(t *testing.T) {
	t.Parallel()
	up, down := newFakeAM(t, ""), newFakeAM(t, "")
	down.setRespond(always(http.StatusServiceUnavailable, "down"))
	s := mustNew(t, fastOptions(up.URL(), down.URL()))
	notifytest.Run(t, s.Run)
	s.Send(testAlerts("A", "B")...)

	eventually(t, "delivery to the healthy Alertmanager", func() bool { return len(up.names()) == 2 })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := s.Flush(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush = %v, want a deadline error", err)
	}
	if want := "alertmanager " + down.URL() + ": 2 alerts not delivered"; !strings.Contains(err.Error(), want) {
		t.Errorf("Flush error %q does not say %q", err, want)
	}
	if strings.Contains(err.Error(), up.URL()+":") {
		t.Errorf("Flush error %q names the healthy URL", err)
	}
}

func TestNotify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		responds  []func(int) (int, string)
		maxBatch  int
		wantRetry bool
		wantErrs  []string
		wantCodes []int
		wantReqs  []int
	}{
		{
			name:     "success",
			responds: []func(int) (int, string){nil, nil},
			wantReqs: []int{1, 1},
		},
		{
			name:     "batches",
			responds: []func(int) (int, string){nil},
			maxBatch: 2,
			wantReqs: []int{3},
		},
		{
			name:      "server error is retryable",
			responds:  []func(int) (int, string){always(http.StatusServiceUnavailable, "down")},
			maxBatch:  2,
			wantRetry: true,
			wantErrs:  []string{"post 2 alerts: HTTP 503: down"},
			wantCodes: []int{503},
			// The next batch would meet the same outage.
			wantReqs: []int{1},
		},
		{
			name:      "refusal is not retryable",
			responds:  []func(int) (int, string){always(http.StatusBadRequest, "bad alerts")},
			wantErrs:  []string{"post 5 alerts: HTTP 400: bad alerts"},
			wantCodes: []int{400},
			wantReqs:  []int{1},
		},
		{
			name: "one URL refuses, one fails",
			responds: []func(int) (int, string){
				always(http.StatusBadRequest, "bad alerts"),
				always(http.StatusInternalServerError, "boom"),
			},
			wantRetry: true,
			wantErrs:  []string{"HTTP 400: bad alerts", "HTTP 500: boom"},
			wantCodes: []int{400, 500},
			wantReqs:  []int{1, 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var fakes []*fakeAM
			var urls []string
			for _, r := range tc.responds {
				f := newFakeAM(t, "")
				f.setRespond(r)
				fakes = append(fakes, f)
				urls = append(urls, f.URL())
			}
			o := fastOptions(urls...)
			o.MaxBatch = tc.maxBatch
			s := mustNew(t, o)
			retry, err := s.Notify(t.Context(), testAlerts("A", "B", "C", "D", "E")...)
			if retry != tc.wantRetry {
				t.Errorf("retry = %v, want %v", retry, tc.wantRetry)
			}
			if len(tc.wantErrs) == 0 && err != nil {
				t.Errorf("err = %v, want none", err)
			}
			for _, want := range tc.wantErrs {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v, want it to contain %q", err, want)
				}
			}
			for i, code := range tc.wantCodes {
				var codes []int
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					if se, ok := errors.AsType[*notify.StatusError](e); ok {
						codes = append(codes, se.Code)
					}
				}
				if !slices.Contains(codes, code) {
					t.Errorf("wantCodes[%d]: no StatusError with code %d in %v", i, code, err)
				}
			}
			for i, f := range fakes {
				if got := f.requestCount(); got != tc.wantReqs[i] {
					t.Errorf("%s: %d requests, want %d", f.URL(), got, tc.wantReqs[i])
				}
			}
		})
	}
}

func TestNotifyEmpty(t *testing.T) {
	t.Parallel()
	f := newFakeAM(t, "")
	s := mustNew(t, fastOptions(f.URL()))
	if retry, err := s.Notify(t.Context(), nil); retry || err != nil {
		t.Errorf("Notify(nil) = %v, %v; want false, nil", retry, err)
	}
	if n := f.requestCount(); n != 0 {
		t.Errorf("%d requests for no alerts", n)
	}
}

func TestSharedRegisterer(t *testing.T) {
	t.Parallel()
	f := newFakeAM(t, "")
	reg := prometheus.NewPedanticRegistry()
	var senders []*Sender
	for _, name := range []string{"am", "am-backup", "am"} {
		o := fastOptions(f.URL())
		o.Name = name
		o.Registerer = reg
		senders = append(senders, mustNew(t, o))
	}
	for _, s := range senders {
		if _, err := s.Notify(t.Context(), testAlert("A")); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	// The second "am" (a reload) adds to the first one's counters.
	for name, want := range map[string]float64{"am": 2, "am-backup": 1} {
		if got := notifytest.MetricValue(t, reg, "vllm_sentinel_notifications_total",
			"notifier", name, "url", f.URL(), "result", "success"); got != want {
			t.Errorf("notifier %s: success = %v, want %v", name, got, want)
		}
	}

	// A clashing collector is an error from New, not a panic.
	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "vllm_sentinel_notification_queue_length", Help: "other"}))
	o := fastOptions(f.URL())
	o.Registerer = clash
	if _, err := New(o); err == nil {
		t.Error("New with a clashing metric registered: no error")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		mod     func(*Options)
		wantErr string
	}{
		{"no name", func(o *Options) { o.Name = "" }, "a notifier name is required"},
		{"no URLs", func(o *Options) { o.URLs = nil }, "alertmanager am: no URLs"},
		{"scheme", func(o *Options) { o.URLs = []string{"unix:///run/am.sock"} }, "urls[0]: URL unix:///run/am.sock: scheme must be http or https"},
		{"no host", func(o *Options) { o.URLs = []string{"http:///am"} }, "urls[0]: URL http:///am: no host"},
		{"query", func(o *Options) { o.URLs = []string{"http://am:9093?x=1"} }, "query and fragment are not supported"},
		{"duplicate", func(o *Options) { o.URLs = []string{"http://am:9093", "http://am:9093/"} }, "urls[1]: duplicate URL http://am:9093"},
		{"negative timeout", func(o *Options) { o.Timeout = -time.Second }, "must not be negative"},
		{"backoffs", func(o *Options) { o.Backoff = time.Minute; o.MaxBackoff = time.Second }, "max backoff 1s is shorter than backoff 1m0s"},
		{"http config", func(o *Options) {
			o.HTTPConfig = commoncfg.HTTPClientConfig{BearerToken: "t", BasicAuth: &commoncfg.BasicAuth{Username: "u"}}
		}, "http_config: at most one of basic_auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := Options{Name: "am", URLs: []string{"http://am:9093"}}
			tc.mod(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New: err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewLeavesHTTPConfigAlone(t *testing.T) {
	t.Parallel()
	az := &commoncfg.Authorization{Credentials: "token"}
	o := Options{Name: "am", URLs: []string{"http://am:9093"}, HTTPConfig: commoncfg.HTTPClientConfig{Authorization: az}}
	if _, err := New(o); err != nil {
		t.Fatal(err)
	}
	if az.Type != "" {
		t.Errorf("New changed the caller's authorization type to %q", az.Type)
	}
}

func TestBearerTokenReachesServer(t *testing.T) {
	t.Parallel()
	f := newFakeAM(t, "")
	o := fastOptions(f.URL())
	o.HTTPConfig = commoncfg.HTTPClientConfig{Authorization: &commoncfg.Authorization{Credentials: "tok3n"}}
	s := mustNew(t, o)
	if _, err := s.Notify(t.Context(), testAlert("A")); err != nil {
		t.Fatal(err)
	}
	if got := f.authHeaders(); len(got) != 1 || got[0] != "Bearer tok3n" {
		t.Errorf("Authorization = %q, want [Bearer tok3n]", got)
	}
}

// TestRunStopsAndResumes is not parallel: it counts goroutines.
func TestRunStopsAndResumes(t *testing.T) {
	before := runtime.NumGoroutine()
	// Nothing listens at first, so no attempt can reach a server and be
	// delivered after Run was told to stop.
	addr := unusedAddr(t)
	url := "http://" + addr
	reg := prometheus.NewPedanticRegistry()
	o := fastOptions(url)
	o.Registerer = reg
	s := mustNew(t, o)
	s.Send(testAlert("A"))

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	eventually(t, "failed attempts", func() bool {
		return notifytest.MetricValue(t, reg, "vllm_sentinel_notification_requests_total",
			"notifier", "am", "url", url, "result", "failure") >= 2
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}

	// The batch that was being retried is queued again, not lost.
	expired, cancelExpired := context.WithCancel(t.Context())
	cancelExpired()
	if err := s.Flush(expired); err == nil || !strings.Contains(err.Error(), "1 alerts not delivered") {
		t.Errorf("Flush after Run stopped = %v, want 1 alert left", err)
	}
	if got := notifytest.MetricValue(t, reg, "vllm_sentinel_notification_queue_length", "notifier", "am", "url", url); got != 1 {
		t.Errorf("queue length = %v, want 1", got)
	}

	f := newFakeAMAt(t, addr)
	ctx2, cancel2 := context.WithCancel(t.Context())
	done2 := make(chan struct{})
	go func() { defer close(done2); s.Run(ctx2) }()
	flush(t, s)
	if got := f.names(); !slices.Equal(got, []string{"A"}) {
		t.Errorf("delivered %v after the second Run, want [A]", got)
	}
	cancel2()
	<-done2
	f.srv.Close()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunTwiceAtOncePanics(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Options{Name: "am", URLs: []string{"http://127.0.0.1:1"}})
	notifytest.Run(t, s.Run)
	eventually(t, "Run to start", s.running.Load)
	defer func() {
		if recover() == nil {
			t.Error("second concurrent Run did not panic")
		}
	}()
	s.Run(t.Context())
}

func TestFlushWithoutWorkReturns(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Options{Name: "am", URLs: []string{"http://127.0.0.1:1"}})
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Errorf("Flush with nothing queued: %v", err)
	}
}

func TestReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code int
		body string
		want string
	}{
		{400, `"invalid label set"` + "\n", "invalid label set"},
		{502, "<html>\n<body>Bad   Gateway</body>\n</html>", "<html> <body>Bad Gateway</body> </html>"},
		{503, "", "Service Unavailable"},
	} {
		if got := reason(tc.code, []byte(tc.body)); got != tc.want {
			t.Errorf("reason(%d, %q) = %q, want %q", tc.code, tc.body, got, tc.want)
		}
	}
}
