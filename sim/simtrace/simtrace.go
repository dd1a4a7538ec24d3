// Package simtrace turns the simulator's finished requests into the
// OpenTelemetry spans vLLM emits when it runs with --otlp-traces-endpoint:
// one SERVER span named llm_request per request, from its arrival to its
// last token, with vLLM's gen_ai.* attributes.
//
// The latency attributes are in model seconds, the same intervals the
// simulator's histograms observe for the request; the span's timestamps are
// model times mapped to wall time by the caller (the live server runs model
// time faster than the wall clock with --speed, so its spans are shorter than
// their gen_ai.latency.e2e by that factor).
package simtrace

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/vllm-sentinel/vllm-sentinel/sim"
	"github.com/vllm-sentinel/vllm-sentinel/tracing"
)

// DefaultServiceName is the service.name vLLM's tracer reports unless
// OTEL_SERVICE_NAME says otherwise.
const DefaultServiceName = "vllm"

// TracerName is the instrumentation scope of the spans.
const TracerName = "github.com/vllm-sentinel/vllm-sentinel/sim"

// RequestID is the gen_ai.request.id of a finished request: unique within a
// run, as vLLM's request ids are within a process.
func RequestID(r sim.FinishedRequest) string {
	return fmt.Sprintf("cmpl-%s-%s-%d", r.Model, r.Engine, r.ID)
}

// Attributes are the span attributes of a finished request.
func Attributes(r sim.FinishedRequest) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String(tracing.AttrResponseModel, r.Model),
		attribute.String(tracing.AttrRequestID, RequestID(r)),
		attribute.Int64(tracing.AttrPromptTokens, r.PromptTokens),
		attribute.Int64(tracing.AttrCompletionTokens, r.CompletionTokens),
		attribute.Float64(tracing.AttrQueue, r.Queue().Seconds()),
		attribute.Float64(tracing.AttrTTFT, r.TTFT().Seconds()),
		attribute.Float64(tracing.AttrE2E, r.E2E().Seconds()),
		attribute.Float64(tracing.AttrPrefill, r.Prefill().Seconds()),
		attribute.Float64(tracing.AttrDecode, r.Decode().Seconds()),
		attribute.Float64(tracing.AttrInference, r.Inference().Seconds()),
	}
}

// Sink returns a callback for sim.Sim.OnFinish that records every finished
// request as an llm_request span on tracer, each the root of its own trace
// (the simulated clients send no traceparent). wall maps a model time to the
// wall time the span carries; nil keeps model time.
func Sink(tracer trace.Tracer, wall func(time.Time) time.Time) func(sim.FinishedRequest) {
	if wall == nil {
		wall = func(t time.Time) time.Time { return t }
	}
	ctx := context.Background()
	return func(r sim.FinishedRequest) {
		_, span := tracer.Start(ctx, tracing.SpanName,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithTimestamp(wall(r.Arrival)),
			trace.WithAttributes(Attributes(r)...))
		span.End(trace.WithTimestamp(wall(r.Finished)))
	}
}
