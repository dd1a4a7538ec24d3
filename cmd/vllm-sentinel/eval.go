package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
	"github.com/vllm-sentinel/vllm-sentinel/tracing"
)

func addEvalCommand(app *kingpin.Application) runner {
	cmd := app.Command("eval", "Evaluate once and print per SLO and group the error ratios, burn rates, firing pairs and budget, and each indicator's state.").
		HelpLong(commandHelp(
			"vllm-sentinel eval --config.file configs/example.yaml",
			"vllm-sentinel eval --config.file configs/example.yaml --at -1h --output json",
			"vllm-sentinel eval --config.file configs/example.yaml --at 2026-01-02T15:04:05Z",
		))
	cfgFlag := addConfigFlag(cmd)
	at := cmd.Flag("at", "Evaluation time: "+timeForms+".").Default("now").String()
	output := cmd.Flag("output", "Output format: table or json.").Default("table").HintOptions("table", "json").String()
	lf := addLogFlags(cmd)
	return func(ctx context.Context, stdout, stderr io.Writer) int {
		return runEval(ctx, cfgFlag.path(), at, output, lf, stdout, stderr)
	}
}

func runEval(ctx context.Context, cfgFile string, at, output *string, lf logFlags, stdout, stderr io.Writer) int {
	if *output != "table" && *output != "json" {
		fmt.Fprintf(stderr, "eval: --output %q: want table or json\n", *output)
		return exitUsage
	}
	ts, err := parseTime(*at, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "eval: --at: %v\n", err)
		return exitUsage
	}
	logger, err := lf.newLogger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "eval:", err)
		return exitUsage
	}
	cfg, err := loadConfig(cfgFile, stderr)
	if err != nil {
		return configExit(err)
	}
	if err := probePrometheus(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "eval: %v\n", err)
		return exitFailure
	}
	res, err := evalOnce(ctx, cfg, logger, ts)
	if err != nil {
		fmt.Fprintf(stderr, "eval: %v\n", err)
		return exitFailure
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "eval: %v\n", err)
			return exitFailure
		}
	} else {
		res.WriteTable(stdout)
	}
	if failures(res.Errors) > 0 {
		return exitFailure
	}
	return exitOK
}

// probeTimeout bounds the probe of eval: a refused connection fails at
// once, an unanswering host within it, not after the querier's retries.
const probeTimeout = 2 * time.Second

// probePrometheus queries vector(1) once, without retries, so that an
// unreachable Prometheus is said at once with its URL.
func probePrometheus(ctx context.Context, cfg *config.Config) error {
	promAPI, err := evaluator.NewPrometheusAPI(clientConfig(cfg))
	if err != nil {
		return err
	}
	timeout := probeTimeout
	if t := cfg.Prometheus.Timeout.D(); t > 0 && t < timeout {
		timeout = t
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, _, _, err := promAPI.Query(ctx, "vector(1)", time.Now()); err != nil {
		return fmt.Errorf("cannot query Prometheus at %s: %w", notify.RedactURL(cfg.Prometheus.URL), err)
	}
	return nil
}

// evalOnce evaluates at ts through the engine, after replaying the
// indicators' "for" span so their states are what the live loop would show.
func evalOnce(ctx context.Context, cfg *config.Config, logger *slog.Logger, ts time.Time) (*evaluator.Report, error) {
	instant, ranges, err := newQueriers(cfg, logger)
	if err != nil {
		return nil, err
	}
	interval := cfg.Global.EvaluationInterval.D()
	eng, err := offlineEngine(cfg, instant, &evaluator.EventOptions{Step: interval, Ranges: ranges}, interval, true, logger)
	if err != nil {
		return nil, err
	}
	if span := eng.WarmUpSpan(); span > 0 {
		eng.WarmUp(ctx, evaluator.NewRangeCache(instant, ranges, ts.Add(-span), ts.Add(-interval), interval, 0), ts)
	}
	return eng.Cycle(ctx, ts), nil
}

// newQueriers returns the instant querier (with timeout and retries) and a
// range querier for replays, both for the configured Prometheus.
func newQueriers(cfg *config.Config, logger *slog.Logger) (evaluator.Querier, evaluator.RangeQuerier, error) {
	instant, err := evaluator.NewPrometheusQuerier(clientConfig(cfg), logger.With("component", "querier"), nil)
	if err != nil {
		return nil, nil, err
	}
	promAPI, err := evaluator.NewPrometheusAPI(clientConfig(cfg))
	if err != nil {
		return nil, nil, err
	}
	return instant, evaluator.NewAPIRangeQuerier(promAPI), nil
}

// offlineEngine is the daemon's engine without notifiers or state, for
// eval and backtest: same evaluation, same alert lifecycle.
func offlineEngine(cfg *config.Config, q evaluator.Querier, events *evaluator.EventOptions, interval time.Duration, explain bool, logger *slog.Logger) (*evaluator.Engine, error) {
	return evaluator.NewEngine(newEvaluator(cfg, q, events, explain, logger), nil, evaluator.EngineOptions{
		Interval: interval, ResendInterval: cfg.Global.ResendInterval.D(),
		ExternalLabels: cfg.Global.ExternalLabels, ExternalURL: cfg.Global.ExternalURL,
	})
}

// errNoConfig is a missing --config.file: a usage error.
var errNoConfig = errors.New("--config.file is required")

// configExit maps a loadConfig error to the exit code.
func configExit(err error) int {
	if errors.Is(err, errNoConfig) {
		return exitUsage
	}
	return exitFailure
}

// loadConfig loads and validates, printing every problem to stderr.
func loadConfig(file string, stderr io.Writer) (*config.Config, error) {
	if file == "" {
		fmt.Fprintln(stderr, errNoConfig)
		return nil, errNoConfig
	}
	cfg, err := config.LoadFile(file, receivers.New())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, err
	}
	return cfg, nil
}

