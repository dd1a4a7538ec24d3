package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vllm-sentinel/vllm-sentinel/internal/httpurl"
)

// minScrubLen keeps scrubbing from blanking out short, common strings such
// as a path of "/".
const minScrubLen = 4

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
	u, err := httpurl.Parse(raw)
	if err != nil {
		// Not even the cause when it quotes part of the URL.
		msg := err.Error()
		if strings.Contains(msg, "%") || strings.Contains(msg, "\"") {
			msg = "malformed"
		}
		return Endpoint{}, fmt.Errorf("invalid URL: %s", msg)
	}
	if !utf8.ValidString(u.Host) {
		// A %-escape made it so; it would be a metric label.
		return Endpoint{}, errors.New("invalid URL: host is not valid UTF-8")
	}
	display := RedactURL(raw)
	if err := httpurl.Check(u, display); err != nil {
		return Endpoint{}, err
	}
	e := Endpoint{url: raw, display: display}
	e.secrets = append(e.secrets, raw, u.EscapedPath(), u.Path, u.RawQuery)
	if u.User != nil {
		pw, _ := u.User.Password()
		e.secrets = append(e.secrets, u.User.String(), pw)
	}
	return e, nil
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

// ScrubReason makes a one-line reason of an answer's body, as BodyReason
// does, that holds no secret of e: the body is made valid UTF-8 first
// (dropping a bad byte could join two halves of a secret), scrubbed whole,
// then cut (a cut could leave half of one).
func (e Endpoint) ScrubReason(code int, body string) string {
	s := e.Scrub(strings.ToValidUTF8(body, ""))
	return BodyReason(code, ReasonHead([]byte(s)))
}

// Post sends body as JSON with the extra headers and returns a 2xx
// answer's body, its first MaxBodyBytes; nil if it could not be read whole
// in time. Any other answer is a *StatusError. Errors do not name
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
	b, err := ReadBody(resp.Body)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err != nil {
			// The status is the answer; a body cut short (the deadline,
			// a reset) is not the receiver's to be judged by.
			return nil, nil
		}
		return b, nil
	}
	return nil, &StatusError{
		Code:       resp.StatusCode,
		Reason:     e.ScrubReason(resp.StatusCode, string(b)),
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
