package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	oklogrun "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	toolkitweb "github.com/prometheus/exporter-toolkit/web"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/web"
)

// redactURL hides credentials in a URL before it is shown.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable URL>"
	}
	if u.User != nil {
		u.User = url.User("<redacted>")
	}
	return u.String()
}

func runDaemon(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := newFlagSet("run", stderr)
	cfgFile := configFlag(fs)
	lf := addLogFlags(fs)
	webConfig := fs.String("web.config.file", "", "exporter-toolkit web configuration file (TLS, basic auth) for the HTTP server")
	listen := fs.String("web.listen-address", "", "address for the HTTP server; overrides web.listen_address")
	lifecycle := fs.Bool("web.enable-lifecycle", false, "enable POST /-/reload")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	logger, err := lf.newLogger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "run:", err)
		return exitUsage
	}
	if *cfgFile == "" {
		fmt.Fprintln(stderr, "run: --config is required")
		return exitUsage
	}
	cfg, err := config.LoadFile(*cfgFile, os.Getenv)
	if err != nil {
		logger.Error("invalid configuration", "file", *cfgFile, "err", err)
		return exitFailure
	}
	addr := cfg.Web.ListenAddress
	if *listen != "" {
		addr = *listen
	}
	d := &daemon{
		logger:    logger,
		cfgFile:   *cfgFile,
		lifecycle: *lifecycle,
		reg:       prometheus.NewRegistry(),
	}
	d.cfg.Store(cfg)
	if err := d.run(ctx, addr, *webConfig); err != nil {
		logger.Error("vllm-sentinel stopped with an error", "err", err)
		return exitFailure
	}
	return exitOK
}

// daemon wires the long-running parts together. Each is an actor of a run
// group: when one returns, the others are interrupted.
type daemon struct {
	logger    *slog.Logger
	cfgFile   string
	lifecycle bool
	reg       *prometheus.Registry
	cfg       atomic.Pointer[config.Config]
	reloadCh  chan chan error

	page *web.Page

	// mu serialises reloads and shutdown; cur is read without it, so a
	// reload waiting for the cycle in flight does not stall /-/ready.
	mu  sync.Mutex
	cur atomic.Pointer[stack]
	ctx context.Context
}

func (d *daemon) run(ctx context.Context, addr, webConfig string) error {
	// SIGHUP's default action kills the process: take it over before the
	// slow parts of start-up.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if webConfig != "" {
		if err := toolkitweb.Validate(webConfig); err != nil {
			return fmt.Errorf("--web.config.file %s: %w", webConfig, err)
		}
	}
	unlock, err := lockStateDir(d.cfg.Load().State.Path)
	if err != nil {
		return err
	}
	defer unlock()
	d.reg.MustRegister(
		versioncollector.NewCollector("vllm_sentinel"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	d.reloadCh = make(chan chan error)
	page, err := web.NewPage()
	if err != nil {
		return err
	}
	d.page = page
	d.logger.Info("starting vllm-sentinel", "version", version.Info(), "config", d.cfgFile)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	st, err := buildStack(d.cfg.Load(), d.logger, d.reg)
	if err != nil {
		ln.Close()
		return err
	}
	if err := st.engine.Restore(time.Now()); err != nil {
		ln.Close()
		return fmt.Errorf("restore alert state: %w", err)
	}
	d.ctx = ctx
	d.cur.Store(st)
	st.start(ctx)
	defer func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.logger.Info("finishing the evaluation in flight and flushing notifications")
		d.cur.Load().stop(d.logger)
		d.logger.Info("stopped")
	}()
	srv := &http.Server{Handler: d.routes(), ReadHeaderTimeout: 10 * time.Second}
	var g oklogrun.Group
	{
		ctx, cancel := context.WithCancel(ctx)
		g.Add(func() error {
			<-ctx.Done()
			d.logger.Info("shutting down")
			return nil
		}, func(error) { cancel() })
	}
	{
		addrs := []string{ln.Addr().String()}
		flags := &toolkitweb.FlagConfig{WebListenAddresses: &addrs, WebConfigFile: &webConfig}
		g.Add(func() error {
			d.logger.Info("listening", "address", ln.Addr().String())
			if err := toolkitweb.ServeMultiple([]net.Listener{ln}, srv, flags, d.logger); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http server: %w", err)
			}
			return nil
		}, func(error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
	}
	{
		done := make(chan struct{})
		g.Add(func() error {
			for {
				select {
				case <-hup:
					_ = d.reload()
				case errc := <-d.reloadCh:
					errc <- d.reload()
				case <-done:
					return nil
				}
			}
		}, func(error) {
			close(done)
		})
	}
	return g.Run()
}

// reload swaps in a new configuration only when it is valid; a bad file
// leaves the running one in place.
func (d *daemon) reload() error {
	cfg, err := config.LoadFile(d.cfgFile, os.Getenv)
	if err == nil {
		err = d.swap(cfg)
	}
	if err != nil {
		d.logger.Error("reload refused: the running configuration is kept", "file", d.cfgFile, "err", err)
		return err
	}
	d.cfg.Store(cfg)
	d.logger.Info("configuration reloaded", "file", d.cfgFile, "slos", len(cfg.SLOs), "indicators", len(cfg.Indicators))
	return nil
}

// swap replaces the running stack with one built from cfg, carrying alert
// state over so that a reload neither re-pages nor forgets.
func (d *daemon) swap(cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	next, err := buildStack(cfg, d.logger, d.reg)
	if err != nil {
		return err
	}
	old := d.cur.Load()
	old.stop(d.logger)
	next.engine.CopyState(old.engine)
	next.start(d.ctx)
	d.cur.Store(next)
	return nil
}

func (d *daemon) engine() *evaluator.Engine {
	return d.cur.Load().engine
}

func (d *daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := d.page.Render(w, d.engine(), version.Version); err != nil {
			d.logger.Error("status page", "err", err)
		}
	})
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "vllm-sentinel is healthy.")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !d.engine().Ready() {
			http.Error(w, "vllm-sentinel is not ready: no evaluation has succeeded yet.", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "vllm-sentinel is ready.")
	})
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		e := d.engine()
		cfg := d.cfg.Load()
		status := struct {
			Version    string             `json:"version"`
			ConfigFile string             `json:"config_file"`
			Prometheus string             `json:"prometheus"`
			Ready      bool               `json:"ready"`
			Evaluation *evaluator.Result  `json:"evaluation"`
			Alerts     []*evaluator.Alert `json:"alerts"`
		}{version.Version, d.cfgFile, redactURL(cfg.Prometheus.URL), e.Ready(), e.Last(), e.Alerts()}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(status)
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		if !d.lifecycle {
			http.Error(w, "lifecycle APIs are disabled; start with --web.enable-lifecycle", http.StatusForbidden)
			return
		}
		errc := make(chan error, 1)
		select {
		case d.reloadCh <- errc:
		case <-r.Context().Done():
			return
		}
		if err := <-errc; err != nil {
			http.Error(w, "reload refused: "+err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, "configuration reloaded")
	})
	return mux
}

// lockStateDir takes an exclusive lock on the state directory: two daemons
// sharing one would replay the same alert state and outbox and deliver
// everything twice.
func lockStateDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("state directory %s is in use by another vllm-sentinel (lock %s: %v): give each daemon its own state.path", dir, path, err)
	}
	return func() { f.Close() }, nil
}
