package simtrace_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vllm-sentinel/vllm-sentinel/sim"
	"github.com/vllm-sentinel/vllm-sentinel/sim/simtrace"
	"github.com/vllm-sentinel/vllm-sentinel/tracing"
)

var start = time.Date(2025, 1, 6, 12, 0, 0, 0, time.UTC)

// totals are the success count and the TTFT and e2e histogram counts and
// sums over every engine.
type totals struct {
	success           float64
	ttftN, e2eN       uint64
	ttftSum, e2eSum   float64
	queueSum, prefSum float64
	decodeSum         float64
	slowTTF           uint64
}

func gather(t *testing.T, reg *prometheus.Registry) totals {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out totals
	hist := func(m *dto.Metric) (uint64, float64) {
		return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "vllm:request_success_total":
				out.success += m.GetCounter().GetValue()
			case "vllm:time_to_first_token_seconds":
				n, s := hist(m)
				out.ttftN += n
				out.ttftSum += s
				for _, b := range m.GetHistogram().GetBucket() {
					if b.GetUpperBound() == 1 {
						out.slowTTF += n - b.GetCumulativeCount()
					}
				}
			case "vllm:e2e_request_latency_seconds":
				n, s := hist(m)
				out.e2eN += n
				out.e2eSum += s
			case "vllm:request_queue_time_seconds":
				_, s := hist(m)
				out.queueSum += s
			case "vllm:request_prefill_time_seconds":
				_, s := hist(m)
				out.prefSum += s
			case "vllm:request_decode_time_seconds":
				_, s := hist(m)
				out.decodeSum += s
			}
		}
	}
	return out
}

