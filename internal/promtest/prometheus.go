package promtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/internal/poll"
)

const (
	// DefaultMaxBlockDuration is the block size Backfill asks promtool for.
	// promtool 2.42 otherwise cuts 2h blocks and is slow on days of history.
	// promtool rounds it down to the largest compaction range it fits, 486h.
	DefaultMaxBlockDuration = 744 * time.Hour
	// DefaultRetention keeps backfilled blocks however old: Prometheus 2.42
	// measures retention from the newest block's end, not from the wall
	// clock, so with the stock 15d a block dated in the future deletes all
	// history more than 15d older than it.
	DefaultRetention = 100 * 365 * 24 * time.Hour
	// DefaultScrapeInterval keeps live-scrape tests short.
	DefaultScrapeInterval = time.Second
	// ScrapeJob is the job label of the live scrape targets.
	ScrapeJob = "vllm"
)

// PrometheusOptions configures StartPrometheus. The zero value starts an
// empty Prometheus that scrapes nothing.
type PrometheusOptions struct {
	// OpenMetrics files are backfilled with promtool (see Backfill) before
	// the first start.
	OpenMetrics []string
	// ScrapeTargets are host:port addresses scraped live at /metrics as job
	// ScrapeJob. Prometheus discovers them a few seconds after it is ready;
	// WaitForTargets waits for the first successful scrapes.
	ScrapeTargets []string
	// ScrapeInterval applies to ScrapeTargets; zero means
	// DefaultScrapeInterval.
	ScrapeInterval time.Duration
	// Retention is --storage.tsdb.retention.time; zero means DefaultRetention.
	Retention time.Duration
	// OutOfOrderTimeWindow sets storage.tsdb.out_of_order_time_window; zero
	// leaves it off, as in a stock Prometheus. Prometheus 2.42 rejects live
	// samples older than the end of the newest block as out of bounds, so
	// scraping into a data dir that holds backfilled samples dated in the
	// future needs a window reaching back from them to now.
	OutOfOrderTimeWindow time.Duration
	// RuleFiles are loaded as rule_files, with rules evaluated every
	// RuleInterval (default 1s): a test can see a rule file's alerts fire.
	RuleFiles    []string
	RuleInterval time.Duration
	// ExtraArgs are appended to the command line. A flag given here replaces
	// the harness's own value for it: Prometheus rejects repeated flags.
	ExtraArgs []string
	// Version3 runs Prometheus 3 (built from its Go module by make deps)
	// instead of Debian's 2.42.
	Version3 bool
	// NativeHistograms makes the live scrape store classic histograms as
	// native histograms with custom buckets (Prometheus 3's
	// convert_classic_histograms_to_nhcb): their _bucket series disappear.
	NativeHistograms bool
	// KeepClassicHistograms stores the classic series too
	// (always_scrape_classic_histograms), as in the middle of a migration:
	// with NativeHistograms, every histogram is there in both forms.
	KeepClassicHistograms bool
	// ExternalLabels are global.external_labels, which a Thanos sidecar
	// requires and its querier deduplicates on.
	ExternalLabels map[string]string
}

// Prometheus is a running (or stopped, see Stop and Start) Prometheus server
// listening on 127.0.0.1.
type Prometheus struct {
	// URL is the base URL, http://127.0.0.1:PORT; it does not change across
	// Stop and Start.
	URL string
	// DataDir is --storage.tsdb.path. To add history mid-test, Stop,
	// Backfill into it and Start: a running Prometheus only notices new
	// blocks on its next periodic reload.
	DataDir string

	srv     server
	targets int
}

