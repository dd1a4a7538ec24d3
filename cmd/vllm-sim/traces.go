package main

import (
	"context"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/vllm-sentinel/vllm-sentinel/sim/simtrace"
)

// tracesURL checks an --otlp-traces-endpoint value and returns the URL spans
// are posted to: an OTLP/HTTP collector's base URL (http://host:4318) gets
// the standard /v1/traces path; a URL with a path is used as it is.
func tracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("--otlp-traces-endpoint %q: want an http:// or https:// URL, e.g. http://127.0.0.1:4318", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// newTracerProvider exports spans over OTLP/HTTP (protobuf) to endpoint
// through a batch span processor, from a resource with service.name "vllm"
// unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise, as for
// vLLM. Shutdown flushes what is still batched.
func newTracerProvider(ctx context.Context, endpoint string) (*sdktrace.TracerProvider, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("otlp traces exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", simtrace.DefaultServiceName)),
		resource.WithFromEnv(), // after the default, so that the environment overrides it
		resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("otlp traces resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
