package notifytest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
)

// Post sends one notification through the notifier under test and returns
// what its Notify returned.
type Post func(ctx context.Context) (retry bool, err error)

// NewPost builds the notifier under test, posting to url (a test server's
// base URL) with the given timeout, and returns its Post.
type NewPost func(tb testing.TB, url string, timeout time.Duration) Post

// Outcome is what a notifier makes of an answer: success, or a failure
// that is retried or not, and the wait that RetryAfter reads from it.
type Outcome struct {
	OK, Retry  bool
	RetryAfter time.Duration
}

// Expect fails the test unless retry and err, what Notify returned, are
// the outcome want, RetryAfter aside. It reports whether err is a failure,
// for the caller's own checks of it.
func Expect(t testing.TB, want Outcome, retry bool, err error) (failed bool) {
	t.Helper()
	if want.OK {
		if err != nil {
			t.Fatalf("Notify = %v, want success", err)
		}
		return false
	}
	if err == nil || retry != want.Retry {
		t.Fatalf("Notify = %v, %v; want retry=%v", retry, err, want.Retry)
	}
	return true
}

// StatusOutcomes is what a notifier that goes by the status alone makes of
// each of OddAnswers: a 2xx is success whatever its body, a server error or
// a rate limit is retried, any other refusal is not, and a Retry-After past
// maxRetryAfter (notify.MaxRetryAfter) is cut to it.
func StatusOutcomes(maxRetryAfter time.Duration) map[string]Outcome {
	return map[string]Outcome{
		"200 huge body":             {OK: true},
		"200 garbage":               {OK: true},
		"200 HTML page":             {OK: true},
		"200 invalid JSON":          {OK: true},
		"200 stalled body":          {OK: true},
		"204 no body":               {OK: true},
		"500 HTML page":             {Retry: true},
		"502 huge body":             {Retry: true},
		"400 invalid JSON":          {},
		"400 broken content type":   {},
		"400 stalled body":          {},
		"429 Retry-After bad":       {Retry: true},
		"429 Retry-After negative":  {Retry: true},
		"429 Retry-After huge":      {Retry: true, RetryAfter: maxRetryAfter},
		"429 Retry-After overflows": {Retry: true, RetryAfter: maxRetryAfter},
		"503 Retry-After far date":  {Retry: true, RetryAfter: maxRetryAfter},
		"301 without Location":      {},
	}
}

// OddAnswersTest posts through a notifier to servers that give each of
// OddAnswers. Whatever comes back, the notifier returns within its timeout,
// does not panic, and classifies the answer as Want says; a failure's error
// is one short line that shows none of Secrets.
type OddAnswersTest struct {
	// Want is the notifier's outcome for each of OddAnswers, by name:
	// StatusOutcomes, or what the notifier makes of some otherwise.
	Want map[string]Outcome
	New  NewPost
	// RetryAfter is notify.RetryAfter, which this package cannot import.
	RetryAfter func(error) time.Duration
	// Secrets are what New puts in the URL that no error may show.
	Secrets []string
	// Check, when set, makes the notifier's own checks of a failure.
	Check func(t testing.TB, err error)
}

// Run runs one parallel subtest an answer.
func (c OddAnswersTest) Run(t *testing.T) {
	t.Helper()
	const timeout = 300 * time.Millisecond
	answers := OddAnswers()
	for name := range c.Want {
		if _, ok := answers[name]; !ok {
			t.Fatalf("expectation for %q, which is none of OddAnswers", name)
		}
	}
	for name, a := range answers {
		w, ok := c.Want[name]
		if !ok {
			t.Fatalf("no expectation for %q", name)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			post := c.New(t, AnswerServer(t, a).URL, timeout)
			start := time.Now()
			retry, err := post(context.Background())
			if took := time.Since(start); took > timeout+2*time.Second {
				t.Errorf("Notify took %s, timeout %s", took, timeout)
			}
			if !Expect(t, w, retry, err) {
				return
			}
			if c.Check != nil {
				c.Check(t, err)
			}
			if got := c.RetryAfter(err); got != w.RetryAfter {
				t.Errorf("RetryAfter = %s, want %s", got, w.RetryAfter)
			}
			if msg := err.Error(); len(msg) > 1024 || strings.Contains(msg, "\n") || containsAny(msg, c.Secrets) {
				t.Errorf("error is not one short line free of %q: %q", c.Secrets, msg)
			}
		})
	}
}

// AnswerFuzz is the body of a FuzzNotifyAnswer target: it posts through a
// notifier to a server that answers as the fuzzer says, status,
// Content-Type, Retry-After and body. Notify never panics and never blocks
// past the timeout; it takes a 2xx for success (unless JudgesBody), fails
// on anything else, retries a server error, a 429 or a 408 and nothing
// else; its error is one short line without control characters or any of
// Secrets, and its RetryAfter is within [0, MaxRetryAfter].
type AnswerFuzz struct {
	New NewPost
	// RetryAfter and MaxRetryAfter are notify's, which this package
	// cannot import.
	RetryAfter    func(error) time.Duration
	MaxRetryAfter time.Duration
	// JudgesBody says that a 2xx may fail too, on what its body says, and
	// be retried or not as the body says.
	JudgesBody bool
	// Secrets are what New puts in the URL that no error may show.
	Secrets []string
	// Check, when set, makes the notifier's own checks of a failure to an
	// answer with status code. It returns true when the answer disabled the
	// notifier, which is then built again for the next answer.
	Check func(t *testing.T, code int, retry bool, err error) (disabled bool)
}

// Fuzz adds OddAnswers to the seeds the target added, as (status,
// Content-Type, Retry-After, body), and fuzzes.
func (h AnswerFuzz) Fuzz(f *testing.F) {
	for _, a := range OddAnswers() {
		f.Add(a.Status, a.Header.Get("Content-Type"), a.Header.Get("Retry-After"), a.Body)
	}
	srv := NewAnswerSwitch(f)
	const timeout = 500 * time.Millisecond
	post := h.New(f, srv.URL(), timeout)
	f.Fuzz(func(t *testing.T, code int, contentType, retryAfter, body string) {
		if code < 200 || code > 999 {
			code = 200 + (code%800+800)%800
		}
		srv.Set(Answer{Status: code, Header: http.Header{"Content-Type": {HeaderValue(contentType)}, "Retry-After": {HeaderValue(retryAfter)}}, Body: body})
		start := time.Now()
		retry, err := post(context.Background())
		if took := time.Since(start); took > timeout+5*time.Second {
			t.Fatalf("Notify took %s", took)
		}
		ok := code >= 200 && code < 300
		switch {
		case err == nil && !ok:
			t.Fatalf("HTTP %d: success", code)
		case err == nil:
			return
		case ok && !h.JudgesBody:
			t.Fatalf("HTTP %d: %v", code, err)
		case !ok && retry != (code >= 500 || code == 429 || code == 408):
			t.Fatalf("HTTP %d: retry %v: %v", code, retry, err)
		}
		if h.Check != nil && h.Check(t, code, retry, err) {
			post = h.New(t, srv.URL(), timeout)
		}
		if msg := err.Error(); strings.IndexFunc(msg, unicode.IsControl) >= 0 || len(msg) > 2048 || containsAny(msg, h.Secrets) {
			t.Fatalf("HTTP %d: error %q is not one short line free of %q", code, msg, h.Secrets)
		}
		if ra := h.RetryAfter(err); ra < 0 || ra > h.MaxRetryAfter {
			t.Fatalf("RetryAfter %s", ra)
		}
	})
}

// containsAny says whether s holds any of subs.
func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
