package webhook_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/webhook"
)

// answerPost builds a notifier on a server's URL + path for the answer
// tests.
func answerPost(path string) notifytest.NewPost {
	return func(tb testing.TB, url string, timeout time.Duration) notifytest.Post {
		n := newNotifier(tb, webhook.Options{URL: url + path, Timeout: timeout})
		return func(ctx context.Context) (bool, error) {
			return n.Notify(ctx, alert("a", "ttft", t0, t0.Add(time.Hour)))
		}
	}
}

// Whatever the receiver answers, Notify returns within the timeout, does
// not panic, and classifies the answer: a webhook receiver may answer a
// 2xx with any body it likes, a server error or rate limit is retried, any
// other refusal is not, and none disables the notifier.
func TestOddAnswers(t *testing.T) {
	t.Parallel()
	notifytest.OddAnswersTest{
		Want:       notifytest.StatusOutcomes(notify.MaxRetryAfter),
		New:        answerPost("/SECRETPATHMARKER"),
		RetryAfter: notify.RetryAfter,
		Secrets:    []string{"SECRETPATHMARKER"},
		Check: func(t testing.TB, err error) {
			if errors.Is(err, webhook.ErrDisabled) {
				t.Fatalf("Notify = %v; want the notifier not disabled", err)
			}
		},
	}.Run(t)
}