// TestSurgeSpans runs a short surge on two engines with the sink and an
// in-memory exporter: one well-formed llm_request span per finished request,
// in model order, whose count and latencies match what the metrics counted
// over the same stretch of model time.
func TestSurgeSpans(t *testing.T) {
	s, err := sim.New(sim.Config{Scenario: sim.ScenarioSurge, Engines: 2, IncidentAt: 10 * time.Minute}, start)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	// Before the sink: the spans start with the requests finishing after.
	s.AdvanceTo(start.Add(5 * time.Minute))
	before := gather(t, reg)

	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	// A wall clock running at 10x model speed, an hour later.
	const speed = 10
	wallStart := start.Add(time.Hour)
	wall := func(m time.Time) time.Time { return wallStart.Add(m.Sub(start) / speed) }
	s.OnFinish(simtrace.Sink(tp.Tracer(simtrace.TracerName), wall))
	for at := 5 * time.Minute; at <= 25*time.Minute; at += 15 * time.Second {
		s.AdvanceTo(start.Add(at))
	}
	after := gather(t, reg)
	spans := exp.GetSpans()

	if want := after.success - before.success; float64(len(spans)) != want || want < 1000 {
		t.Fatalf("%d spans, vllm:request_success_total increased by %v", len(spans), want)
	}
	if got, want := uint64(len(spans)), after.e2eN-before.e2eN; got != want {
		t.Fatalf("%d spans, e2e histogram count increased by %d", got, want)
	}
	var sumTTFT, sumE2E, sumQueue, sumPrefill, sumDecode float64
	var slow uint64
	lastEnd := map[string]time.Time{}
	ids := map[string]bool{}
	for i, sp := range spans {
		if sp.Name != tracing.SpanName || sp.SpanKind != trace.SpanKindServer {
			t.Fatalf("span %d: %q kind %v, want llm_request SERVER", i, sp.Name, sp.SpanKind)
		}
		if sp.Parent.IsValid() || !sp.SpanContext.TraceID().IsValid() {
			t.Fatalf("span %d: not a root span with a trace id", i)
		}
		attrs := map[attribute.Key]attribute.Value{}
		for _, kv := range sp.Attributes {
			attrs[kv.Key] = kv.Value
		}
		f := func(key string) float64 {
			v, ok := attrs[attribute.Key(key)]
			if !ok || v.Type() != attribute.FLOAT64 {
				t.Fatalf("span %d: attribute %s = %v, want a float", i, key, v)
			}
			return v.AsFloat64()
		}
		n := func(key string) int64 {
			v, ok := attrs[attribute.Key(key)]
			if !ok || v.Type() != attribute.INT64 {
				t.Fatalf("span %d: attribute %s = %v, want an int", i, key, v)
			}
			return v.AsInt64()
		}
		str := func(key string) string {
			v, ok := attrs[attribute.Key(key)]
			if !ok || v.Type() != attribute.STRING || v.AsString() == "" {
				t.Fatalf("span %d: attribute %s = %v, want a string", i, key, v)
			}
			return v.AsString()
		}
		if len(attrs) != 10 {
			t.Fatalf("span %d: %d attributes, want 10: %v", i, len(attrs), sp.Attributes)
		}
		queue, ttft, e2e := f(tracing.AttrQueue), f(tracing.AttrTTFT), f(tracing.AttrE2E)
		prefill, decode, inference := f(tracing.AttrPrefill), f(tracing.AttrDecode), f(tracing.AttrInference)
		prompt, completion := n(tracing.AttrPromptTokens), n(tracing.AttrCompletionTokens)
		if model := str(tracing.AttrResponseModel); model != "llama-3.1-8b" {
			t.Fatalf("span %d: model %q", i, model)
		}
		id := str(tracing.AttrRequestID)
		if ids[id] {
			t.Fatalf("span %d: request id %s repeats", i, id)
		}
		ids[id] = true
		engine := id[:strings.LastIndexByte(id, '-')]
		if !(queue >= 0 && prefill > 0 && ttft >= queue && e2e >= ttft && decode >= 0) {
			t.Fatalf("span %d: queue %v prefill %v ttft %v e2e %v decode %v out of order", i, queue, prefill, ttft, e2e, decode)
		}
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }
		if !near(queue+prefill, ttft) || !near(prefill+decode, inference) || !near(ttft+decode, e2e) {
			t.Fatalf("span %d: queue %v + prefill %v != ttft %v, or prefill + decode %v != inference %v, or ttft + decode != e2e %v",
				i, queue, prefill, ttft, decode, inference, e2e)
		}
		if prompt < 1 || completion < 1 {
			t.Fatalf("span %d: %d prompt and %d completion tokens", i, prompt, completion)
		}
		// The span runs from arrival to the last token on the wall clock.
		if !sp.StartTime.Before(sp.EndTime) || sp.StartTime.Before(wallStart) {
			t.Fatalf("span %d: %v..%v", i, sp.StartTime, sp.EndTime)
		}
		if got, want := sp.EndTime.Sub(sp.StartTime), time.Duration(e2e*1e9/speed); got-want > time.Microsecond || want-got > time.Microsecond {
			t.Fatalf("span %d: lasts %v on the wall clock, e2e %vs at %dx", i, got, e2e, speed)
		}
		// Each engine's requests come in finish order.
		if sp.EndTime.Before(lastEnd[engine]) {
			t.Fatalf("span %d (%s) ends at %v, before the previous one of its engine (%v)", i, id, sp.EndTime, lastEnd[engine])
		}
		lastEnd[engine] = sp.EndTime
		// Within a step (well under a second) of the traced stretch: a
		// step under way at a tick counts at it.
		if !sp.EndTime.After(wall(start.Add(5*time.Minute))) || sp.EndTime.After(wall(start.Add(25*time.Minute+time.Second))) {
			t.Fatalf("span %d ends at %v, outside the traced stretch", i, sp.EndTime)
		}
		sumTTFT += ttft
		sumE2E += e2e
		sumQueue += queue
		sumPrefill += prefill
		sumDecode += decode
		if ttft > 1 {
			slow++
		}
	}
	// The same latencies as the histograms observed at the finish (TTFT is
	// observed at the first token, which may come before the stretch).
	for _, c := range []struct {
		name      string
		spans, hm float64
	}{
		{"e2e", sumE2E, after.e2eSum - before.e2eSum},
		{"queue", sumQueue, after.queueSum - before.queueSum},
		{"prefill", sumPrefill, after.prefSum - before.prefSum},
		{"decode", sumDecode, after.decodeSum - before.decodeSum},
	} {
		if math.Abs(c.spans-c.hm) > 1e-6*c.hm {
			t.Errorf("%s: spans sum to %vs, the histogram sum increased by %vs", c.name, c.spans, c.hm)
		}
	}
	// About the TTFTs the histogram saw; the surge makes many slow.
	if math.Abs(sumTTFT-(after.ttftSum-before.ttftSum)) > 0.1*sumTTFT {
		t.Errorf("spans' TTFTs sum to %vs, the histogram sum increased by %vs", sumTTFT, after.ttftSum-before.ttftSum)
	}
	if want := after.slowTTF - before.slowTTF; slow < 100 || math.Abs(float64(slow)-float64(want)) > 0.1*float64(want) {
		t.Errorf("%d spans with TTFT > 1s, the histogram counted %d above le=1", slow, want)
	}
	t.Logf("%d spans, %d with TTFT > 1s", len(spans), slow)
	if len(lastEnd) != 2 {
		t.Errorf("spans from %d engines, want 2", len(lastEnd))
	}
}
