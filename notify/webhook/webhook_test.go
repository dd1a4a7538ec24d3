package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promreg"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/webhook"
)

func newNotifier(t testing.TB, o webhook.Options) *webhook.Notifier {
	t.Helper()
	if o.Name == "" {
		o.Name = "hooks"
	}
	n, err := webhook.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The signature of the Standard Webhooks spec's own example.
func TestSignSpecExample(t *testing.T) {
	t.Parallel()
	key, err := webhook.ParseSigningKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

// The test's verifier refuses what it should, so that its passing means
// something.
func TestVerifierRefusesTampering(t *testing.T) {
	t.Parallel()
	key, _ := webhook.ParseSigningKey(secret)
	body := []byte(`{"version":"4"}`)
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", "1700000000")
	h.Set("webhook-signature", "v0,xyz "+webhook.Sign(key, "msg_1", 1700000000, body))
	if err := verify(secret, h, body, t0); err != nil {
		t.Fatalf("a good signature fails: %v", err)
	}
	if verify(secret, h, []byte(`{"version":"5"}`), t0) == nil {
		t.Error("a changed body passes")
	}
	if verify(secret, h, body, t0.Add(time.Hour)) == nil {
		t.Error("an old timestamp passes")
	}
	h2 := h.Clone()
	h2.Set("webhook-id", "msg_2")
	if verify(secret, h2, body, t0) == nil {
		t.Error("a changed id passes")
	}
	if verify("whsec_"+strings.Repeat("A", 44), h, body, t0) == nil {
		t.Error("another key passes")
	}
}

// The payload decodes strictly into Alertmanager's own types with the
// values Alertmanager would send.
func TestPayloadIsAlertmanagers(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(t0)
	f := newFakeHook(t, c, secret)
	n := newNotifier(t, webhook.Options{URL: f.URL(), SigningKey: secret, Now: c.Now, ExternalURL: "http://sentinel.example:9105", MaxAlerts: 2})
	a := alert("llama", "ttft", t0.Add(-time.Hour), t0.Add(4*time.Minute))
	b := alert("mistral", "ttft", t0.Add(-time.Hour), t0.Add(-time.Minute))
	b.Annotations["summary"] = "other"
	x := alert("qwen", "ttft", t0, t0.Add(4*time.Minute))
	ctx := notify.WithMeta(context.Background(), notify.Meta{
		ID: "msg_abc", GroupKey: `{}:{alertname="SLOBurnRate", slo="ttft"}`, Created: t0,
		GroupLabels: model.LabelSet{"alertname": "SLOBurnRate", "slo": "ttft"},
	})
	if retry, err := n.Notify(ctx, a, b, x); err != nil {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	reqs := f.all()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	m := r.msg
	if r.id != "msg_abc" || r.ts != "1700000000" {
		t.Errorf("webhook-id %q timestamp %q", r.id, r.ts)
	}
	if m.Version != "4" || m.Status != "firing" || m.Receiver != "hooks" || m.GroupKey != `{}:{alertname="SLOBurnRate", slo="ttft"}` ||
		m.ExternalURL != "http://sentinel.example:9105" || m.TruncatedAlerts != 1 {
		t.Errorf("message %+v", m)
	}
	if got := m.GroupLabels; len(got) != 2 || got["slo"] != "ttft" {
		t.Errorf("groupLabels %v", got)
	}
	if got := m.CommonLabels; len(got) != 3 || got["severity"] != "critical" {
		t.Errorf("commonLabels %v", got)
	}
	if got := m.CommonAnnotations; len(got) != 1 || got["runbook_url"] != "https://runbooks.example/ttft" {
		t.Errorf("commonAnnotations %v", got)
	}
	if len(m.Alerts) != 2 {
		t.Fatalf("%d alerts, want 2 (MaxAlerts)", len(m.Alerts))
	}
	fa, ra := m.Alerts[0], m.Alerts[1]
	if fa.Status != "firing" || !fa.EndsAt.IsZero() || !fa.StartsAt.Equal(t0.Add(-time.Hour)) || fa.Labels["model_name"] != "llama" ||
		fa.GeneratorURL != "http://sentinel.example:9105/" || fa.Fingerprint != a.Fingerprint().String() {
		t.Errorf("firing alert %+v", fa)
	}
	if ra.Status != "resolved" || !ra.EndsAt.Equal(t0.Add(-time.Minute)) || ra.Annotations["summary"] != "other" {
		t.Errorf("resolved alert %+v", ra)
	}
	for _, field := range []string{`"groupLabels":{`, `"commonAnnotations":{`, `"truncatedAlerts":1`, `"endsAt":"0001-01-01T00:00:00Z"`} {
		if !strings.Contains(string(r.raw), field) {
			t.Errorf("payload lacks %s:\n%s", field, r.raw)
		}
	}
}

// Called without a dispatcher, the notifier makes its own ID and sends
// empty objects, never null.
func TestNotifyWithoutMeta(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(t0)
	f := newFakeHook(t, c, "")
	n := newNotifier(t, webhook.Options{URL: f.URL(), Now: c.Now})
	if _, err := n.Notify(context.Background(), alert("a", "ttft", t0, t0.Add(time.Minute)), nil); err != nil {
		t.Fatal(err)
	}
	r := f.all()[0]
	if !strings.HasPrefix(r.id, "msg_") || r.header.Get("webhook-signature") != "" {
		t.Errorf("id %q signature %q; want a generated id, unsigned", r.id, r.header.Get("webhook-signature"))
	}
	if !strings.Contains(string(r.raw), `"groupLabels":{}`) || !strings.Contains(string(r.raw), `"groupKey":"{}:{}"`) {
		t.Errorf("payload %s", r.raw)
	}
}

// Retries carry the same webhook-id and body, freshly timestamped and
// signed.
func TestRetriesKeepTheID(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(t0)
	f := newFakeHook(t, c, secret)
	f.setRespond(func(n int) (int, http.Header) {
		switch n {
		case 1:
			return http.StatusServiceUnavailable, nil
		case 2:
			return -1, nil // connection dropped
		case 3:
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"20"}}
		}
		return http.StatusNoContent, nil
	})
	n := newNotifier(t, webhook.Options{URL: f.URL(), SigningKey: secret, Now: c.Now})
	d, err := dispatch.New(n, dispatch.Options{Name: "hooks", GroupWait: time.Second, Backoff: 2 * time.Second, MaxBackoff: 8 * time.Second, Now: c.Now, After: c.After})
	if err != nil {
		t.Fatal(err)
	}
	notifytest.Run(t, d.Run)
	d.Send(alert("a", "ttft", t0, t0.Add(4*time.Minute)))
	for range 240 {
		c.Advance(250 * time.Millisecond)
		if err := d.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	reqs := f.all()
	if len(reqs) != 4 || !reqs[3].accepted {
		t.Fatalf("%d requests, want 4 ending in success", len(reqs))
	}
	for i, r := range reqs[1:] {
		if r.id != reqs[0].id || string(r.raw) != string(reqs[0].raw) {
			t.Errorf("attempt %d: id %s, want %s and the same body", i+2, r.id, reqs[0].id)
		}
	}
	if reqs[3].ts == reqs[0].ts {
		t.Errorf("retry reuses the first timestamp %s", reqs[0].ts)
	}
	if gap := reqs[3].at.Sub(reqs[2].at); gap < 20*time.Second {
		t.Errorf("retried %s after Retry-After: 20", gap)
	}
}

// 410 Gone disables the receiver loudly: an error log, a metric, and no
// more requests.
func TestGoneDisables(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(t0)
	f := newFakeHook(t, c, "")
	f.setRespond(func(int) (int, http.Header) { return http.StatusGone, nil })
	logs := &notifytest.LogBuffer{}
	reg := prometheus.NewPedanticRegistry()
	n := newNotifier(t, webhook.Options{URL: f.URL(), Now: c.Now, Logger: notifytest.NewLogger(logs), Registerer: reg})
	d, err := dispatch.New(n, dispatch.Options{Name: "hooks", GroupBy: []string{"model_name"}, GroupWait: time.Second, Now: c.Now, After: c.After, Registerer: reg, Logger: notifytest.NewLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	notifytest.Run(t, d.Run)
	d.Send(alert("a", "ttft", t0, t0.Add(4*time.Minute)), alert("b", "ttft", t0, t0.Add(4*time.Minute)))
	for range 60 {
		c.Advance(time.Second)
		if err := d.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if reqs := f.all(); len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	retry, err := n.Notify(context.Background(), alert("c", "ttft", t0, t0.Add(4*time.Minute)))
	if retry || !errors.Is(err, webhook.ErrDisabled) {
		t.Errorf("Notify after 410 = %v, %v; want ErrDisabled, no retry", retry, err)
	}
	if n := strings.Count(logs.String(), "notifier disabled"); n != 1 || !strings.Contains(logs.String(), "level=ERROR msg=\"webhook receiver is gone") {
		t.Errorf("want one error log of the disabling:\n%s", logs)
	}
	want := `
# HELP vllm_sentinel_notifier_disabled 1 while a notifier is disabled because its receiver answered 410 Gone.
# TYPE vllm_sentinel_notifier_disabled gauge
vllm_sentinel_notifier_disabled{notifier="hooks",url="` + f.srv.URL + `"} 1
# HELP vllm_sentinel_notifications_dropped_total Alerts given up on, by reason: pushed out of a full queue or outbox, refused by the receiver (Alertmanager keeps the valid alerts of a refused batch), or unreadable from the outbox.
# TYPE vllm_sentinel_notifications_dropped_total counter
vllm_sentinel_notifications_dropped_total{notifier="hooks",reason="corrupt",url=""} 0
vllm_sentinel_notifications_dropped_total{notifier="hooks",reason="outbox_full",url=""} 0
vllm_sentinel_notifications_dropped_total{notifier="hooks",reason="permanent_error",url=""} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vllm_sentinel_notifier_disabled", "vllm_sentinel_notifications_dropped_total"); err != nil {
		t.Error(err)
	}
	// A new notifier (a reload) is enabled again.
	n2 := newNotifier(t, webhook.Options{URL: f.URL(), Now: c.Now, Registerer: reg})
	f.setRespond(nil)
	if _, err := n2.Notify(context.Background(), alert("c", "ttft", t0, t0.Add(4*time.Minute))); err != nil {
		t.Errorf("a new notifier: %v", err)
	}
	if v := testutil.ToFloat64(gaugeOf(t, reg)); v != 0 {
		t.Errorf("disabled gauge %v after a reload, want 0", v)
	}
}

func gaugeOf(t testing.TB, reg *prometheus.Registry) prometheus.Collector {
	g, err := promreg.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name:        "vllm_sentinel_notifier_disabled",
		Help:        "1 while a notifier is disabled because its receiver answered 410 Gone.",
		ConstLabels: prometheus.Labels{"notifier": "hooks"},
	}, []string{"url"}))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		retry  bool
	}{
		{500, true}, {502, true}, {429, true}, {408, true}, {-1, true},
		{400, false}, {401, false}, {403, false}, {404, false}, {413, false},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			c := notifytest.NewClock(t0)
			f := newFakeHook(t, c, "")
			f.setRespond(func(int) (int, http.Header) { return tc.status, nil })
			n := newNotifier(t, webhook.Options{URL: f.URL(), Now: c.Now})
			retry, err := n.Notify(context.Background(), alert("a", "ttft", t0, t0.Add(time.Minute)))
			if err == nil || retry != tc.retry || errors.Is(err, webhook.ErrDisabled) {
				t.Errorf("Notify = %v, %v; want retry=%v", retry, err, tc.retry)
			}
		})
	}
}

func TestCustomHeaders(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(t0)
	f := newFakeHook(t, c, "")
	n := newNotifier(t, webhook.Options{URL: f.URL(), Now: c.Now, Headers: map[string]string{"x-tenant": "team-a", "Authorization": "Bearer SECRETHEADERMARKER"}})
	if _, err := n.Notify(context.Background(), alert("a", "ttft", t0, t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	h := f.all()[0].header
	if h.Get("X-Tenant") != "team-a" || h.Get("Authorization") != "Bearer SECRETHEADERMARKER" || h.Get("User-Agent") != "vllm-sentinel" {
		t.Errorf("headers %v", h)
	}
	for _, bad := range []string{"webhook-id", "Webhook-Signature", "content-type", "bad header", ""} {
		if _, err := webhook.New(webhook.Options{Name: "x", URL: f.URL(), Headers: map[string]string{bad: "SECRETHEADERMARKER"}}); err == nil {
			t.Errorf("header %q accepted", bad)
		} else if strings.Contains(err.Error(), "SECRETHEADERMARKER") {
			t.Errorf("error quotes a header value: %v", err)
		}
	}
}

func TestParseSigningKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string // error substring, "" for success
	}{
		{secret, ""},
		{strings.TrimPrefix(secret, "whsec_"), ""},
		{"whsec_not base64!SECRETKEYMARKER", "not whsec_"},
		{"whsec_c2hvcnQ=", "5 bytes, want at least 24"},
	} {
		_, err := webhook.ParseSigningKey(tc.in)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ParseSigningKey(%q) = %v", tc.in, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("ParseSigningKey(%q) = %v, want %q", tc.in, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "SECRETKEYMARKER"):
			t.Errorf("error quotes the key: %v", err)
		}
	}
}

// Neither the URL's path and query nor the signing key nor header values
// leak into errors, logs or metrics.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	markers := []string{"SECRETPATHMARKER", "SECRETQUERYMARKER", "SECRETKEYMARKER", "U0VDUkVUS0VZTUFSS0VS", "SECRETHEADERMARKER"}
	logs := &notifytest.LogBuffer{}
	reg := prometheus.NewPedanticRegistry()
	c := notifytest.NewClock(t0)
	var errs []error
	f := newFakeHook(t, c, secret)
	f.setRespond(func(n int) (int, http.Header) {
		return []int{http.StatusBadRequest, http.StatusInternalServerError, http.StatusGone}[(n-1)%3], nil
	})
	o := webhook.Options{URL: f.URL(), SigningKey: secret, Headers: map[string]string{"X-Api-Key": "SECRETHEADERMARKER"}, Now: c.Now, Logger: notifytest.NewLogger(logs), Registerer: reg}
	n := newNotifier(t, o)
	for range 4 {
		_, err := n.Notify(context.Background(), alert("a", "ttft", t0, t0.Add(time.Minute)))
		errs = append(errs, err)
	}
	// A receiver that echoes the request line in its error page.
	echo := newFakeHook(t, c, "")
	echo.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cannot POST "+r.URL.RequestURI(), http.StatusNotFound)
	})
	o.Name, o.URL = "echo", echo.URL()
	_, err := newNotifier(t, o).Notify(context.Background(), alert("a", "ttft", t0, t0.Add(time.Minute)))
	errs = append(errs, err)
	// Nobody listening.
	closed := newFakeHook(t, c, "")
	closed.srv.Close()
	o.Name, o.URL = "closed", closed.URL()
	_, err = newNotifier(t, o).Notify(context.Background(), alert("a", "ttft", t0, t0.Add(time.Minute)))
	errs = append(errs, err)
	// Bad options.
	for _, bad := range []webhook.Options{
		{Name: "bad", URL: "ftp://x.example/SECRETPATHMARKER"},
		{Name: "bad", URL: "http://x.example/%zzSECRETPATHMARKER"},
		{Name: "bad", URL: "x.example/SECRETPATHMARKER"},
		{Name: "bad", URL: "http://x.example/", SigningKey: "whsec_SECRETKEYMARKER!"},
	} {
		_, err := webhook.New(bad)
		errs = append(errs, err)
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		for _, m := range markers {
			if strings.Contains(err.Error(), m) {
				t.Errorf("error leaks %s: %v", m, err)
			}
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, mf := range mfs {
		_, _ = expfmt.MetricFamilyToText(&text, mf)
	}
	for _, m := range markers {
		if strings.Contains(logs.String(), m) {
			t.Errorf("logs leak %s:\n%s", m, logs)
		}
		if strings.Contains(text.String(), m) {
			t.Errorf("metrics leak %s:\n%s", m, text.String())
		}
	}
	if !strings.Contains(errs[4].Error(), "cannot POST <redacted>") {
		t.Errorf("echoed path not scrubbed: %v", errs[4])
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []webhook.Options{
		{URL: "http://x.example/"},
		{Name: "x"},
		{Name: "x", URL: "http://x.example/", Timeout: -1},
		{Name: "x", URL: "http://x.example/", MaxAlerts: -1},
	} {
		if _, err := webhook.New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// http_config authentication reaches the receiver, and the caller's config
// is left as it was.
func TestHTTPConfigAuthorization(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(t0)
	f := newFakeHook(t, c, "")
	hc := commoncfg.HTTPClientConfig{BearerToken: "SECRETTOKEN"}
	n := newNotifier(t, webhook.Options{URL: f.URL(), Now: c.Now, HTTPConfig: hc})
	if _, err := n.Notify(context.Background(), alert("a", "ttft", t0, t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if got := f.all()[0].header.Get("Authorization"); got != "Bearer SECRETTOKEN" {
		t.Errorf("Authorization %q", got)
	}
	if hc.Authorization != nil || hc.BearerToken != "SECRETTOKEN" {
		t.Errorf("caller's config changed: %+v", hc)
	}
}
