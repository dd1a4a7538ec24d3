package alertmanager

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

// answerPost builds a Sender on url for the answer tests.
func answerPost(tb testing.TB, url string, timeout time.Duration) notifytest.Post {
	o := fastOptions(url)
	o.Timeout = timeout
	s := mustNew(tb, o)
	return func(ctx context.Context) (bool, error) { return s.Notify(ctx, testAlert("a")) }
}

// Whatever comes back, Notify returns within the timeout, does not panic,
// and classifies the answer: Alertmanager answers a 2xx with no body worth
// reading, a server error or rate limit is retried, any other refusal is
// not, whatever its Content-Type. The error gives the status.
func TestOddAnswers(t *testing.T) {
	t.Parallel()
	notifytest.OddAnswersTest{
		Want:       notifytest.StatusOutcomes(notify.MaxRetryAfter),
		New:        answerPost,
		RetryAfter: notify.RetryAfter,
		Check: func(t testing.TB, err error) {
			if !strings.Contains(err.Error(), "HTTP ") {
				t.Errorf("error %q does not give the status", err)
			}
		},
	}.Run(t)
}
