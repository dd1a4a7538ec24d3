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

// web.grafana_url is a link on the status pages: an address that is no
// http(s) URL is refused at its line.
func TestGrafanaURL(t *testing.T) {
	data, err := os.ReadFile("../configs/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	with := func(u string) string {
		return strings.Replace(string(data), "  listen_address: 127.0.0.1:9105", "  listen_address: 127.0.0.1:9105\n  grafana_url: "+u, 1)
	}
	cfg, err := Load("example.yaml", []byte(with("https://grafana.example/d/vllm")), rcv)
	if err != nil || cfg.Web.GrafanaURL != "https://grafana.example/d/vllm" {
		t.Fatalf("grafana_url: %v, got %q", err, cfg.Web.GrafanaURL)
	}
	if _, err := Load("example.yaml", []byte(with("grafana.example")), rcv); err == nil || !strings.Contains(err.Error(), "web.grafana_url") {
		t.Errorf("grafana_url without a scheme: %v", err)
	}
}
