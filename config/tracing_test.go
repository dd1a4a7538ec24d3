package config

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tracing: off without a Jaeger URL; with one, defaults for the rest; bad
// values named at their line.
func TestTracingBlock(t *testing.T) {
	data, err := os.ReadFile("../configs/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("example.yaml", data, rcv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tracing.Enabled() {
		t.Error("tracing on without tracing.jaeger.url")
	}
	on := string(data) + "tracing:\n  jaeger: {url: http://127.0.0.1:16686}\n"
	if cfg, err = Load("example.yaml", []byte(on), rcv); err != nil {
		t.Fatal(err)
	}
	if tr := cfg.Tracing; !tr.Enabled() || tr.Jaeger.Service != "vllm" || tr.MaxTraces != 3 || tr.Timeout.D() != 2*time.Second || tr.UIURL != "" {
		t.Errorf("defaults: %+v", tr)
	}
	lines := strings.Count(string(data), "\n")
	bad := string(data) + "tracing:\n  jaeger: {url: 'jaeger:16686', service: ''}\n  ui_url: ftp://x\n  max_traces: 50\n  timeout: 0s\n"
	_, err = Load("example.yaml", []byte(bad), rcv)
	if err == nil {
		t.Fatal("bad tracing block accepted")
	}
	for _, want := range []string{
		"example.yaml:" + strconv.Itoa(lines+2) + ": tracing.jaeger.url",
		"tracing.jaeger.service: must not be empty",
		"example.yaml:" + strconv.Itoa(lines+3) + ": tracing.ui_url",
		"tracing.max_traces: must be between 1 and 20, got 50",
		"tracing.timeout: must be positive",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	t.Setenv("VLLM_SENTINEL_TRACING_MAX_TRACES", "5")
	if cfg, err = Load("example.yaml", []byte(on), rcv); err != nil || cfg.Tracing.MaxTraces != 5 {
		t.Errorf("VLLM_SENTINEL_TRACING_MAX_TRACES=5: %v, %+v", err, cfg)
	}
}
