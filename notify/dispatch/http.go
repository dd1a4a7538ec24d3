package dispatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
)

// The HTTP helpers below are shared by the Slack and webhook notifiers.

const (
	// maxReasonBytes keeps an error body (a proxy's HTML page, say) from
	// flooding logs.
	maxReasonBytes = 512
	// maxDrainBytes is read past the reason so the connection can be
	// reused; a larger body costs a new connection, not a stall.
	maxDrainBytes = 64 << 10
	// minScrubLen keeps scrubbing from blanking out short, common strings
	// such as a path of "/".
	minScrubLen = 4
)

// StatusError is a non-2xx answer from a receiver.
type StatusError struct {
	Code int
	// Reason is the start of the response body (Slack's "invalid_payload"),
	// or the status text when the body is empty. Secrets of the endpoint
	// are scrubbed from it.
	Reason string
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Reason)
}

// Retryable reports whether the same request may succeed later: a server
// error, a rate limit or a request timeout. Any other 4xx is a refusal that
// resending cannot fix.
func (e *StatusError) Retryable() bool {
	return e.Code >= 500 || e.Code == http.StatusTooManyRequests || e.Code == http.StatusRequestTimeout
}

// Retryable classifies an error from Post. Everything without a status is a
// transport failure (refused connection, timeout, reset), worth retrying.
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

// Endpoint is a receiver URL that may hold a secret (a Slack webhook URL
// is a bearer token; a webhook URL may carry one in its path or query). It
// prints, logs and formats as scheme://host only.
type Endpoint struct {
	url     string
	display string
	secrets []string
}

// ParseEndpoint checks raw, an http or https URL with a host. Errors never
// quote raw.
func ParseEndpoint(raw string) (Endpoint, error) {
	if raw == "" {
		return Endpoint{}, errors.New("no URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL; keep only the cause, and not
		// even that when it quotes part of the URL.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		msg := err.Error()
		if strings.Contains(msg, "%") || strings.Contains(msg, "\"") {
			msg = "malformed"
		}
		return Endpoint{}, fmt.Errorf("invalid URL: %s", msg)
	}
	display := RedactURL(raw)
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return Endpoint{}, fmt.Errorf("URL %s: scheme must be http or https", display)
	case u.Host == "":
		return Endpoint{}, fmt.Errorf("URL %s: no host", display)
	case u.Opaque != "":
		return Endpoint{}, fmt.Errorf("URL %s: not a hierarchical URL", display)
	}
	e := Endpoint{url: raw, display: display}
	e.secrets = append(e.secrets, raw, u.EscapedPath(), u.Path, u.RawQuery)
	if u.User != nil {
		pw, _ := u.User.Password()
		e.secrets = append(e.secrets, u.User.String(), pw)
	}
	return e, nil
}

// RedactURL reduces a URL to scheme://host: no credentials, path or query.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<redacted>"
	}
	return u.Scheme + "://" + u.Host
}

// String returns scheme://host.
func (e Endpoint) String() string { return e.display }

// GoString keeps %#v from printing the URL.
func (e Endpoint) GoString() string { return e.display }

// LogValue keeps slog from printing the URL.
func (e Endpoint) LogValue() slog.Value { return slog.StringValue(e.display) }

// Scrub replaces the endpoint's secrets in s, for text that came back from
// the receiver or from the transport.
func (e Endpoint) Scrub(s string) string {
	for _, sec := range e.secrets {
		if len(sec) >= minScrubLen {
			s = strings.ReplaceAll(s, sec, "<redacted>")
		}
	}
	return s
}

// NewHTTPClient builds a client from an http_config. Validate normalises in
// place (bearer_token becomes authorization), so the parts it writes are
// copied first and the caller's config is left alone.
func NewHTTPClient(hc commoncfg.HTTPClientConfig, name string) (*http.Client, error) {
	if hc.BasicAuth != nil {
		ba := *hc.BasicAuth
		hc.BasicAuth = &ba
	}
	if hc.Authorization != nil {
		az := *hc.Authorization
		hc.Authorization = &az
	}
	if err := hc.Validate(); err != nil {
		return nil, fmt.Errorf("http_config: %w", err)
	}
	c, err := commoncfg.NewClientFromConfig(hc, name, commoncfg.WithUserAgent("vllm-sentinel"))
	if err != nil {
		return nil, fmt.Errorf("http client: %w", err)
	}
	return c, nil
}

// Post sends body as JSON with the extra headers and returns the start of
// a 2xx answer's body. Any other answer is a *StatusError. Errors do not name
// the endpoint (callers add e.String()) and hold no secret of e.
func (e Endpoint) Post(ctx context.Context, c *http.Client, header http.Header, body []byte, now time.Time) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("POST %s: build request", e.display)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			return nil, &transportError{msg: e.Scrub(fmt.Sprintf("%s: %v", ue.Op, ue.Err)), err: ue.Err}
		}
		return nil, &transportError{msg: e.Scrub(err.Error()), err: err}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxReasonBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBytes))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return head, nil
	}
	return nil, &StatusError{
		Code:       resp.StatusCode,
		Reason:     e.Scrub(reason(resp.StatusCode, head)),
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), now),
	}
}

// transportError keeps the cause for errors.Is (context.DeadlineExceeded)
// while its message is scrubbed.
type transportError struct {
	msg string
	err error
}

func (e *transportError) Error() string { return e.msg }
func (e *transportError) Unwrap() error { return e.err }

// reason makes a one-line message of an error body.
func reason(code int, body []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "")), " ")
	if s == "" {
		s = http.StatusText(code)
	}
	return s
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
