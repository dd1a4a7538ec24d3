package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
)

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("eval", stderr)
	cfgFile := configFlag(fs)
	at := fs.String("at", "now", "evaluation time: RFC3339, unix seconds, or now")
	output := fs.String("output", "table", "output format: table or json")
	lf := addLogFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
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
	cfg, err := loadConfig(*cfgFile, stderr)
	if err != nil {
		return configExit(err)
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
	if len(res.Errors) > 0 {
		return exitFailure
	}
	return exitOK
}

// evalOnce evaluates at ts through the engine, after replaying the
// indicators' "for" span so their states are what the live loop would show.
func evalOnce(ctx context.Context, cfg *config.Config, logger *slog.Logger, ts time.Time) (*evaluator.Report, error) {
	instant, ranges, err := newQueriers(cfg, logger)
	if err != nil {
		return nil, err
	}
	interval := cfg.Global.EvaluationInterval.D()
	eng, err := offlineEngine(cfg, instant, &evaluator.EventOptions{Step: interval, Ranges: ranges}, interval, logger)
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
func offlineEngine(cfg *config.Config, q evaluator.Querier, events *evaluator.EventOptions, interval time.Duration, logger *slog.Logger) (*evaluator.Engine, error) {
	return evaluator.NewEngine(newEvaluator(cfg, q, events, logger), nil, evaluator.EngineOptions{
		Interval: interval, ResendInterval: cfg.Global.ResendInterval.D(),
		ExternalLabels: cfg.Global.ExternalLabels, ExternalURL: cfg.Global.ExternalURL,
	})
}

// errNoConfig is a missing --config: a usage error.
var errNoConfig = errors.New("--config is required")

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
		fmt.Fprintln(stderr, "--config is required")
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
func newEvaluator(cfg *config.Config, q evaluator.Querier, events *evaluator.EventOptions, logger *slog.Logger) *evaluator.Evaluator {
	names := evaluator.NewNames(cfg.VLLM.MetricNames.Flavour, cfg.VLLM.MetricNames.Overrides, cfg.VLLM.Matchers(), logger.With("component", "names"))
	return evaluator.New(q, cfg.SLOs, cfg.Indicators, evaluator.Options{
		Logger: logger.With("component", "evaluator"), Names: names,
		Events: events, QueryOffset: cfg.Prometheus.QueryOffset.D(),
	})
}

func clientConfig(cfg *config.Config) evaluator.ClientConfig {
	return evaluator.ClientConfig{
		URL:        cfg.Prometheus.URL,
		Timeout:    cfg.Prometheus.Timeout.D(),
		Headers:    cfg.Prometheus.Headers,
		HTTPConfig: cfg.Prometheus.HTTPConfig,
	}
}

// parseTime accepts RFC3339, unix seconds (with fraction) or "now".
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" || s == "now" {
		return now, nil
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
	return time.Time{}, fmt.Errorf("%q is not RFC3339 (2026-01-02T15:04:05Z), unix seconds, or now", s)
}