// newEvaluator builds the evaluator of a config over q, its SLOs counted in
// event stores: eval, run and backtest share it.
func newEvaluator(cfg *config.Config, q evaluator.Querier, events *evaluator.EventOptions, explain bool, logger *slog.Logger) *evaluator.Evaluator {
	names := evaluator.NewNames(cfg.VLLM.MetricNames.Flavour, cfg.VLLM.MetricNames.Overrides, cfg.VLLM.Matchers(), logger.With("component", "names"))
	opts := evaluator.Options{
		Logger: logger.With("component", "evaluator"), Names: names,
		Events: events, QueryOffset: cfg.Prometheus.QueryOffset.D(),
		Diagnose: explain,
	}
	if explain && cfg.Tracing.Enabled() {
		// The URL was checked when the config loaded; should NewJaeger still
		// refuse it, alerts go out without traces, and the log says why.
		j, err := tracing.NewJaeger(cfg.Tracing.Jaeger.URL, cfg.Tracing.UIURL, cfg.Tracing.Jaeger.Service, nil)
		if err != nil {
			logger.Error("tracing disabled", "err", err)
		} else {
			opts.Traces = &evaluator.TraceOptions{Finder: j, Max: cfg.Tracing.MaxTraces, Timeout: cfg.Tracing.Timeout.D(),
				Retry: cfg.Global.ResendInterval.D()}
		}
	}
	return evaluator.New(q, cfg.SLOs, cfg.Indicators, opts)
}

func clientConfig(cfg *config.Config) evaluator.ClientConfig {
	return evaluator.ClientConfig{
		URL:        cfg.Prometheus.URL,
		Timeout:    cfg.Prometheus.Timeout.D(),
		Headers:    cfg.Prometheus.Headers,
		HTTPConfig: cfg.Prometheus.HTTPConfig,
	}
}

// timeForms says what parseTime accepts, for flag help.
const timeForms = "RFC3339, unix seconds, now, or relative: -6h, -7d, now-1h, now+30m (units ms, s, m, h, d, w, y)"

// parseTime accepts RFC3339, unix seconds (with fraction), "now", and times
// relative to now: "-6h", "-7d", "now-1h", "now+30m", in Prometheus's
// duration syntax (ms, s, m, h, d, w, y; 1h30m).
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" || s == "now" {
		return now, nil
	}
	if rel, ok := strings.CutPrefix(s, "now"); ok {
		d, err := parseOffset(rel)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: %v", s, err)
		}
		return now.Add(d), nil
	}
	if s[0] == '-' || s[0] == '+' {
		// A signed number is (implausible) unix seconds, below; anything
		// else signed is an offset from now.
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			d, err := parseOffset(s)
			if err != nil {
				return time.Time{}, fmt.Errorf("%q: %v", s, err)
			}
			return now.Add(d), nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		// Unix seconds between 2001 and 2286: anything else is a typo (or
		// NaN), not a time anyone has metrics for.
		if !(f >= 1e9 && f < 1e10) {
			return time.Time{}, fmt.Errorf("%q is not a plausible unix time in seconds", s)
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not RFC3339 (2026-01-02T15:04:05Z), unix seconds, now, or a relative time (-6h, -7d, now-1h)", s)
}

// parseOffset reads "-DUR" or "+DUR" as a signed duration.
func parseOffset(s string) (time.Duration, error) {
	if len(s) < 2 || (s[0] != '-' && s[0] != '+') {
		return 0, fmt.Errorf("want -DURATION, now-DURATION or now+DURATION (-1h, now-7d, now+30m)")
	}
	d, err := model.ParseDuration(s[1:])
	if err != nil {
		return 0, fmt.Errorf("%v (units ms, s, m, h, d, w, y)", err)
	}
	if s[0] == '-' {
		return -time.Duration(d), nil
	}
	return time.Duration(d), nil
}
