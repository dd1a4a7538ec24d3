package notify

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Whatever the header says, a Retry-After is between zero and
// MaxRetryAfter: never a wrap-around into a short wait, nor a pause of
// centuries.
func TestParseRetryAfterExtremes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"86400", MaxRetryAfter},
		{"86401", MaxRetryAfter},
		{"18446744074", MaxRetryAfter}, // wraps to 0.29s as nanoseconds
		{"9223372036854775807", MaxRetryAfter},
		{"99999999999999999999999", MaxRetryAfter},
		{"-99999999999999999999999", 0},
		{"+7", 7 * time.Second},
		{"1.5", 0},
		{"7s", 0},
		{"0x10", 0},
		{"Fri, 31 Dec 9999 23:59:59 GMT", MaxRetryAfter},
		{"Mon, 01 Jan 0001 00:00:00 GMT", 0},
		{"\x00\xff", 0},
	} {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// countingBody is an endless body that counts what is read of it.
type countingBody struct{ n int }

func (b *countingBody) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	b.n += len(p)
	return len(p), nil
}

func (b *countingBody) Close() error { return nil }

type answerFunc func(*http.Request) (*http.Response, error)

func (f answerFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// An answer that never ends is read MaxBodyBytes far, and no further,
// whatever its status.
func TestPostReadsAtMostMaxBodyBytes(t *testing.T) {
	t.Parallel()
	ep, err := ParseEndpoint("http://receiver.example/hook")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{200, 500} {
		body := &countingBody{}
		c := &http.Client{Transport: answerFunc(func(r *http.Request) (*http.Response, error) {
			_, _ = io.Copy(io.Discard, r.Body)
			return &http.Response{StatusCode: code, Header: http.Header{}, Body: body, Request: r}, nil
		})}
		got, err := ep.Post(context.Background(), c, nil, []byte("{}"), time.Now())
		if body.n > MaxBodyBytes+32<<10 {
			t.Errorf("HTTP %d: read %d bytes of the body, want at most about %d", code, body.n, MaxBodyBytes)
		}
		switch code {
		case 200:
			if err != nil || len(got) != MaxBodyBytes {
				t.Errorf("HTTP 200: %d bytes, %v; want the first %d", len(got), err, MaxBodyBytes)
			}
		default:
			if se, ok := err.(*StatusError); !ok || len(se.Reason) > maxReasonBytes || strings.Contains(se.Reason, "\n") {
				t.Errorf("HTTP %d: %v, want a *StatusError with a short reason", code, err)
			}
		}
	}
}

// A secret that the answer echoes is scrubbed before the reason is cut,
// so that the cut does not leave a part of it in the error.
func TestReasonScrubbedBeforeCut(t *testing.T) {
	t.Parallel()
	const secret = "/services/T0SECRET/B0SECRET/SECRETMARKER42"
	ep, err := ParseEndpoint("https://hooks.slack.com" + secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, pad := range []int{maxReasonBytes - 20, maxReasonBytes - 5, maxReasonBytes - len(secret) + 1} {
		body := strings.Repeat("a", pad) + secret
		c := &http.Client{Transport: answerFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 404, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})}
		_, err := ep.Post(context.Background(), c, nil, []byte("{}"), time.Now())
		if err == nil || strings.Contains(err.Error(), "/services/T0S") {
			t.Errorf("pad %d: %v shows part of the secret", pad, err)
		}
	}
}
