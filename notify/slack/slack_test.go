package slack_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/slack"
)

func newNotifier(t testing.TB, o slack.Options) *slack.Notifier {
	t.Helper()
	if o.Name == "" {
		o.Name = "oncall"
	}
	n, err := slack.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// dispatcher runs a Dispatcher for n on c and returns it with a function
// that moves the clock in steps and lets the loop catch up.
func dispatcher(t testing.TB, n notify.Notifier, c *notifytest.Clock, o dispatch.Options) (*dispatch.Dispatcher, func(total, step time.Duration)) {
	t.Helper()
	o.Name, o.Now, o.After = "oncall", c.Now, c.After
	d, err := dispatch.New(n, o)
	if err != nil {
		t.Fatal(err)
	}
	notifytest.Run(t, d.Run)
	return d, func(total, step time.Duration) {
		notifytest.Sync(t, d)
		notifytest.Advance(t, c, d, total, step)
	}
}

// 40 models burning at once on one route: one message, within Slack's
// limits, that says how many alerts it leaves out.
func TestStormIsOneMessage(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(t0)
	f := newFakeSlack(t, c)
	n := newNotifier(t, slack.Options{WebhookURL: f.URL(), Now: c.Now, Sleep: c.Sleep, ExternalURL: "http://sentinel.example:9105"})
	d, advance := dispatcher(t, n, c, dispatch.Options{GroupBy: []string{"alertname", "slo"}})
	var alerts []*notify.Alert
	for _, m := range models(40) {
		alerts = append(alerts, burning(m, t0))
	}
	d.Send(alerts...)
	advance(10*time.Minute, 10*time.Second)

	reqs := f.all()
	if len(reqs) != 1 {
		t.Fatalf("%d messages, want 1", len(reqs))
	}
	m := reqs[0].msg
	blocks := m.Attachments[0].Blocks
	if got := blocks[0].Text.Text; got != "[FIRING:40] SLOBurnRate ttft" {
		t.Errorf("title %q", got)
	}
	if m.Attachments[0].Color != "#E01E5A" {
		t.Errorf("colour %s, want red", m.Attachments[0].Color)
	}
	if !strings.HasPrefix(m.Text, "[FIRING:40] SLOBurnRate ttft\n") {
		t.Errorf("fallback text %q", m.Text)
	}
	shown := 0
	for _, b := range blocks {
		if b.Type != "section" {
			continue
		}
		shown++
		var fields []string
		for _, f := range b.Fields {
			fields = append(fields, f.Text)
		}
		joined := strings.Join(fields, "|")
		for _, want := range []string{"*Model*\nmeta-llama/Llama-3.1-", "*Burn rate*\n15.2", "*Error ratio*\n15.2%", "*Budget left*\n71.3%", "*Exhaustion*\n1d20h"} {
			if !strings.Contains(joined, want) {
				t.Errorf("alert fields %q lack %q", joined, want)
			}
		}
		for _, want := range []string{"<https://runbooks.example/ttft|Runbook>", "|Dashboard>", "<http://sentinel.example:9105/|Source>", "&lt;b&gt;&amp;&lt;/b&gt;"} {
			if !strings.Contains(b.Text.Text, want) {
				t.Errorf("alert text lacks %q:\n%s", want, b.Text.Text)
			}
		}
	}
	if shown == 0 || shown == 40 {
		t.Fatalf("%d alerts shown; want some, not all 40", shown)
	}
	last := blocks[len(blocks)-1]
	wantLeft := "…and " + strconv.Itoa(40-shown) + " more alerts not shown (40 firing, 0 resolved in all)"
	if last.Type != "context" || !strings.Contains(last.Elements[0].Text, wantLeft) {
		t.Errorf("closing block %+v, want %q", last, wantLeft)
	}
	if !strings.Contains(last.Elements[0].Text, "<http://sentinel.example:9105|vllm-sentinel>") {
		t.Errorf("closing block does not link the sentinel: %q", last.Elements[0].Text)
	}
	common := blocks[1]
	if common.Type != "context" || !strings.Contains(common.Elements[0].Text, "severity: *critical*") || strings.Contains(common.Elements[0].Text, "model_name") {
		t.Errorf("common labels block %+v", common)
	}
	t.Logf("message: %d bytes, %d blocks, %d of 40 alerts shown", len(reqs[0].raw), len(blocks), shown)
}

func TestResolvedIsGreen(t *testing.T) {
	t.Parallel()
	f := newFakeSlack(t, nil)
	n := newNotifier(t, slack.Options{WebhookURL: f.URL(), Now: func() time.Time { return t0.Add(time.Hour) }})
	a, b := burning("a", t0), burning("b", t0)
	a.EndsAt, b.EndsAt = t0.Add(30*time.Minute), t0.Add(40*time.Minute)
	if _, err := n.Notify(context.Background(), a, b); err != nil {
		t.Fatal(err)
	}
	m := f.all()[0].msg
	if m.Attachments[0].Color != "#2EB67D" || m.Attachments[0].Blocks[0].Text.Text != "[RESOLVED] SLOBurnRate" {
		t.Errorf("colour %s title %q, want green [RESOLVED] SLOBurnRate", m.Attachments[0].Color, m.Attachments[0].Blocks[0].Text.Text)
	}
	if !strings.Contains(m.Attachments[0].Blocks[2].Text.Text, "_resolved 00:30 UTC_") {
		t.Errorf("resolved alert text %q", m.Attachments[0].Blocks[2].Text.Text)
	}
}

// Firing and resolved are judged when the notification was made, not
// when a retry finally gets through.
func TestStatusJudgedAtCreation(t *testing.T) {
	t.Parallel()
	f := newFakeSlack(t, nil)
	n := newNotifier(t, slack.Options{WebhookURL: f.URL(), Now: func() time.Time { return t0.Add(time.Hour) }})
	ctx := notify.WithMeta(context.Background(), notify.Meta{ID: "msg_1", Created: t0})
	if _, err := n.Notify(ctx, burning("a", t0)); err != nil {
		t.Fatal(err)
	}
	if title := f.all()[0].msg.Attachments[0].Blocks[0].Text.Text; title != "[FIRING:1] SLOBurnRate" {
		t.Errorf("title %q, want firing", title)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status     int
		body       string
		retry      bool
		retryAfter time.Duration
	}{
		{429, "rate_limited", true, 7 * time.Second},
		{500, "rollup_error", true, 0},
		{503, "", true, 0},
		{400, "invalid_payload", false, 0},
		{403, "action_prohibited", false, 0},
		{404, "channel_not_found", false, 0},
		{410, "channel_is_archived", false, 0},
		{200, `{"ok":false,"error":"invalid_blocks"}`, false, 0},
	} {
		t.Run(tc.body, func(t *testing.T) {
			t.Parallel()
			f := newFakeSlack(t, nil)
			f.setRespond(func(int) (int, string, http.Header) {
				h := http.Header{}
				if tc.retryAfter > 0 {
					h.Set("Retry-After", "7")
				}
				return tc.status, tc.body, h
			})
			n := newNotifier(t, slack.Options{WebhookURL: f.URL()})
			retry, err := n.Notify(context.Background(), burning("a", time.Now()))
			if err == nil || retry != tc.retry {
				t.Fatalf("Notify = %v, %v; want retry=%v", retry, err, tc.retry)
			}
			if !strings.Contains(err.Error(), tc.body) && tc.body != "" && tc.status != 200 {
				t.Errorf("error %q does not name %q", err, tc.body)
			}
			if got := notify.RetryAfter(err); got != tc.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", got, tc.retryAfter)
			}
		})
	}
}

