package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/internal/poll"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/tracing"
)

// jaegerTraces is the query service's JSON answer for traces.
type jaegerTraces struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			TraceID       string `json:"traceID"`
			OperationName string `json:"operationName"`
			References    []any  `json:"references"`
			StartTime     int64  `json:"startTime"` // µs since the epoch
			Duration      int64  `json:"duration"`  // µs
			Tags          []struct {
				Key   string `json:"key"`
				Type  string `json:"type"`
				Value any    `json:"value"`
			} `json:"tags"`
			ProcessID string `json:"processID"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
	Errors []any `json:"errors"`
}

// jaegerClient keeps no idle connections: Jaeger's shutdown would wait for
// them (about 10s) at the end of the test.
var jaegerClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := jaegerClient.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %s", u, resp.Status, err, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %.500s", u, err, b)
	}
}

// successTotal sums vllm:request_success_total over a text exposition.
func successTotal(t *testing.T, text string) float64 {
	t.Helper()
	var sum float64
	for line := range strings.Lines(text) {
		if !strings.HasPrefix(line, "vllm:request_success_total{") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]), 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// TestServeSendsTracesToJaeger runs `vllm-sim serve --otlp-traces-endpoint`
// against a real Jaeger for a few seconds at 20x and reads the spans back
// through Jaeger's query API: every finished request is there as vLLM's
// llm_request span of service vllm, with its attributes, lasting its
// gen_ai.latency.e2e (at 20x) and no less than its TTFT.
func TestServeSendsTracesToJaeger(t *testing.T) {
	t.Parallel()
	j := promtest.StartJaeger(t)
	const speed = 20
	addr := fmt.Sprintf("127.0.0.1:%d", promtest.FreePort(t))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr lockedBuffer
	done := make(chan int, 1)
	began := time.Now()
	go func() {
		done <- run(ctx, []string{"serve", "--listen", addr, "--speed", strconv.Itoa(speed), "--engines", "2",
			"--otlp-traces-endpoint", j.OTLPEndpoint}, io.Discard, &stderr)
	}()
	waitForMetrics(t, "http://"+addr+"/metrics", done, &stderr)
	time.Sleep(4 * time.Second)
	// The requests counted by this scrape have all been handed to the
	// exporter; shutting down flushes them.
	counted := successTotal(t, waitForMetrics(t, "http://"+addr+"/metrics", done, &stderr))
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "sending traces") {
		t.Errorf("serve did not log the traces endpoint: %s", stderr.String())
	}

	var services struct{ Data []string }
	getJSON(t, j.QueryURL+"/api/services", &services)
	search := func(minDuration time.Duration) jaegerTraces {
		q := url.Values{
			"service":   {"vllm"},
			"operation": {tracing.SpanName},
			"start":     {strconv.FormatInt(began.Add(-time.Hour).UnixMicro(), 10)},
			"end":       {strconv.FormatInt(time.Now().Add(time.Minute).UnixMicro(), 10)},
			"limit":     {"100000"},
		}
		if minDuration > 0 {
			q.Set("minDuration", minDuration.String())
		}
		var out jaegerTraces
		getJSON(t, j.QueryURL+"/api/traces?"+q.Encode(), &out)
		return out
	}
	// The receiver stores what it is sent asynchronously: wait for all.
	var all jaegerTraces
	err := poll.Wait(10*time.Second, 200*time.Millisecond, func() bool {
		all = search(0)
		return float64(len(all.Data)) >= counted
	})
	t.Logf("services %v; %d traces in Jaeger, %v requests counted by the last scrape; %.1fs of model time",
		services.Data, len(all.Data), counted, time.Since(began).Seconds()*speed)
	if err != nil || counted < 100 {
		t.Fatalf("%d traces in Jaeger, %v requests counted by the last scrape", len(all.Data), counted)
	}
	// At most the requests finishing in the model seconds after the scrape.
	if limit := counted + 2*2*3*1.5*speed*2; float64(len(all.Data)) > limit {
		t.Errorf("%d traces, more than the %v counted and those finishing after", len(all.Data), counted)
	}

	// Requests slower than 5 model seconds end to end.
	const minE2E = 5 * time.Second
	slow := search(minE2E / speed)
	if len(slow.Data) == 0 || len(slow.Data) >= len(all.Data) {
		t.Fatalf("%d traces of at least %v (%v model time), of %d", len(slow.Data), minE2E/speed, minE2E, len(all.Data))
	}
	checked := 0
	check := func(tr jaegerTraces) {
		t.Helper()
		for _, trace := range tr.Data {
			if len(trace.Spans) != 1 {
				t.Fatalf("trace %s has %d spans, want 1", trace.TraceID, len(trace.Spans))
			}
			sp := trace.Spans[0]
			if sp.OperationName != tracing.SpanName || len(sp.References) != 0 {
				t.Fatalf("trace %s: span %q with %d references", trace.TraceID, sp.OperationName, len(sp.References))
			}
			if p := trace.Processes[sp.ProcessID]; p.ServiceName != "vllm" {
				t.Fatalf("trace %s: service %q", trace.TraceID, p.ServiceName)
			}
			tags := map[string]any{}
			for _, tag := range sp.Tags {
				tags[tag.Key] = tag.Value
			}
			if tags["span.kind"] != "server" {
				t.Fatalf("trace %s: span.kind %v", trace.TraceID, tags["span.kind"])
			}
			num := func(key string) float64 {
				v, ok := tags[key].(float64)
				if !ok {
					t.Fatalf("trace %s: %s = %#v, want a number (tags %v)", trace.TraceID, key, tags[key], tags)
				}
				return v
			}
			for _, key := range []string{tracing.AttrQueue, tracing.AttrPrefill, tracing.AttrDecode, tracing.AttrInference,
				tracing.AttrPromptTokens, tracing.AttrCompletionTokens} {
				if num(key) < 0 {
					t.Fatalf("trace %s: %s = %v", trace.TraceID, key, num(key))
				}
			}
			for _, key := range []string{tracing.AttrRequestID, tracing.AttrResponseModel} {
				if s, _ := tags[key].(string); s == "" {
					t.Fatalf("trace %s: %s = %#v", trace.TraceID, key, tags[key])
				}
			}
			ttft, e2e := num(tracing.AttrTTFT), num(tracing.AttrE2E)
			// Jaeger keeps microseconds; the span lasts e2e/speed on the
			// wall clock, and the first token comes within it.
			dur := float64(sp.Duration) / 1e6 * speed
			if math.Abs(dur-e2e) > 2e-6*speed || ttft > dur+2e-6*speed || ttft < num(tracing.AttrQueue) {
				t.Fatalf("trace %s: lasts %vµs (%vs of model time at %dx), TTFT %vs, e2e %vs", trace.TraceID, sp.Duration, dur, speed, ttft, e2e)
			}
			if sp.StartTime < began.Add(-time.Second).UnixMicro() || sp.StartTime+sp.Duration > time.Now().UnixMicro() {
				t.Fatalf("trace %s: %v..+%vµs outside the run", trace.TraceID, sp.StartTime, sp.Duration)
			}
			checked++
		}
	}
	check(all)
	for _, trace := range slow.Data {
		if d := time.Duration(trace.Spans[0].Duration) * time.Microsecond; d < minE2E/speed {
			t.Fatalf("trace %s lasts %v, below minDuration %v", trace.TraceID, d, minE2E/speed)
		}
	}
	check(slow)

	// One trace by id.
	id := slow.Data[0].TraceID
	var one jaegerTraces
	getJSON(t, j.QueryURL+"/api/traces/"+id, &one)
	if len(one.Data) != 1 || one.Data[0].TraceID != id {
		t.Fatalf("/api/traces/%s: %d traces", id, len(one.Data))
	}
	check(one)
	t.Logf("%d traces of at least %v of model time; %d checked", len(slow.Data), minE2E, checked)
}

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4318":            "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":           "http://127.0.0.1:4318/v1/traces",
		"https://otel.example/otlp/traces": "https://otel.example/otlp/traces",
	} {
		if got, err := tracesURL(in); err != nil || got != want {
			t.Errorf("tracesURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"127.0.0.1:4318", "grpc://127.0.0.1:4317", "http://", "::"} {
		if _, err := tracesURL(in); err == nil {
			t.Errorf("tracesURL(%q) accepted", in)
		}
	}
	var stderr strings.Builder
	if code := run(t.Context(), []string{"serve", "--otlp-traces-endpoint", "localhost:4318"}, io.Discard, &stderr); code != exitUsage {
		t.Errorf("serve with a bad endpoint exited %d: %s", code, stderr.String())
	}
}
