package notify

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// Retry-After values as receivers and proxies send them, and as they
// should not.
var retryAfterSeeds = []string{
	"", "0", "7", " 30 ", "120", "-3", "+7", "1.5", "7s", "soon", "0x10", "1e3",
	"86400", "86401", "18446744074", "9223372036854775807", "9223372036854775808",
	"99999999999999999999999", "-99999999999999999999999",
	"Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT",
	"Wed, 21 Oct 2015 07:28:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
	"\x00\xff", "7, 8",
}

// FuzzParseRetryAfter: whatever the header holds, the delay is between
// zero and MaxRetryAfter.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range retryAfterSeeds {
		f.Add(s, int64(1_767_225_600))
	}
	f.Add("Thu, 01 Jan 1970 00:00:10 GMT", int64(0))
	f.Add("120", int64(-62135596800))
	f.Fuzz(func(t *testing.T, v string, now int64) {
		d := ParseRetryAfter(v, time.Unix(now, 0))
		if d < 0 || d > MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %s", v, d)
		}
	})
}

// FuzzPostAnswer: Endpoint.Post, what every notifier but Alertmanager
// posts with, on any answer a receiver can give: it returns a 2xx's body,
// at most MaxBodyBytes of it, and anything else as a *StatusError with a
// short, one-line, valid UTF-8 reason free of the URL's secrets.
func FuzzPostAnswer(f *testing.F) {
	const secret = "/T0SECRET/B0SECRET/SECRETMARKER42"
	for _, tc := range []struct {
		code        int
		contentType string
		retryAfter  string
		body        string
	}{
		{200, "text/html", "", "ok"},
		{200, "", "", ""},
		{204, "", "", ""},
		{200, "application/json", "", `{"ok":false,"error":"invalid_blocks"}`},
		{400, "text/plain", "", "invalid_payload"},
		{404, "text/html", "", "<html>no service " + secret + "</html>"},
		{404, "text/html", "", strings.Repeat("a", 490) + secret},
		{429, "text/plain", "30", "rate_limited"},
		{429, "", "99999999999999999999999", ""},
		{500, "text/html", "", "<html>\n<body>Internal   Server Error</body>\n</html>"},
		{502, "text/html; charset", "", "\x00\xff\xfe\xfd"},
		{503, "", "Fri, 31 Dec 9999 23:59:59 GMT", strings.Repeat("é", 300)},
		{301, "", "", ""},
		{101, "", "", ""},
		{999, "", "-1", "odd"},
	} {
		f.Add(tc.code, tc.contentType, tc.retryAfter, []byte(tc.body))
	}
	for _, s := range retryAfterSeeds {
		f.Add(429, "", s, []byte(nil))
	}
	ep, err := ParseEndpoint("https://user:PASSWORDMARKER@hooks.example" + secret + "?token=QUERYMARKER")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, code int, contentType, retryAfter string, body []byte) {
		if code < 100 || code > 999 {
			// What net/http reads off the wire.
			code = 100 + (code%900+900)%900
		}
		c := &http.Client{Transport: answerFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			h.Set("Content-Type", contentType)
			h.Set("Retry-After", retryAfter)
			return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})}
		got, err := ep.Post(context.Background(), c, nil, []byte("{}"), time.Unix(1_767_225_600, 0))
		if code >= 200 && code < 300 {
			if err != nil || len(got) > MaxBodyBytes {
				t.Fatalf("HTTP %d: %d bytes, %v", code, len(got), err)
			}
			return
		}
		se, ok := err.(*StatusError)
		if !ok {
			t.Fatalf("HTTP %d: %v (%T), want a *StatusError", code, err, err)
		}
		if se.Code != code || se.RetryAfter < 0 || se.RetryAfter > MaxRetryAfter {
			t.Fatalf("HTTP %d: %+v", code, se)
		}
		if len(se.Reason) > maxReasonBytes || strings.IndexFunc(se.Reason, unicode.IsControl) >= 0 || !utf8.ValidString(se.Reason) {
			t.Fatalf("HTTP %d: reason %q is not one short line of UTF-8", code, se.Reason)
		}
		if se.Retryable() != (code >= 500 || code == 429 || code == 408) {
			t.Fatalf("HTTP %d: retryable %v", code, se.Retryable())
		}
		for _, m := range []string{secret, "PASSWORDMARKER", "QUERYMARKER"} {
			if bytes.Contains(body, []byte(m)) && strings.Contains(err.Error(), m) {
				t.Fatalf("HTTP %d: %q shows %s", code, err, m)
			}
		}
	})
}