// StartPrometheus backfills opts.OpenMetrics, starts Prometheus on a free
// port, waits until it is ready and stops it when the test ends.
func StartPrometheus(t testing.TB, opts PrometheusOptions) *Prometheus {
	t.Helper()
	bin := prometheusBinary().mustPath(t)
	if opts.Version3 {
		bin = Prometheus3Binary(t)
	}
	dir := t.TempDir()
	p := &Prometheus{
		DataDir: filepath.Join(dir, "data"),
		srv:     server{name: "prometheus", bin: bin, logPath: filepath.Join(dir, "prometheus.log")},
		targets: len(opts.ScrapeTargets),
	}
	if err := os.Mkdir(p.DataDir, 0o755); err != nil {
		t.Fatalf("promtest: create prometheus data dir: %v", err)
	}
	for _, f := range opts.OpenMetrics {
		Backfill(t, f, p.DataDir)
	}
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := writePrometheusConfig(configPath, opts); err != nil {
		t.Fatalf("promtest: %v", err)
	}
	retention := opts.Retention
	if retention == 0 {
		retention = DefaultRetention
	}

	// Registered before the first start so that a failed start is cleaned
	// up too, and after t.TempDir so that it runs before the directory is
	// removed from under the server.
	p.srv.cleanup(t)
	err := p.srv.startWithFreePort(t.Context(), func(addr string) []string {
		return mergeArgs([]string{
			"--config.file=" + configPath,
			"--storage.tsdb.path=" + p.DataDir,
			"--storage.tsdb.retention.time=" + model.Duration(retention).String(),
			"--web.listen-address=" + addr,
		}, opts.ExtraArgs)
	})
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	p.URL = p.srv.url()
	return p
}

// Start brings a stopped Prometheus back on the same port and data dir. It
// fails the test if Prometheus is running.
func (p *Prometheus) Start(t testing.TB) {
	t.Helper()
	if err := p.srv.start(t.Context()); err != nil {
		t.Fatalf("promtest: %v", err)
	}
}

// Stop shuts Prometheus down: SIGTERM, then SIGKILL if it has not exited in
// time. Stopping a stopped Prometheus does nothing.
func (p *Prometheus) Stop() { p.srv.stop() }

// API returns a client for the HTTP API.
func (p *Prometheus) API(t testing.TB) v1.API {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: p.URL})
	if err != nil {
		t.Fatalf("promtest: prometheus API client for %s: %v", p.URL, err)
	}
	return v1.NewAPI(c)
}

// WaitForTargets waits until every scrape target has been scraped
// successfully, so that a test can query live data without polling itself.
// Prometheus 2.42 hands new targets to the scraper only every 5s, so this
// takes about that long after a start.
func (p *Prometheus) WaitForTargets(t testing.TB) {
	t.Helper()
	if p.targets == 0 {
		return
	}
	if err := p.waitForTargets(t.Context(), p.API(t)); err != nil {
		t.Fatalf("promtest: %v\n%s", err, p.srv.logTailMessage())
	}
}

func (p *Prometheus) waitForTargets(ctx context.Context, promAPI v1.API) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	query := fmt.Sprintf(`count(up{job=%q} == 1)`, ScrapeJob)
	var v model.Value
	var err error
	if poll.Wait(readyTimeout, readyPollInterval, func() bool {
		if v, _, _, err = promAPI.Query(ctx, query, time.Now()); err != nil {
			return ctx.Err() != nil
		}
		vec, ok := v.(model.Vector)
		return ok && len(vec) == 1 && int(vec[0].Value) == p.targets
	}) != nil || ctx.Err() != nil {
		return fmt.Errorf("prometheus %s: %d %s targets not all up after %s (last query %q: %v, err %v)",
			p.URL, p.targets, ScrapeJob, readyTimeout, query, v, err)
	}
	return nil
}

// promConfig is the part of prometheus.yml the harness writes.
type promConfig struct {
	// ScrapeConfigs is never nil: an empty list keeps Prometheus from
	// scraping anything, itself included.
	ScrapeConfigs []promScrapeConfig `yaml:"scrape_configs"`
	Storage       *promStorage       `yaml:"storage,omitempty"`
	Global        *promGlobal        `yaml:"global,omitempty"`
	RuleFiles     []string           `yaml:"rule_files,omitempty"`
}

type promGlobal struct {
	EvaluationInterval model.Duration    `yaml:"evaluation_interval,omitempty"`
	ExternalLabels     map[string]string `yaml:"external_labels,omitempty"`
}

