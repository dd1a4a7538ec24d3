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
	const timeout = 300 * time.Millisecond
	want := map[string]struct {
		ok, retry  bool
		retryAfter time.Duration
	}{
		"200 huge body":             {},
		"200 garbage":               {},
		"200 HTML page":             {},
		"200 invalid JSON":          {},
		"200 stalled body":          {ok: true},
		"204 no body":               {ok: true},
		"500 HTML page":             {retry: true},
		"502 huge body":             {retry: true},
		"400 invalid JSON":          {},
		"400 broken content type":   {},
		"400 stalled body":          {},
		"429 Retry-After bad":       {retry: true},
		"429 Retry-After negative":  {retry: true},
		"429 Retry-After huge":      {retry: true, retryAfter: notify.MaxRetryAfter},
		"429 Retry-After overflows": {retry: true, retryAfter: notify.MaxRetryAfter},
		"503 Retry-After far date":  {retry: true, retryAfter: notify.MaxRetryAfter},
		"301 without Location":      {},
	}
	for name, a := range notifytest.OddAnswers() {
		w, ok := want[name]
		if !ok {
			t.Fatalf("no expectation for %q", name)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := notifytest.AnswerServer(t, a)
			n := newNotifier(t, slack.Options{WebhookURL: srv.URL + secretPath, Timeout: timeout})
			start := time.Now()
			retry, err := n.Notify(context.Background(), burning("a", time.Now()))
			if took := time.Since(start); took > timeout+2*time.Second {
				t.Errorf("Notify took %s, timeout %s", took, timeout)
			}
			if w.ok {
				if err != nil {
					t.Fatalf("Notify = %v, want success", err)
				}
				return
			}
			if err == nil || retry != w.retry {
				t.Fatalf("Notify = %v, %v; want retry=%v", retry, err, w.retry)
			}
			if got := notify.RetryAfter(err); got != w.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", got, w.retryAfter)
			}
			if msg := err.Error(); len(msg) > 1024 || strings.Contains(msg, "\n") || strings.Contains(msg, "SECRETMARKER") {
				t.Errorf("error is not one short line free of the URL: %q", msg)
			}
		})
	}
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
			if tc.ok {
				if err != nil {
					t.Fatalf("Notify = %v, want success", err)
				}
				return
			}
			if err == nil || retry != tc.retry {
				t.Fatalf("Notify = %v, %v; want retry=%v", retry, err, tc.retry)
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
