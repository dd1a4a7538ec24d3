package config

import (
	"os"
	"strings"
	"testing"
)

// Per-window series are on unless web.per_window_metrics says otherwise,
// in the file or from the environment.
func TestPerWindowMetricsSwitch(t *testing.T) {
	data, err := os.ReadFile("../configs/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("example.yaml", data, rcv)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Web.PerWindow() {
		t.Error("per-window metrics off by default")
	}
	off := strings.Replace(string(data), "  listen_address: 127.0.0.1:9105", "  listen_address: 127.0.0.1:9105\n  per_window_metrics: false", 1)
	if off == string(data) {
		t.Fatal("configs/example.yaml: no web.listen_address line")
	}
	if cfg, err = Load("example.yaml", []byte(off), rcv); err != nil || cfg.Web.PerWindow() {
		t.Errorf("per_window_metrics: false: %v, per window %v", err, cfg != nil && cfg.Web.PerWindow())
	}
	t.Setenv("VLLM_SENTINEL_WEB_PER_WINDOW_METRICS", "false")
	if cfg, err = Load("example.yaml", data, rcv); err != nil || cfg.Web.PerWindow() {
		t.Errorf("VLLM_SENTINEL_WEB_PER_WINDOW_METRICS=false: %v, per window %v", err, cfg != nil && cfg.Web.PerWindow())
	}
}
