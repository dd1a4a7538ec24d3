package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
)

// Options configure the daemon's HTTP handler.
type Options struct {
	// Source returns what is running now: a reload swaps the engine.
	Source func() Source
	Page   *Page
	// Metrics serves /metrics.
	Metrics http.Handler
	// Reload reloads the configuration and says why it refused; nil
	// disables POST /-/reload.
	Reload     func(ctx context.Context) error
	Version    string
	ConfigFile string
	// Prometheus returns the queried Prometheus's address for display,
	// without credentials.
	Prometheus func() string
	Logger     *slog.Logger
}

// Status is the body of GET /api/v1/status.
type Status struct {
	Version    string             `json:"version"`
	ConfigFile string             `json:"config_file"`
	Prometheus string             `json:"prometheus"`
	Ready      bool               `json:"ready"`
	Evaluation *evaluator.Report  `json:"evaluation"`
	Alerts     []*evaluator.Alert `json:"alerts"`
}

// Handler serves the status page, the status API, /metrics, the health and
// readiness probes and, when enabled, the lifecycle API.
func Handler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := o.Page.Render(w, o.Source(), o.Version); err != nil {
			o.Logger.Error("status page", "err", err)
		}
	})
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "vllm-sentinel is healthy.")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !o.Source().Ready() {
			http.Error(w, "vllm-sentinel is not ready: no evaluation has succeeded yet.", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "vllm-sentinel is ready.")
	})
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		src := o.Source()
		st := Status{Version: o.Version, ConfigFile: o.ConfigFile, Prometheus: o.Prometheus(), Ready: src.Ready(),
			Evaluation: src.Last(), Alerts: src.Alerts()}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			o.Logger.Error("status API", "err", err)
		}
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		if o.Reload == nil {
			http.Error(w, "lifecycle APIs are disabled; start with --web.enable-lifecycle", http.StatusForbidden)
			return
		}
		if err := o.Reload(r.Context()); err != nil {
			http.Error(w, "reload refused: "+err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, "configuration reloaded")
	})
	return mux
}
