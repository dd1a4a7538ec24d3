package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	oklogrun "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	toolkitweb "github.com/prometheus/exporter-toolkit/web"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/alertmanager"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
	"github.com/vllm-sentinel/vllm-sentinel/web"
)

func addRunCommand(app *kingpin.Application) runner {
	cmd := app.Command("run", "Run the daemon: evaluate the SLOs and indicators, deliver alerts, serve the status page and /metrics.").
		HelpLong(commandHelp(
			"vllm-sentinel run --config.file /etc/vllm-sentinel/config.yaml",
			"vllm-sentinel run --config.file configs/example.yaml --web.enable-lifecycle --log.level debug --log.format text",
		))
	cfgFlag := addConfigFlag(cmd)
	lf := addLogFlags(cmd)
	webConfig := cmd.Flag("web.config.file", "exporter-toolkit web configuration file (TLS, basic auth) for the HTTP server.").PlaceHolder("FILE").Default("").String()
	listen := cmd.Flag("web.listen-address", "Address for the HTTP server; overrides web.listen_address.").PlaceHolder("ADDR").Default("").String()
	lifecycle := cmd.Flag("web.enable-lifecycle", "Enable POST /-/reload.").Bool()
	f := runFlags{config: cfgFlag, log: lf, webConfig: webConfig, listen: listen, lifecycle: lifecycle}
	return func(ctx context.Context, stdout, stderr io.Writer) int {
		return runDaemon(ctx, f, stdout, stderr)
	}
}

// runFlags are the flags of run, set by the parse.
type runFlags struct {
	config            *configFlags
	log               logFlags
	webConfig, listen *string
	lifecycle         *bool
}

func runDaemon(ctx context.Context, f runFlags, _, stderr io.Writer) int {
	// A log piped to a reader that goes away (| tee, | head, a closed
	// terminal) must not kill the daemon before its graceful shutdown:
	// the write fails with EPIPE instead, and the daemon goes on.
	signal.Ignore(syscall.SIGPIPE)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(evaluator.GCPercent)
	}
	cfgFile, webConfig, listen, lifecycle := f.config.path(), f.webConfig, f.listen, f.lifecycle
	logger, err := f.log.newLogger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "run:", err)
		return exitUsage
	}
	if cfgFile == "" {
		fmt.Fprintln(stderr, "run: --config.file is required")
		return exitUsage
	}
	rcv := receivers.New()
	cfg, err := config.LoadFile(cfgFile, rcv)
	if err != nil {
		logger.Error("invalid configuration", "file", cfgFile, "err", err)
		return exitFailure
	}
	addr := cfg.Web.ListenAddress
	if *listen != "" {
		addr = *listen
	}
	d := &daemon{
		logger:    logger,
		cfgFile:   cfgFile,
		lifecycle: *lifecycle,
		reg:       prometheus.NewRegistry(),
		receivers: rcv,
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
	receivers *receivers.Registry
	cfg       atomic.Pointer[config.Config]
	reloadCh  chan chan error
	// reloadsDone closes when reloads are no longer taken (shutdown).
	reloadsDone chan struct{}

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
	d.reloadsDone = make(chan struct{})
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
	st, err := buildStack(d.cfg.Load(), nil, d.receivers, d.outboxLost, d.logger, d.reg)
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
	srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second}
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
		done := d.reloadsDone
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
	cfg, err := config.LoadFile(d.cfgFile, d.receivers)
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
	old := d.cur.Load()
	if cfg.State.Path != old.cfg.State.Path {
		// The running daemon holds the lock of its state directory, and
		// its alert state and outboxes are there: moving them is a restart.
		return fmt.Errorf("state.path changed from %s to %s: restart the daemon to move its state", old.cfg.State.Path, cfg.State.Path)
	}
	next, err := buildStack(cfg, old, d.receivers, d.outboxLost, d.logger, d.reg)
	if err != nil {
		return err
	}
	old.handOver(next, d.logger)
	next.engine.CopyState(old.engine)
	// Current before its queues start: a loss a queue finds at its first
	// run goes to this engine.
	d.cur.Store(next)
	next.start(d.ctx)
	return nil
}

// outboxLost reports a notifier's discarded outbox to the engine running
// now, which may be younger than the stack that built the queue.
func (d *daemon) outboxLost(notifier string, err error) {
	if st := d.cur.Load(); st != nil {
		st.engine.StateLost("outbox of notifier "+notifier, time.Now(), err)
	}
}

// handler serves the daemon's HTTP API over whichever engine runs now.
func (d *daemon) handler() http.Handler {
	o := web.Options{
		Source:     func() web.Source { return d.cur.Load().engine },
		Page:       d.page,
		Metrics:    promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg}),
		Version:    version.Version,
		ConfigFile: d.cfgFile,
		Prometheus: func() string { return notify.RedactURL(d.cfg.Load().Prometheus.URL) },
		Links:      func() web.Links { return statusLinks(d.cfg.Load()) },
		Logger:     d.logger,
	}
	if d.lifecycle {
		o.Reload = func(ctx context.Context) error {
			errc := make(chan error, 1)
			select {
			case d.reloadCh <- errc:
			case <-d.reloadsDone:
				return errors.New("shutting down")
			case <-ctx.Done():
				return ctx.Err()
			}
			return <-errc
		}
	}
	return web.Handler(o)
}

// statusLinks are the tools the status pages link to: the queried
// Prometheus, the first Alertmanager notified and web.grafana_url, without
// credentials.
func statusLinks(cfg *config.Config) web.Links {
	l := web.Links{Prometheus: notify.RedactURL(cfg.Prometheus.URL), Grafana: cfg.Web.GrafanaURL}
	for _, n := range cfg.Notifiers {
		if am, ok := n.Settings.(*alertmanager.Config); ok && len(am.URLs) > 0 && l.Alertmanager == "" {
			l.Alertmanager = notify.RedactURL(am.URLs[0])
		}
	}
	return l
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
