// Package httpurl checks the http(s) URLs of the configuration — the
// Prometheus to query, the sentinel's own address, every receiver — one way,
// without ever repeating a password in an error.
package httpurl

import (
	"errors"
	"fmt"
	"net/url"
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

// Validate checks a URL as written in the configuration: http or https,
// with a host. A password in it is masked in the error.
func Validate(s string) error {
	u, err := Parse(s)
	if err != nil {
		// What does not parse cannot be masked: name the cause only.
		return fmt.Errorf("invalid URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		display := s
		if _, ok := u.User.Password(); ok {
			display = u.Redacted()
		}
		return fmt.Errorf("invalid URL %q: want http(s)://host[:port][/path]", display)
	}
	return nil
}