// 429: the dispatcher waits for Retry-After, then retries; the message
// arrives once.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(t0)
	f := newFakeSlack(t, c)
	f.setRespond(func(n int) (int, string, http.Header) {
		if n == 1 {
			return http.StatusTooManyRequests, "rate_limited", http.Header{"Retry-After": {"7"}}
		}
		return http.StatusOK, "ok", nil
	})
	n := newNotifier(t, slack.Options{WebhookURL: f.URL(), Now: c.Now, Sleep: c.Sleep})
	d, advance := dispatcher(t, n, c, dispatch.Options{GroupWait: time.Second, Backoff: time.Second, MaxBackoff: 2 * time.Second})
	d.Send(burning("a", t0))
	advance(time.Minute, 250*time.Millisecond)
	reqs := f.all()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 7*time.Second || gap > 7*time.Second+250*time.Millisecond {
		t.Errorf("retried %s after the 429, want 7s", gap)
	}
}

func TestServerErrorsRetried(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(t0)
	f := newFakeSlack(t, c)
	f.setRespond(func(n int) (int, string, http.Header) {
		if n <= 2 {
			return http.StatusInternalServerError, "rollup_error", nil
		}
		return http.StatusOK, "ok", nil
	})
	reg := prometheus.NewPedanticRegistry()
	n := newNotifier(t, slack.Options{WebhookURL: f.URL(), Now: c.Now, Sleep: c.Sleep, Registerer: reg})
	d, advance := dispatcher(t, n, c, dispatch.Options{GroupWait: time.Second, Backoff: time.Second, MaxBackoff: 4 * time.Second})
	d.Send(burning("a", t0))
	advance(time.Minute, 250*time.Millisecond)
	if reqs := f.all(); len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	want := `
# HELP vllm_sentinel_notification_requests_total POST requests to the notifier's receiver, by result.
# TYPE vllm_sentinel_notification_requests_total counter
vllm_sentinel_notification_requests_total{notifier="oncall",result="failure",url="` + f.srv.URL + `"} 2
vllm_sentinel_notification_requests_total{notifier="oncall",result="success",url="` + f.srv.URL + `"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vllm_sentinel_notification_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestPermanentErrorsNotRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		body   string
	}{
		{400, "invalid_payload"},
		{403, "action_prohibited"},
		{404, "channel_not_found"},
		{410, "channel_is_archived"},
	} {
		t.Run(tc.body, func(t *testing.T) {
			t.Parallel()
			c := notifytest.NewClock(t0)
			f := newFakeSlack(t, c)
			f.setRespond(func(int) (int, string, http.Header) { return tc.status, tc.body, nil })
			logs := &notifytest.LogBuffer{}
			n := newNotifier(t, slack.Options{WebhookURL: f.URL(), Now: c.Now, Sleep: c.Sleep})
			d, advance := dispatcher(t, n, c, dispatch.Options{GroupWait: time.Second, Logger: notifytest.NewLogger(logs)})
			d.Send(burning("a", t0))
			advance(30*time.Minute, 10*time.Second)
			if reqs := f.all(); len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), tc.body) {
				t.Errorf("the refusal is not logged as an error:\n%s", logs)
			}
		})
	}
}

// At most one message per second per webhook.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(t0)
	f := newFakeSlack(t, c)
	n := newNotifier(t, slack.Options{WebhookURL: f.URL(), Now: c.Now, Sleep: c.Sleep})
	d, advance := dispatcher(t, n, c, dispatch.Options{GroupBy: []string{"model_name"}, GroupWait: time.Second})
	var alerts []*notify.Alert
	for _, m := range models(5) {
		alerts = append(alerts, burning(m, t0))
	}
	d.Send(alerts...)
	advance(time.Second, time.Second)
	reqs := f.all()
	if len(reqs) != 5 {
		t.Fatalf("%d messages, want 5", len(reqs))
	}
	for i := 1; i < len(reqs); i++ {
		if gap := reqs[i].at.Sub(reqs[i-1].at); gap < time.Second {
			t.Errorf("message %d went out %s after the one before", i, gap)
		}
	}
	// A 429's Retry-After holds back direct callers too.
	f.setRespond(func(k int) (int, string, http.Header) {
		if k == 6 {
			return http.StatusTooManyRequests, "rate_limited", http.Header{"Retry-After": {"30"}}
		}
		return http.StatusOK, "ok", nil
	})
	before := c.Now()
	if _, err := n.Notify(context.Background(), burning("x", t0)); err == nil {
		t.Fatal("want the 429")
	}
	if _, err := n.Notify(context.Background(), burning("x", t0)); err != nil {
		t.Fatal(err)
	}
	if waited := c.Now().Sub(before); waited < 30*time.Second {
		t.Errorf("second call went out %s after a 429 asking for 30s", waited)
	}
}

// The webhook URL is a token: it must not leak through errors, logs or
// metrics, whatever goes wrong.
func TestWebhookURLNeverLeaks(t *testing.T) {
	t.Parallel()
	const marker = "SECRETMARKER42"
	logs := &notifytest.LogBuffer{}
	reg := prometheus.NewPedanticRegistry()
	var errs []error

	f := newFakeSlack(t, nil)
	f.setRespond(func(int) (int, string, http.Header) {
		return http.StatusNotFound, "no_service for POST " + secretPath, nil
	})
	c := notifytest.NewClock(t0)
	n := newNotifier(t, slack.Options{WebhookURL: f.URL(), Logger: notifytest.NewLogger(logs), Registerer: reg, Now: c.Now, Sleep: c.Sleep})
	_, err := n.Notify(context.Background(), burning("a", t0))
	errs = append(errs, err)

	// Through the dispatcher, which logs the refusal.
	d, advance := dispatcher(t, n, c, dispatch.Options{GroupWait: time.Second, Logger: notifytest.NewLogger(logs), Registerer: reg})
	d.Send(burning("b", t0))
	advance(time.Minute, time.Second)

	// Nobody listening.
	down := httptestClosedURL(t)
	n2 := newNotifier(t, slack.Options{Name: "down", WebhookURL: down + secretPath, Logger: notifytest.NewLogger(logs), Registerer: reg})
	_, err = n2.Notify(context.Background(), burning("a", time.Now()))
	errs = append(errs, err)

	// Bad URLs.
	for _, u := range []string{"ftp://hooks.slack.com" + secretPath, "https://hooks.slack.com/%zz" + marker, "https://[::1" + secretPath, "hooks.slack.com" + secretPath} {
		_, err := slack.New(slack.Options{Name: "bad", WebhookURL: u})
		if err == nil {
			t.Errorf("New accepted a bad URL")
			continue
		}
		errs = append(errs, err)
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		if strings.Contains(err.Error(), marker) {
			t.Errorf("error leaks the webhook URL: %v", err)
		}
	}
	if strings.Contains(logs.String(), marker) {
		t.Errorf("logs leak the webhook URL:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "no_service for POST <redacted>") {
		t.Errorf("logs lack the scrubbed refusal:\n%s", logs)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, mf := range mfs {
		_, _ = expfmt.MetricFamilyToText(&text, mf)
	}
	if strings.Contains(text.String(), marker) {
		t.Errorf("metrics leak the webhook URL:\n%s", text.String())
	}
	if !strings.Contains(text.String(), `url="`+f.srv.URL+`"`) {
		t.Errorf("metrics lack the redacted URL:\n%s", text.String())
	}
}

func httptestClosedURL(t testing.TB) string {
	f := newFakeSlack(t, nil)
	u := f.srv.URL
	f.srv.Close()
	return u
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []slack.Options{
		{WebhookURL: "https://hooks.slack.com/x"},
		{Name: "x"},
		{Name: "x", WebhookURL: "https://hooks.slack.com/x", Timeout: -1},
	} {
		if _, err := slack.New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func TestNotifyCutShort(t *testing.T) {
	t.Parallel()
	f := newFakeSlack(t, nil)
	n := newNotifier(t, slack.Options{WebhookURL: f.URL()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	retry, err := n.Notify(ctx, burning("a", time.Now()))
	if !retry || !errors.Is(err, context.Canceled) {
		t.Errorf("Notify = %v, %v; want a retryable context.Canceled", retry, err)
	}
	if retry, err := n.Notify(context.Background()); retry || err != nil {
		t.Errorf("Notify() = %v, %v; want nothing to do", retry, err)
	}
}

// Hostile content stays within Slack's limits: huge texts, multi-byte
// characters and entities at every cut point, long URLs, many alerts.
func TestLimitsUnderStress(t *testing.T) {
	t.Parallel()
	long := func(unit string, n int) model.LabelValue { return model.LabelValue(strings.Repeat(unit, n)) }
	for _, tc := range []struct {
		name   string
		alerts func() []*notify.Alert
		check  func(t *testing.T, m slackMessage)
	}{
		{"200 small alerts", func() []*notify.Alert {
			var out []*notify.Alert
			for i := range 200 {
				out = append(out, &notify.Alert{Labels: model.LabelSet{"alertname": "X", "i": model.LabelValue(strconv.Itoa(i))}, StartsAt: t0, EndsAt: t0.Add(time.Hour)})
			}
			return out
		}, func(t *testing.T, m slackMessage) {
			last := m.Attachments[0].Blocks[len(m.Attachments[0].Blocks)-1]
			if !strings.Contains(last.Elements[0].Text, "…and 180 more alerts not shown") {
				t.Errorf("closing line %q", last.Elements[0].Text)
			}
		}},
		{"huge texts", func() []*notify.Alert {
			var out []*notify.Alert
			for _, unit := range []string{"&", "<>", "é", "日本", "🔥", "a"} {
				out = append(out, &notify.Alert{
					Labels: model.LabelSet{"alertname": "X", "unit": model.LabelValue(unit), "long": long(unit, 1000)},
					Annotations: model.LabelSet{
						"summary": long(unit, 5000), "description": long(unit, 10000),
						"burn_rate": long(unit, 3000), "runbook_url": "https://x.example/" + long("a", 2000),
						"dashboard_url": "https://x.example/a|b>c<d",
					},
					StartsAt: t0, EndsAt: t0.Add(time.Hour),
				})
			}
			return out
		}, func(t *testing.T, m slackMessage) {
			text := m.Attachments[0].Blocks[2].Text.Text
			if !strings.Contains(text, "<https://x.example/a%7Cb%3Ec%3Cd|Dashboard>") || strings.Contains(text, "|Runbook>") {
				t.Errorf("links in %q: want the dashboard sanitised and the over-long runbook left out", text)
			}
		}},
		{"long group labels", func() []*notify.Alert {
			return []*notify.Alert{{Labels: model.LabelSet{"alertname": long("A", 400), "slo": long("é", 300)}, StartsAt: t0, EndsAt: t0.Add(time.Hour)}}
		}, func(t *testing.T, m slackMessage) {
			if h := m.Attachments[0].Blocks[0].Text.Text; !strings.HasSuffix(h, "…") {
				t.Errorf("header %q not marked as cut", h)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeSlack(t, nil)
			n := newNotifier(t, slack.Options{WebhookURL: f.URL(), Now: func() time.Time { return t0 }})
			alerts := tc.alerts()
			var gl model.LabelSet
			if tc.name == "long group labels" {
				gl = alerts[0].Labels
			}
			ctx := notify.WithMeta(context.Background(), notify.Meta{ID: "msg_1", Created: t0, GroupLabels: gl})
			if _, err := n.Notify(ctx, alerts...); err != nil {
				t.Fatal(err)
			}
			reqs := f.all()
			if len(reqs) != 1 {
				t.Fatalf("%d messages, want 1", len(reqs))
			}
			tc.check(t, reqs[0].msg)
			t.Logf("%d bytes, %d blocks", len(reqs[0].raw), len(reqs[0].msg.Attachments[0].Blocks))
		})
	}
}
