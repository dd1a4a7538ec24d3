// Package httpurl checks the http(s) URLs of the configuration — the
// Prometheus to query, the sentinel's own address, every receiver — one way,
// without ever repeating a password in an error.
package httpurl

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Parse parses raw. On failure it returns only the cause: url.Error repeats
// the whole URL, which may hold a password or a token.
func Parse(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, err
	}
	return u, nil
}

// Check checks that u is an absolute http or https URL with a host.
// display names u in the errors; it must hold no secret.
func Check(u *url.URL, display string) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("URL %s: scheme must be http or https", display)
	case u.Host == "":
		return fmt.Errorf("URL %s: no host", display)
	case u.Opaque != "":
		return fmt.Errorf("URL %s: not a hierarchical URL", display)
	}
	return nil
}

// want is what a configured URL must look like.
const want = "want http(s)://host[:port][/path]"

// Validate checks a URL as written in the configuration: http or https,
// with a host. A password in it is masked in the error.
func Validate(s string) error {
	u, err := Parse(s)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	if withoutScheme(s, u, err) {
		return noScheme(s)
	}
	if err != nil {
		// What does not parse cannot be masked: name the cause only.
		return fmt.Errorf("invalid URL: %w", err)
	}
	display := s
	if _, ok := u.User.Password(); ok {
		display = u.Redacted()
	}
	return fmt.Errorf("invalid URL %q: %s", display, want)
}

// withoutScheme tells a URL written without its scheme: localhost:9090
// (which parses as scheme "localhost"), 127.0.0.1:9090 (which does not
// parse), prom/api, or user:password@prom:9090 (scheme "user"), but not
// mailto:ops@example.com.
func withoutScheme(s string, u *url.URL, err error) bool {
	if strings.Contains(s, "://") {
		return false
	}
	if err != nil || u.Scheme == "" {
		return true
	}
	port, _, _ := strings.Cut(u.Opaque, "/")
	if port != "" && strings.Trim(port, "0123456789") == "" {
		return true
	}
	return u.Scheme != "mailto" && strings.Contains(u.Opaque, "@")
}

// noScheme reports a URL without a scheme, with the URL it was probably
// meant to be. A password in it is masked; if it does not parse even with
// a scheme and may hold a password, it is not repeated at all.
func noScheme(s string) error {
	u, err := Parse("http://" + s)
	switch {
	case err == nil && u.Host != "":
		shown := s
		if _, ok := u.User.Password(); ok {
			shown = strings.TrimPrefix(u.Redacted(), "http://")
		}
		return fmt.Errorf("invalid URL %q: %s, e.g. http://%s", shown, want, shown)
	case !strings.Contains(s, "@"):
		return fmt.Errorf("invalid URL %q: %s, e.g. http://localhost:9090", s, want)
	default:
		return fmt.Errorf("invalid URL: %s, e.g. http://localhost:9090", want)
	}
}
