package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed while running
	exitUsage = 2 // bad command line or config
)

// usageError marks errors caused by the command line, which exit with
// exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// run is the whole program behind main, testable without a process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	var err error
	switch cmd := args[0]; cmd {
	case "-h", "-help", "--help", "help":
		printUsage(stdout)
		return exitOK
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "backfill":
		err = runBackfill(ctx, args[1:], stdout, stderr)
	case "scenarios":
		err = runScenarios(args[1:], stdout)
	default:
		err = usagef("unknown command %q (want serve, backfill or scenarios)", cmd)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, new(usageError)), errors.Is(err, sim.ErrInvalidConfig):
		fmt.Fprintf(stderr, "vllm-sim: %v\nRun 'vllm-sim --help' for usage.\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "vllm-sim: %v\n", err)
		return exitError
	}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `vllm-sim simulates vLLM engines (a queueing model with batch capacity, a KV
block pool, preemption and heavy-tailed requests) and exposes their metrics
under vLLM's names, live or as an OpenMetrics backfill for promtool.

Usage:
  vllm-sim serve    [flags]   live /metrics (--listen, --speed)
  vllm-sim backfill [flags]   OpenMetrics file (--start, --end, --out)
  vllm-sim scenarios          describe the scenarios
  vllm-sim <command> --help   flags of a command

Both commands take the same seed and model flags and produce the same
numbers for the same seed, scenario and start time. serve
--otlp-traces-endpoint URL also sends one OpenTelemetry span per finished
request (llm_request, as vLLM's --otlp-traces-endpoint does) over OTLP/HTTP.

`)
	writeScenarios(w)
}

func writeScenarios(w io.Writer) {
	fmt.Fprintln(w, "Scenarios (incident offset from the start; --incident-at overrides it):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range sim.Scenarios() {
		at := "-"
		if s.IncidentAt > 0 {
			at = "+" + s.IncidentAt.String()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, at, s.Description)
	}
	tw.Flush()
}

func runScenarios(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usagef("scenarios takes no arguments")
	}
	for i, s := range sim.Scenarios() {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "%s\n  %s\n", s.Name, s.Description)
		if s.IncidentAt > 0 {
			fmt.Fprintf(stdout, "  incident: at +%s; the scripted change starts %s before it and lasts %s\n", s.IncidentAt, s.Lead, s.Duration)
		}
		fmt.Fprintf(stdout, "  signature: %s\n  should fire: %s\n", s.Signature, strings.Join(s.ShouldFire, "; "))
	}
	return nil
}

// modelFlags are the flags serve and backfill share.
type modelFlags struct {
	cfg     sim.Config
	models  string
	buckets map[string][]float64
}

func addModelFlags(fs *flag.FlagSet) *modelFlags {
	m := &modelFlags{buckets: map[string][]float64{}}
	fs.StringVar(&m.cfg.Scenario, "scenario", sim.ScenarioHealthy, "scenario: "+strings.Join(sim.ScenarioNames(), ", "))
	fs.StringVar(&m.models, "models", "llama-3.1-8b", "comma-separated model_name values")
	fs.IntVar(&m.cfg.Engines, "engines", 1, "data-parallel engines per model")
	fs.StringVar(&m.cfg.Flavour, "flavour", sim.FlavourV1, "metric naming: "+strings.Join(sim.Flavours(), ", "))
	fs.Int64Var(&m.cfg.Seed, "seed", 0, "random seed")
	fs.Float64Var(&m.cfg.Rate, "rate", 3, "mean requests per second per engine before the diurnal curve and the scenario")
	fs.DurationVar(&m.cfg.IncidentAt, "incident-at", 0, "offset of the incident from the start (0: the scenario's default)")
	fs.StringVar(&m.cfg.Arrivals, "arrivals", sim.ArrivalsPoisson, "arrival process: poisson or gamma (bursty)")
	fs.Float64Var(&m.cfg.Burstiness, "burstiness", 4, "squared coefficient of variation of gamma inter-arrival gaps")
	fs.IntVar(&m.cfg.Engine.MaxNumSeqs, "max-num-seqs", sim.DefaultEngineSpec().MaxNumSeqs, "batch capacity per engine")
	fs.IntVar(&m.cfg.Engine.MaxNumBatchedTokens, "max-num-batched-tokens", sim.DefaultEngineSpec().MaxNumBatchedTokens, "tokens per engine step")
	fs.IntVar(&m.cfg.Engine.KVBlocks, "kv-blocks", sim.DefaultEngineSpec().KVBlocks, "KV cache blocks per engine")
	fs.Func("buckets", "custom histogram bounds, NAME=B1,B2,... (repeatable); NAME is one of "+
		strings.Join(sim.HistogramKeys(), ", "), m.parseBuckets)
	return m
}

func (m *modelFlags) parseBuckets(s string) error {
	name, list, ok := strings.Cut(s, "=")
	if !ok || name == "" || list == "" {
		return errors.New("want NAME=BOUND,BOUND (comma-separated bounds)")
	}
	if !slices.Contains(sim.HistogramKeys(), name) {
		return fmt.Errorf("unknown histogram %q", name)
	}
	var bounds []float64
	for _, f := range strings.Split(list, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return fmt.Errorf("bound %q: not a number", f)
		}
		bounds = append(bounds, v)
	}
	m.buckets[name] = bounds
	return nil
}

// config returns the validated simulator config.
func (m *modelFlags) config() (sim.Config, error) {
	cfg := m.cfg
	for _, name := range strings.Split(m.models, ",") {
		cfg.Models = append(cfg.Models, strings.TrimSpace(name))
	}
	if len(m.buckets) > 0 {
		cfg.Buckets = m.buckets
	}
	if cfg.Engines < 1 {
		return sim.Config{}, usagef("--engines must be at least 1")
	}
	if cfg.Rate <= 0 {
		return sim.Config{}, usagef("--rate must be positive")
	}
	return cfg.Normalize()
}

// parseFlags parses a subcommand's flags, refusing positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// newFlagSet returns a FlagSet whose usage text ends with the scenarios.
func newFlagSet(name, synopsis string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: vllm-sim %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
		fmt.Fprintln(out)
		writeScenarios(out)
	}
	return fs
}

// parseTime accepts RFC 3339 or unix seconds (possibly fractional).
func parseTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, usagef("--%s is required (RFC 3339 or unix seconds)", flagName)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) && math.Abs(v) < 1e11 {
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	}
	return time.Time{}, usagef("--%s %q: want RFC 3339 (2025-01-06T00:00:00Z) or unix seconds", flagName, s)
}
