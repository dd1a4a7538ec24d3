package slack_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/slack"
)

// Whatever comes back, Notify returns within the timeout, does not panic,
// and classifies the answer. Slack answers "ok": a 200 with anything else
// but JSON says the message went somewhere other than Slack (a proxy's
// page), a refusal that retrying would only repeat.
func TestOddAnswers(t *testing.T) {
	t.Parallel()
	want := notifytest.StatusOutcomes(notify.MaxRetryAfter)
	for _, name := range []string{"200 huge body", "200 garbage", "200 HTML page", "200 invalid JSON"} {
		want[name] = notifytest.Outcome{}
	}
	notifytest.OddAnswersTest{
		Want: want,
		New: func(tb testing.TB, url string, timeout time.Duration) notifytest.Post {
			n := newNotifier(tb, slack.Options{WebhookURL: url + secretPath, Timeout: timeout})
			return func(ctx context.Context) (bool, error) { return n.Notify(ctx, burning("a", time.Now())) }
		},
		RetryAfter: notify.RetryAfter,
		Secrets:    []string{"SECRETMARKER"},
	}.Run(t)
}

// The answers to a 2xx that Slack and services that speak its protocol
// give, and what the notifier makes of them.
func TestSuccessAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body      string
		ok, retry bool
		reason    string
	}{
		{"ok", true, false, ""},
		{"ok\n", true, false, ""},
		{"", true, false, ""},
		{`{"ok":true,"channel":"C0","ts":"1.2"}`, true, false, ""},
		{`{"success":true}`, true, false, ""},
		{`{"ok":false,"error":"invalid_blocks"}`, false, false, "invalid_blocks"},
		{`{"ok":false,"error":"ratelimited"}`, false, true, "ratelimited"},
		{`{"ok":false,"error":"internal_error"}`, false, true, "internal_error"},
		{`{"ok":false}`, false, false, "ok: false"},
		{`{"ok":false,"error":{"code":7}}`, false, false, `{"code":7}`},
		{`{"ok":false,"error":"` + strings.Repeat("e", 5000) + `"}`, false, false, strings.Repeat("e", 512)},
		{`{"ok":"yes"}`, false, false, "unreadable JSON answer"},
		{"<html>login</html>", false, false, "unexpected answer: <html>login</html>"},
		{"okay", false, false, "unexpected answer: okay"},
	} {
		name := tc.body
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := notifytest.AnswerServer(t, notifytest.Answer{Status: http.StatusOK, Body: tc.body})
			n := newNotifier(t, slack.Options{WebhookURL: srv.URL + secretPath})
			retry, err := n.Notify(context.Background(), burning("a", time.Now()))
			if !notifytest.Expect(t, notifytest.Outcome{OK: tc.ok, Retry: tc.retry}, retry, err) {
				return
			}
			if !strings.Contains(err.Error(), "HTTP 200: "+tc.reason) {
				t.Errorf("error %q, want reason %q", err, tc.reason)
			}
		})
	}
}

// A Retry-After of years holds the next Notify back a minute at most: the
// caller has the whole of it in the error, to wait out between attempts.
func TestHugeRetryAfterDoesNotBlock(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(t0)
	f := newFakeSlack(t, c)
	f.setRespond(func(k int) (int, string, http.Header) {
		if k == 1 {
			return http.StatusTooManyRequests, "rate_limited", http.Header{"Retry-After": {"Fri, 31 Dec 9999 23:59:59 GMT"}}
		}
		return http.StatusOK, "ok", nil
	})
	n := newNotifier(t, slack.Options{WebhookURL: f.URL(), Now: c.Now, Sleep: c.Sleep})
	retry, err := n.Notify(context.Background(), burning("a", t0))
	if err == nil || !retry || notify.RetryAfter(err) != notify.MaxRetryAfter {
		t.Fatalf("Notify = %v, %v; want a retry after %s", retry, err, notify.MaxRetryAfter)
	}
	before := c.Now()
	if _, err := n.Notify(context.Background(), burning("a", t0)); err != nil {
		t.Fatal(err)
	}
	if waited := c.Now().Sub(before); waited > time.Minute+time.Second {
		t.Errorf("the next Notify waited %s", waited)
	}
}
