package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"

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
	// Links returns the addresses of the tools the pages link to; nil
	// links to none.
	Links  func() Links
	Logger *slog.Logger
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
	links := func() Links {
		if o.Links == nil {
			return Links{}
		}
		return o.Links()
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		renderHTML(w, o.Logger, func(b io.Writer) error { return o.Page.Render(b, o.Source(), o.Version, links()) })
	})
	mux.HandleFunc("GET /slo/{name}", func(w http.ResponseWriter, r *http.Request) {
		renderHTML(w, o.Logger, func(b io.Writer) error {
			return o.Page.RenderSLO(b, o.Source(), o.Version, links(), r.PathValue("name"), r.URL.Query())
		})
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
		// Encoded whole before the status line: a value JSON cannot hold
		// is a 500 that says so, never a 200 with an empty body.
		body, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			o.Logger.Error("status API: cannot encode the status", "err", err)
			http.Error(w, "cannot encode the status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(body, '\n'))
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		if o.Reload == nil {
			http.Error(w, "lifecycle APIs are disabled; start with --web.enable-lifecycle", http.StatusForbidden)
			return
		}
		if why := crossSite(r); why != "" {
			o.Logger.Warn("refused a cross-site lifecycle request", "remote", r.RemoteAddr, "reason", why)
			http.Error(w, "refused: "+why, http.StatusForbidden)
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

// renderHTML renders a page whole before the status line, so that a page
// that cannot be rendered is an error that says why, never half a page.
func renderHTML(w http.ResponseWriter, logger *slog.Logger, render func(io.Writer) error) {
	var b bytes.Buffer
	if err := render(&b); err != nil {
		if errors.Is(err, ErrNotFound) {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		logger.Error("status page", "err", err)
		http.Error(w, "cannot render the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// crossSite says why r may come from another site's page, which a browser
// would send with the user's network position (a form posting to
// http://localhost:9105/-/reload): a Sec-Fetch-Site other than same-origin
// or none, an Origin of another host, or a body type an HTML form can send
// without a preflight. curl, Prometheus-style scripts and the status page
// itself send none of these.
func crossSite(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return "Sec-Fetch-Site is " + site
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host != r.Host {
			return "Origin " + origin + " is not this server"
		}
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
		return "a form's content type (" + ct + ")"
	}
	return ""
}
