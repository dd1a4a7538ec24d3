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
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Reason)
}

// Retryable reports whether the same request may succeed later: a server
// error, a rate limit or a request timeout. Any other 4xx is a refusal
// (invalid alerts, bad credentials, wrong path) that resending cannot fix.
func (e *StatusError) Retryable() bool {
	return e.Code >= 500 || e.Code == http.StatusTooManyRequests || e.Code == http.StatusRequestTimeout
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
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return max(time.Duration(secs)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
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

// BodyReason makes a one-line message of an error body, the status text
// when it is empty. Decoding the body (Alertmanager's JSON string) is the
// caller's.
func BodyReason(code int, body string) string {
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

// ValidHTTPConfig returns a validated copy of hc. Validate normalises in
// place (bearer_token becomes authorization, an empty authorization type
// becomes Bearer), so the pointed-to parts it writes are copied first and
// the caller's config is left alone.
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
		return hc, fmt.Errorf("http_config: %w", err)
	}
	return hc, nil
}

// NewHTTPClient builds a client from an http_config, validated as
// ValidHTTPConfig does (validating twice is harmless), with the sentinel's
// User-Agent.
func NewHTTPClient(hc commoncfg.HTTPClientConfig, name string) (*http.Client, error) {
	hc, err := ValidHTTPConfig(hc)
	if err != nil {
		return nil, err
	}
	c, err := commoncfg.NewClientFromConfig(hc, name, commoncfg.WithUserAgent("vllm-sentinel"))
	if err != nil {
		return nil, fmt.Errorf("http client: %w", err)
	}
	return c, nil
}
