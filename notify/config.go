package notify

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// The pieces below serve the Config types of the receiver packages: each
// decodes and checks its own entry of notifiers:, and all of them report
// alike, so that the config loader can put every problem on its line.

// FieldError is a problem with one setting of a notifiers: entry. Path
// locates it from the entry itself, string keys and int indices
// ({"urls", 1}), so that the loader can prefix it and name its line.
type FieldError struct {
	Path []any
	Err  error
}

func (e *FieldError) Error() string {
	if len(e.Path) == 0 {
		return e.Err.Error()
	}
	return pathString(e.Path) + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// FieldPath returns Path, for callers that match on an interface rather
// than on this type.
func (e *FieldError) FieldPath() []any { return e.Path }

// FieldErrorf returns a *FieldError at path.
func FieldErrorf(path []any, format string, args ...any) *FieldError {
	return &FieldError{Path: path, Err: fmt.Errorf(format, args...)}
}

// AppendUnreported appends to errs those of more whose setting errs does
// not report on yet. A DecodeConfig checks in words of the config first,
// then runs the checks of its notifier's constructor, which may find the
// same problem again in other words: each setting is reported once, in the
// config's words when they have any.
func AppendUnreported(errs []error, more ...error) []error {
	reported := map[string]bool{}
	for _, err := range errs {
		if fe, ok := errors.AsType[*FieldError](err); ok {
			reported[pathString(fe.Path)] = true
		}
	}
	for _, err := range more {
		fe, ok := errors.AsType[*FieldError](err)
		if ok && reported[pathString(fe.Path)] {
			continue
		}
		if ok {
			reported[pathString(fe.Path)] = true
		}
		errs = append(errs, err)
	}
	return errs
}

// pathString renders a path as urls[1] or http_config.tls_config.
func pathString(p []any) string {
	var b strings.Builder
	for _, e := range p {
		if i, ok := e.(int); ok {
			fmt.Fprintf(&b, "[%d]", i)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		fmt.Fprint(&b, e)
	}
	return b.String()
}

// HTTPSettings are the keys of an entry that configure the HTTP client,
// the same for every receiver type. Config types embed it inline.
type HTTPSettings struct {
	// Timeout bounds each POST; zero means DefaultTimeout.
	Timeout model.Duration `yaml:"timeout,omitempty"`
	// HTTPConfig sets authentication, proxy and TLS settings; nil means
	// commoncfg.DefaultHTTPClientConfig.
	HTTPConfig *commoncfg.HTTPClientConfig `yaml:"http_config,omitempty"`
}

// ValidateHTTP reports a bad http_config as a *FieldError. Validate
// normalises in place, as the notifier would.
func (h HTTPSettings) ValidateHTTP() []error {
	if h.HTTPConfig == nil {
		return nil
	}
	if err := h.HTTPConfig.Validate(); err != nil {
		return []error{&FieldError{Path: []any{"http_config"}, Err: err}}
	}
	return nil
}

// ClientConfig is HTTPConfig, or the default when the entry leaves it out.
func (h HTTPSettings) ClientConfig() commoncfg.HTTPClientConfig {
	if h.HTTPConfig == nil {
		return commoncfg.DefaultHTTPClientConfig
	}
	return *h.HTTPConfig
}

// TimeoutDuration is Timeout as the notifiers' options take it.
func (h HTTPSettings) TimeoutDuration() time.Duration { return time.Duration(h.Timeout) }

// NotifierLogger is l, or a logger that discards when l is nil, narrowed
// to the notifier name: every notifier's lines say whose they are.
func NotifierLogger(l *slog.Logger, name string) *slog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return l.With("notifier", name)
}

// Env is what a notifier takes from the daemon rather than from its entry.
type Env struct {
	// ExternalURL is the sentinel's own address, linked from notifications.
	ExternalURL string
	// Logger is narrowed to the notifier by its constructor; nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
}
