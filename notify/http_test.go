package notify

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestEndpointNeverPrintsItsSecret(t *testing.T) {
	t.Parallel()
	const raw = "https://user:PASSWORDMARKER@hooks.example:8443/T0/SECRETMARKER?token=QUERYMARKER"
	e, err := ParseEndpoint(raw)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "url", e)
	for _, s := range []string{e.String(), fmt.Sprint(e), fmt.Sprintf("%v %+v %#v %s", e, e, e, e), logs.String()} {
		for _, m := range []string{"PASSWORDMARKER", "SECRETMARKER", "QUERYMARKER", "user"} {
			if strings.Contains(s, m) {
				t.Errorf("%q shows %s", s, m)
			}
		}
		if !strings.Contains(s, "https://hooks.example:8443") {
			t.Errorf("%q does not show scheme://host", s)
		}
	}
	if got := e.Scrub("404 for /T0/SECRETMARKER?token=QUERYMARKER by user:PASSWORDMARKER"); strings.Contains(got, "MARKER") {
		t.Errorf("Scrub left a secret: %q", got)
	}
}

func TestParseEndpointRejects(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"", "ftp://x.example/SECRET", "x.example/SECRET", "http:///SECRET", "http://x.example/%zzSECRET", "http://[::1/SECRET", "mailto:SECRET@x.example"} {
		_, err := ParseEndpoint(raw)
		if err == nil {
			t.Errorf("ParseEndpoint(%q) succeeded", raw)
		} else if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("ParseEndpoint(%q) = %v: quotes the URL", raw, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"7", 7 * time.Second}, {" 30 ", 30 * time.Second}, {"-3", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestStatusErrorRetryable(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]bool{500: true, 503: true, 429: true, 408: true, 400: false, 403: false, 404: false, 410: false, 200: false} {
		err := fmt.Errorf("wrapped: %w", &StatusError{Code: code, RetryAfter: time.Second})
		if got := Retryable(err); got != want {
			t.Errorf("Retryable(%d) = %v, want %v", code, got, want)
		}
		if RetryAfter(err) != time.Second {
			t.Errorf("RetryAfter(%d) lost through wrapping", code)
		}
	}
	if !Retryable(fmt.Errorf("dial tcp: refused")) {
		t.Error("a transport error is not retryable")
	}
}

func TestBodyReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code int
		body string
		want string
	}{
		{400, "invalid_payload\n", "invalid_payload"},
		{502, "<html>\n<body>Bad   Gateway</body>\n</html>", "<html> <body>Bad Gateway</body> </html>"},
		{503, " \n", "Service Unavailable"},
	} {
		if got := BodyReason(tc.code, tc.body); got != tc.want {
			t.Errorf("BodyReason(%d, %q) = %q, want %q", tc.code, tc.body, got, tc.want)
		}
	}
}

func TestDrainReadsPastTheReason(t *testing.T) {
	t.Parallel()
	r := strings.NewReader(strings.Repeat("x", maxReasonBytes+100))
	if head := Drain(r); len(head) != maxReasonBytes {
		t.Errorf("head of %d bytes, want %d", len(head), maxReasonBytes)
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes left unread", r.Len())
	}
}
