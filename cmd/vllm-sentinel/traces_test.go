package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/vllm-sentinel/vllm-sentinel/internal/poll"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
	"github.com/vllm-sentinel/vllm-sentinel/sim/simtrace"
	"github.com/vllm-sentinel/vllm-sentinel/tracing"
)

// liveTracedSim serves a live vllm-sim surge whose model clock runs speed
// times the wall clock, and sends each finished request's llm_request span
// to the OTLP endpoint, with its start on the wall clock as vLLM's would be.
func liveTracedSim(t *testing.T, otlp string, speed float64) string {
	t.Helper()
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(otlp+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", simtrace.DefaultServiceName))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(200*time.Millisecond)), sdktrace.WithResource(res))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	// The surge starts after its 10 model minutes of precursor: a wall
	// minute at 10x.
	cfg := sim.Config{Scenario: sim.ScenarioSurge, Seed: 1, IncidentAt: 10 * time.Minute}
	return simtest.StartLive(t, cfg, 0, speed, func(s *sim.Sim, l *simtest.Live) {
		s.OnFinish(simtrace.Sink(tp.Tracer(simtrace.TracerName), l.Wall))
	}).Target
}

// tracedConfig is a TTFT SLO with a 2m/20s page pair, for a live surge,
// labelled cluster=name; jaegerURL empty means no tracing block.
func tracedConfig(t *testing.T, name, promURL, amURL, jaegerURL string) string {
	t.Helper()
	dir := t.TempDir()
	tracingBlock := ""
	if jaegerURL != "" {
		tracingBlock = fmt.Sprintf("tracing:\n  jaeger: {url: %s, service: vllm}\n  max_traces: 3\n  timeout: 2s\n", jaegerURL)
	}
	cfg := fmt.Sprintf(`global:
  evaluation_interval: 2s
  resend_interval: 4s
  external_labels: {cluster: %s}
prometheus: {url: %s, timeout: 5s}
vllm: {group_by: [model_name]}
slos:
  - name: ttft
    sli:
      latency: {metric: time_to_first_token, threshold: 1s}
    objective: 99
    window: 1d
    min_events: 10
    alerting:
      windows:
        - {long: 2m, short: 20s, factor: 10, severity: critical, tier: page}
notifiers:
  - {name: am, type: alertmanager, urls: [%s]}
state: {path: %s}
%s`, name, promURL, amURL, dir, tracingBlock)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// jaegerSpan is the part of Jaeger's /api/traces/{id} read here.
type jaegerSpan struct {
	OperationName string `json:"operationName"`
	StartTime     int64  `json:"startTime"`
	Tags          []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

// A live surge traced into a real Jaeger: the page in Alertmanager names
// example requests that Jaeger has, each started inside the alert's window
// and slower than the SLO's threshold to its first token. A second
// sentinel whose Jaeger is stopped pages as soon as one without tracing,
// marked traces: unavailable, and counts the failed lookups.
func TestPageCarriesTracesFromJaeger(t *testing.T) {
	daemonBinary(t) // built before the clock starts
	j := promtest.StartJaeger(t)
	stopped := promtest.StartJaeger(t)
	stopped.Stop()
	const speed = 10
	target := liveTracedSim(t, j.OTLPEndpoint, speed)
	prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{ScrapeTargets: []string{target}})
	prom.WaitForTargets(t)
	am := promtest.StartAlertmanager(t)

	traced := startDaemon(t, tracedConfig(t, "traced", prom.URL, am.URL, j.QueryURL), fmt.Sprintf("127.0.0.1:%d", promtest.FreePort(t)))
	down := startDaemon(t, tracedConfig(t, "down", prom.URL, am.URL, stopped.QueryURL), fmt.Sprintf("127.0.0.1:%d", promtest.FreePort(t)))
	startDaemon(t, tracedConfig(t, "plain", prom.URL, am.URL, ""), fmt.Sprintf("127.0.0.1:%d", promtest.FreePort(t)))

	// When each sentinel's page first reached Alertmanager, and with what.
	firstSeen := map[string]time.Time{}
	annotations := map[string]map[string]string{}
	t.Cleanup(func() {
		if t.Failed() {
			for _, d := range []*daemonProc{traced, down} {
				resp, err := http.Get("http://" + d.addr + "/api/v1/status")
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if len(b) > 4000 {
						b = b[:4000]
					}
					t.Logf("status of %s: %s", d.addr, b)
				}
			}
		}
	})
	poll.Until(t, 3*time.Minute, "pages from all three sentinels, the traced one with example traces", func() bool {
		now := time.Now()
		for _, a := range activeAlerts(t, am, "SLOBurnRate") {
			c := a.Labels["cluster"]
			if _, ok := firstSeen[c]; !ok {
				firstSeen[c] = now
			}
			annotations[c] = a.Annotations
		}
		return len(firstSeen) == 3 && annotations["traced"]["example_traces"] != ""
	})
	t.Logf("first seen in Alertmanager: traced +%s, down +%s, plain (no tracing) %s",
		firstSeen["traced"].Sub(firstSeen["plain"]), firstSeen["down"].Sub(firstSeen["plain"]), firstSeen["plain"].Format(time.RFC3339Nano))

	ids := strings.Fields(annotations["traced"]["example_traces"])
	if len(ids) == 0 || len(ids) > 3 {
		t.Fatalf("example_traces %q: want 1 to 3 trace IDs", annotations["traced"]["example_traces"])
	}
	if annotations["traced"]["cause"] == "" {
		t.Errorf("the traced page has no cause: %v", annotations["traced"])
	}
	pageAt := firstSeen["traced"]
	for _, id := range ids {
		var got struct {
			Data []struct {
				TraceID string       `json:"traceID"`
				Spans   []jaegerSpan `json:"spans"`
			} `json:"data"`
		}
		getJSON(t, j.QueryURL+"/api/traces/"+url.PathEscape(id), &got)
		if len(got.Data) != 1 || got.Data[0].TraceID != id || len(got.Data[0].Spans) == 0 {
			t.Fatalf("Jaeger does not have trace %s: %+v", id, got)
		}
		sp := got.Data[0].Spans[0]
		start := time.UnixMicro(sp.StartTime)
		// Inside the 2m window that ended when the alert was sent.
		if sp.OperationName != tracing.SpanName || start.Before(pageAt.Add(-2*time.Minute-5*time.Second)) || start.After(pageAt) {
			t.Errorf("trace %s: %s starting %s, page seen %s", id, sp.OperationName, start.Format(time.RFC3339Nano), pageAt.Format(time.RFC3339Nano))
		}
		ttft := -1.0
		for _, tag := range sp.Tags {
			if tag.Key == tracing.AttrTTFT {
				ttft, _ = tag.Value.(float64)
			}
		}
		if ttft <= 1 {
			t.Errorf("trace %s: TTFT %v, not above the 1s threshold", id, ttft)
		}
		t.Logf("trace %s in Jaeger: started %s before the page was seen, TTFT %.1fs", id, pageAt.Sub(start).Round(time.Millisecond), ttft)
	}
	// The example traces are in the status API too, with their phases.
	var st struct {
		Evaluation struct {
			SLOs []struct {
				Traces []tracing.Trace `json:"traces"`
			} `json:"slos"`
		} `json:"evaluation"`
	}
	getJSON(t, "http://"+traced.addr+"/api/v1/status", &st)
	var shown int
	for _, s := range st.Evaluation.SLOs {
		for _, tr := range s.Traces {
			if tr.TTFT > 1 && tr.URL == j.QueryURL+"/trace/"+tr.TraceID {
				shown++
			}
		}
	}
	if shown == 0 {
		t.Errorf("the status API shows no example traces: %+v", st)
	}

	// Jaeger stopped: no later than the page of a sentinel without
	// tracing, within one evaluation interval (both evaluate every 2s
	// over the same data), and marked.
	if lag := firstSeen["down"].Sub(firstSeen["plain"]); lag > 2*time.Second+500*time.Millisecond {
		t.Errorf("with Jaeger stopped the page came %s after the one without tracing", lag)
	}
	if got := annotations["down"]["traces"]; got != "unavailable" {
		t.Errorf("with Jaeger stopped: traces annotation %q, want unavailable (annotations %v)", got, annotations["down"])
	}
	if annotations["down"]["example_traces"] != "" || annotations["plain"]["traces"] != "" {
		t.Errorf("down %v, plain %v", annotations["down"], annotations["plain"])
	}
	if n := metricValue(t, down.addr, "vllm_sentinel_trace_lookups_failed_total"); n < 1 {
		t.Errorf("vllm_sentinel_trace_lookups_failed_total = %v with Jaeger stopped", n)
	}
}

// metricValue reads one unlabelled sample from a sentinel's /metrics.
func metricValue(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}

func getJSON(t *testing.T, u string, into any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
