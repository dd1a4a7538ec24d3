package notify

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	commoncfg "github.com/prometheus/common/config"
)

// The HTTP pieces every notifier shares: Alertmanager's sender, Slack and
// webhooks all POST, read an error answer the same way, and must agree on
// what is worth retrying.

const (
	// maxReasonBytes keeps an error body (a proxy's HTML page, say) from
	// flooding logs; receivers' own reasons are one line.
	maxReasonBytes = 512
	// maxDrainBytes is read past the reason so the connection can be
	// reused; a larger body costs a new connection, not a stall.
	maxDrainBytes = 64 << 10
	// MaxBodyBytes is the most of an answer that is ever read: what a
	// notifier judges a 2xx by (Slack's {"ok":false}) and what is drained.
	MaxBodyBytes = maxDrainBytes
	// MaxRetryAfter bounds what ParseRetryAfter returns, whatever the
	// header says: a receiver may ask for a pause, not for a year, and a
	// number of seconds that overflows a time.Duration must not wrap
	// around into a short one. Backoff caps it further.
	MaxRetryAfter = 24 * time.Hour
)

// StatusError is a non-2xx answer from a receiver (Alertmanager, Slack, a
// webhook) or a proxy in front of it.
type StatusError struct {
	Code int
	// Reason is the start of the response body (Alertmanager's validation
	// message on a 400, Slack's "invalid_payload"), or the status text when
	// the body is empty. Whoever builds it keeps the endpoint's secrets out.
	Reason string
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration
	// Transient marks an answer whose status alone says final but whose
	// body says to try again: Slack's Web API answers 200 with
	// {"ok":false,"error":"ratelimited"}.
	Transient bool
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Reason)
}

// Retryable reports whether the same request may succeed later: a server
// error, a rate limit or a request timeout. Any other 4xx is a refusal
// (invalid alerts, bad credentials, wrong path) that resending cannot fix.
func (e *StatusError) Retryable() bool {
	return e.Transient || e.Code >= 500 || e.Code == http.StatusTooManyRequests || e.Code == http.StatusRequestTimeout
}

// Retryable classifies an error from a POST. Everything without a status is
// a transport failure (refused connection, timeout, reset), worth retrying.
func Retryable(err error) bool {
	if se, ok := errors.AsType[*StatusError](err); ok {
		return se.Retryable()
	}
	return true
}

// RetryAfter returns the Retry-After carried by err, zero when none.
func RetryAfter(err error) time.Duration {
	if se, ok := errors.AsType[*StatusError](err); ok {
		return se.RetryAfter
	}
	return 0
}

// ParseRetryAfter reads delay-seconds or an HTTP date (RFC 9110 10.2.3).
// What it cannot read, a negative delay and a date in the past are zero,
// no Retry-After; a delay beyond MaxRetryAfter (a huge number, a date
// years ahead) is MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// ParseInt saturates out of range, to the right sign.
		switch {
		case secs <= 0:
			return 0
		case secs >= int64(MaxRetryAfter/time.Second):
			return MaxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		// Sub saturates rather than overflowing.
		return min(max(t.Sub(now), 0), MaxRetryAfter)
	}
	return 0
}

// Drain returns the start of a response body, enough for a reason, and
// reads on past it so that the connection can be reused.
func Drain(body io.Reader) []byte {
	head, _ := io.ReadAll(io.LimitReader(body, maxReasonBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrainBytes))
	return head
}

// ReadBody returns at most MaxBodyBytes of a response body: enough to
// judge any answer a receiver has reason to give, and no more of one that
// never ends. A read error (the request's deadline, a reset) comes with
// what was read before it.
func ReadBody(body io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(body, MaxBodyBytes))
}

// ReasonHead is the start of body that a reason quotes, as valid UTF-8.
func ReasonHead(body []byte) string {
	if len(body) > maxReasonBytes {
		body = body[:maxReasonBytes]
	}
	// Invalid UTF-8 (a head cut inside a rune, a binary page) would
	// garble logs.
	return strings.ToValidUTF8(string(body), "")
}

// BodyReason makes a one-line message of an error body, the status text
// when it is empty. Control characters (a NUL, a terminal escape) become
// spaces, and runs of space one. Decoding the body (Alertmanager's JSON
// string) is the caller's.
func BodyReason(code int, body string) string {
	body = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, body)
	s := strings.Join(strings.Fields(body), " ")
	if s == "" {
		s = http.StatusText(code)
	}
	return s
}

// RedactURL reduces a URL to scheme://host: no credentials, path or query.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<redacted>"
	}
	return u.Scheme + "://" + u.Host
}

// ValidHTTPConfig returns a validated copy of hc, or a *FieldError at
// http_config. Validate normalises in place (bearer_token becomes
// authorization, an empty authorization type becomes Bearer), so the
// pointed-to parts it writes are copied first and the caller's config is
// left alone.
func ValidHTTPConfig(hc commoncfg.HTTPClientConfig) (commoncfg.HTTPClientConfig, error) {
	if hc.BasicAuth != nil {
		ba := *hc.BasicAuth
		hc.BasicAuth = &ba
	}
	if hc.Authorization != nil {
		az := *hc.Authorization
		hc.Authorization = &az
	}
	if err := hc.Validate(); err != nil {
		return hc, &FieldError{Path: []any{"http_config"}, Err: err}
	}
	return hc, nil
}

// NewHTTPClient builds a client from an http_config, validated as
// ValidHTTPConfig does (validating twice is harmless), with the sentinel's
// User-Agent. Building reads the TLS files and resolves the secret
// references, which Validate does not, so that a config check that builds
// the client too finds what the daemon would refuse. Errors are
// *FieldErrors at http_config.
func NewHTTPClient(hc commoncfg.HTTPClientConfig, name string) (*http.Client, error) {
	hc, err := ValidHTTPConfig(hc)
	if err != nil {
		return nil, err
	}
	c, err := commoncfg.NewClientFromConfig(hc, name, commoncfg.WithUserAgent("vllm-sentinel"))
	if err != nil {
		return nil, &FieldError{Path: []any{"http_config"}, Err: err}
	}
	return c, nil
}
