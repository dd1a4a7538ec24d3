package promtest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// JaegerVersion is the Jaeger module version make deps builds from the tool
// module tools/jaeger (whose go.mod requires github.com/jaegertracing/jaeger
// at this version). Its cmd/jaeger is Jaeger v2 (v2.13.0), a build of the
// OpenTelemetry Collector configured by a YAML file.
const JaegerVersion = "v1.76.0"

// JaegerBinary is Jaeger's all-in-one binary, as scripts/install-deps.sh
// builds it into the tools cache (see ToolsDir). A missing one fails the
// test with the command that builds it.
func JaegerBinary(t testing.TB) string {
	t.Helper()
	p := filepath.Join(ToolsDir(), "jaeger-"+JaegerVersion, "jaeger")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("promtest: Jaeger %s not found at %s: run make deps (scripts/install-deps.sh) to build it", JaegerVersion, p)
	}
	return p
}

// Jaeger is a running Jaeger all-in-one with in-memory storage, every
// listener on a free port of 127.0.0.1.
type Jaeger struct {
	// OTLPEndpoint is the OTLP/HTTP receiver's base URL,
	// http://127.0.0.1:PORT: spans go to OTLPEndpoint + "/v1/traces".
	OTLPEndpoint string
	// QueryURL is the query service's base URL (the UI and its JSON API,
	// /api/services, /api/traces, /api/traces/{id}).
	QueryURL string

	srv server
}

// jaegerConfig is the collector configuration: an OTLP/HTTP receiver
// feeding in-memory storage, the query service on it, and the health check
// answering /-/ready (for waitReady) once every component is up. The
// collector's own metrics are off, so that it binds no fixed port (8888), and
// so is the query service's tracing of itself (on by default in Jaeger v2):
// it sends to localhost:4317, another test's receiver or nobody, and its
// flush then holds up the shutdown for 10 seconds.
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info

extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: %[1]s
      status:
        enabled: true
        path: /-/ready
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: %[2]s
    grpc:
      endpoint: %[3]s

receivers:
  otlp:
    protocols:
      http:
        endpoint: %[4]s

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// StartJaeger starts Jaeger, waits until it is ready and stops it when the
// test ends; on failure the test log gets the end of Jaeger's log.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	bin := JaegerBinary(t)
	dir := t.TempDir()
	configPath := filepath.Join(dir, "jaeger.yaml")
	j := &Jaeger{srv: server{name: "jaeger", bin: bin, logPath: filepath.Join(dir, "jaeger.log")}}
	j.srv.cleanup(t)
	var configErr error
	err := j.srv.startWithFreePort(t.Context(), func(health string) []string {
		// The health check is the server's address; the other listeners
		// take their own free ports, new ones on every attempt.
		var addrs [3]string
		for i := range addrs {
			port, err := freePort()
			if err != nil {
				configErr = err
			}
			addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
		query, grpc, otlp := addrs[0], addrs[1], addrs[2]
		j.QueryURL, j.OTLPEndpoint = "http://"+query, "http://"+otlp
		if err := os.WriteFile(configPath, fmt.Appendf(nil, jaegerConfig, health, query, grpc, otlp), 0o644); err != nil {
			configErr = err
		}
		return []string{"--config=file:" + configPath}
	})
	if configErr != nil {
		t.Fatalf("promtest: jaeger config: %v", configErr)
	}
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	return j
}

// Stop shuts Jaeger down (its in-memory traces are gone); stopping a
// stopped Jaeger does nothing.
func (j *Jaeger) Stop() { j.srv.stop() }