type promScrapeConfig struct {
	JobName        string             `yaml:"job_name"`
	ToNHCB         bool               `yaml:"convert_classic_histograms_to_nhcb,omitempty"`
	KeepClassic    bool               `yaml:"always_scrape_classic_histograms,omitempty"`
	ScrapeInterval model.Duration     `yaml:"scrape_interval"`
	ScrapeTimeout  model.Duration     `yaml:"scrape_timeout"`
	StaticConfigs  []promStaticConfig `yaml:"static_configs"`
}

type promStaticConfig struct {
	Targets []string `yaml:"targets"`
}

type promStorage struct {
	TSDB promTSDB `yaml:"tsdb"`
}

type promTSDB struct {
	OutOfOrderTimeWindow model.Duration `yaml:"out_of_order_time_window"`
}

func writePrometheusConfig(path string, opts PrometheusOptions) error {
	cfg := promConfig{ScrapeConfigs: []promScrapeConfig{}}
	if len(opts.ScrapeTargets) > 0 {
		interval := opts.ScrapeInterval
		if interval == 0 {
			interval = DefaultScrapeInterval
		}
		cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, promScrapeConfig{
			JobName:        ScrapeJob,
			ToNHCB:         opts.NativeHistograms,
			KeepClassic:    opts.KeepClassicHistograms,
			ScrapeInterval: model.Duration(interval),
			// The global default timeout (10s) exceeds short intervals,
			// which Prometheus refuses.
			ScrapeTimeout: model.Duration(interval),
			StaticConfigs: []promStaticConfig{{Targets: opts.ScrapeTargets}},
		})
	}
	if len(opts.RuleFiles) > 0 {
		cfg.RuleFiles = opts.RuleFiles
		interval := opts.RuleInterval
		if interval == 0 {
			interval = time.Second
		}
		cfg.Global = &promGlobal{EvaluationInterval: model.Duration(interval)}
	}
	if len(opts.ExternalLabels) > 0 {
		if cfg.Global == nil {
			cfg.Global = &promGlobal{}
		}
		cfg.Global.ExternalLabels = opts.ExternalLabels
	}
	if opts.OutOfOrderTimeWindow > 0 {
		cfg.Storage = &promStorage{TSDB: promTSDB{OutOfOrderTimeWindow: model.Duration(opts.OutOfOrderTimeWindow)}}
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode prometheus config: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write prometheus config: %w", err)
	}
	return nil
}

// Backfill writes TSDB blocks into dataDir from an OpenMetrics file with
// promtool tsdb create-blocks-from openmetrics, using
// DefaultMaxBlockDuration. What promtool 2.42 expects of the file:
//   - timestamps in seconds (may be fractional); millisecond timestamps are
//     accepted and land tens of thousands of years in the future;
//   - every sample has a timestamp;
//   - the file ends with "# EOF" and an optional single newline, nothing
//     after it, not even a blank line;
//   - each series' samples in time order: an older sample after a newer one
//     is dropped without a word.
func Backfill(t testing.TB, openMetricsFile, dataDir string) {
	t.Helper()
	BackfillWithMaxBlockDuration(t, openMetricsFile, dataDir, DefaultMaxBlockDuration)
}

// BackfillWithMaxBlockDuration is Backfill with a chosen
// --max-block-duration.
func BackfillWithMaxBlockDuration(t testing.TB, openMetricsFile, dataDir string, maxBlockDuration time.Duration) {
	t.Helper()
	promtool := promtoolBinary().mustPath(t)
	if err := backfill(t.Context(), promtool, openMetricsFile, dataDir, maxBlockDuration); err != nil {
		t.Fatalf("promtest: %v", err)
	}
}

func backfill(ctx context.Context, promtool, openMetricsFile, dataDir string, maxBlockDuration time.Duration) error {
	// promtool parses the flag with time.ParseDuration, so time.Duration's
	// own format ("744h0m0s") is the safe one; "31d" would be refused.
	cmd := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics",
		"--max-block-duration="+maxBlockDuration.String(), openMetricsFile, dataDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("backfill %s into %s: %s: %w\npromtool output:\n%s", openMetricsFile, dataDir, cmd, err, out)
	}
	return nil
}
