package config

import (
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/internal/httpurl"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// TracingConfig says where the slow requests behind an alert are looked up:
// a Jaeger query API holding vLLM's llm_request spans. Without jaeger.url
// there is no lookup.
type TracingConfig struct {
	Jaeger JaegerConfig `yaml:"jaeger"`
	// UIURL is the base of the trace links in alerts, when people open
	// Jaeger at another address than the sentinel queries (default: url).
	UIURL string `yaml:"ui_url"`
	// MaxTraces is how many example requests an alert carries.
	MaxTraces int `yaml:"max_traces"`
	// Timeout bounds a lookup: a slow or dead Jaeger never holds up a page.
	Timeout rules.Duration `yaml:"timeout"`
}

// JaegerConfig is the query service (the UI's address, port 16686).
type JaegerConfig struct {
	URL     string `yaml:"url"`
	Service string `yaml:"service"`
}

// Enabled reports whether traces are looked up.
func (t TracingConfig) Enabled() bool { return t.Jaeger.URL != "" }

func defaultTracing() TracingConfig {
	return TracingConfig{Jaeger: JaegerConfig{Service: "vllm"}, MaxTraces: 3, Timeout: rules.Duration(2 * time.Second)}
}

func (l *loader) checkTracing(t TracingConfig) {
	path := func(k ...any) []any { return append([]any{"tracing"}, k...) }
	if t.Jaeger.URL != "" {
		if err := httpurl.Validate(t.Jaeger.URL); err != nil {
			l.at(path("jaeger", "url"), "%v", err)
		}
		if t.Jaeger.Service == "" {
			l.at(path("jaeger", "service"), "must not be empty: the service.name of vLLM's spans (vllm unless OTEL_SERVICE_NAME says otherwise)")
		}
	}
	if t.UIURL != "" {
		if err := httpurl.Validate(t.UIURL); err != nil {
			l.at(path("ui_url"), "%v", err)
		}
	}
	if t.MaxTraces < 1 || t.MaxTraces > 20 {
		l.at(path("max_traces"), "must be between 1 and 20, got %d", t.MaxTraces)
	}
	if t.Timeout <= 0 {
		l.at(path("timeout"), "must be positive")
	}
}
