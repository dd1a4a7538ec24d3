package alertmanager

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

// Whatever comes back, Notify returns within the timeout, does not panic,
// and classifies the answer: Alertmanager answers a 2xx with no body worth
// reading, a server error or rate limit is retried, any other refusal is
// not, whatever its Content-Type.
func TestOddAnswers(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	want := map[string]struct {
		ok, retry  bool
		retryAfter time.Duration
	}{
		"200 huge body":             {ok: true},
		"200 garbage":               {ok: true},
		"200 HTML page":             {ok: true},
		"200 invalid JSON":          {ok: true},
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
			o := fastOptions(srv.URL)
			o.Timeout = timeout
			s := mustNew(t, o)
			start := time.Now()
			retry, err := s.Notify(context.Background(), testAlert("a"))
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
			if !strings.Contains(err.Error(), "HTTP ") {
				t.Errorf("error %q does not give the status", err)
			}
			if msg := err.Error(); len(msg) > 1024 || strings.Contains(msg, "\n") {
				t.Errorf("error is not one short line: %q", msg)
			}
		})
	}
}
