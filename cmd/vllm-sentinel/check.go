package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

func addCheckCommand(app *kingpin.Application) runner {
	cmd := app.Command("check", "Validate a configuration file: exit 0 valid, 1 invalid, every problem as file:line.").
		HelpLong(commandHelp(
			"vllm-sentinel check --config.file configs/example.yaml",
			"vllm-sentinel check --config.file configs/example.yaml --online",
		))
	cfgFlag := addConfigFlag(cmd)
	online := cmd.Flag("online", "Also check against Prometheus: metric names, absent metrics, latency thresholds against the le bounds.").Bool()
	return func(ctx context.Context, stdout, stderr io.Writer) int {
		return runCheck(ctx, cfgFlag.path(), *online, stdout, stderr)
	}
}

func runCheck(ctx context.Context, cfgFile string, online bool, stdout, stderr io.Writer) int {
	if cfgFile == "" {
		fmt.Fprintln(stderr, "check: --config.file is required")
		return exitUsage
	}
	cfg, err := config.LoadFile(cfgFile, receivers.New())
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				fmt.Fprintln(stderr, p)
			}
			fmt.Fprintf(stderr, "%s: %d problem(s) found\n", cfgFile, len(ce.Problems))
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", cfgFile, err)
		}
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s: valid: %d SLO(s), %d indicator(s), %d notifier(s)\n",
		cfgFile, len(cfg.SLOs), len(cfg.Indicators), len(cfg.Notifiers))
	if !online {
		return exitOK
	}
	return checkOnline(ctx, cfg, stdout, stderr)
}

// checkOnline evaluates once against Prometheus and reports what would stop
// an SLO or indicator from working: names, absent metrics, thresholds.
func checkOnline(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) int {
	logger := slog.New(slog.DiscardHandler)
	q, err := evaluator.NewPrometheusQuerier(clientConfig(cfg), logger, nil)
	if err != nil {
		fmt.Fprintf(stderr, "check --online: %v\n", err)
		return exitFailure
	}
	// One evaluation checks names and thresholds: no store to build.
	ev := newEvaluator(cfg, q, nil, false, logger)
	now := time.Now()
	if err := probePrometheus(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cfg.File, err)
		return exitFailure
	}
	res, _ := ev.Eval(ctx, now)
	names := ev.Names()
	fmt.Fprintf(stdout, "Prometheus %s, metric_names: %s\n", notify.RedactURL(cfg.Prometheus.URL), cfg.VLLM.MetricNames.Flavour)
	absent := map[string]bool{}
	for _, a := range names.Absent() {
		absent[a] = true
	}
	mapping := names.Mapping()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  METRIC\tNAME IN PROMETHEUS\tHISTOGRAM")
	for _, short := range rules.ShortNames() {
		name := mapping[short]
		if absent[short] {
			name += "  (absent)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", short, name, formText(names, short))
	}
	tw.Flush()
	// An indicator's absent input is a warning, an SLO's an error: a
	// server that simply has no such metric (no preemption counter) must
	// not block a deployment, while an SLO that cannot be computed must.
	var problems int
	for _, e := range res.Errors {
		if !isFailure(e) {
			fmt.Fprintf(stdout, "%s: warning: %s: %s\n", cfg.File, e.Subject(), e.Error)
			continue
		}
		problems++
		fmt.Fprintf(stderr, "%s: %s: %s\n", cfg.File, e.Subject(), e.Error)
	}
	// A doubtful SLO is a warning, not a failure: the config is valid, and
	// a deployment must not be blocked on it; but it is said.
	for _, r := range res.SLOs {
		if r.Warning != "" {
			fmt.Fprintf(stdout, "%s: warning: SLO %s %s: %s\n", cfg.File, r.SLO, evaluator.GroupString(r.Labels), r.Warning)
		}
	}
	if problems > 0 {
		fmt.Fprintf(stderr, "%s: %d problem(s) found against Prometheus\n", cfg.File, problems)
		return exitFailure
	}
	if len(res.Errors) > 0 {
		fmt.Fprintf(stdout, "%s: every SLO evaluates against Prometheus; %d indicator(s) lack an input (warnings above)\n", cfg.File, len(res.Errors))
		return exitOK
	}
	fmt.Fprintf(stdout, "%s: every SLO and indicator evaluates against Prometheus\n", cfg.File)
	return exitOK
}

// formText says how a histogram is read, for check --online.
func formText(names *evaluator.Names, short string) string {
	switch names.Form(short) {
	case evaluator.FormClassic:
		return "classic (_bucket series)"
	case evaluator.FormNative:
		return "native (histogram_fraction, histogram_count)"
	case evaluator.FormBoth:
		return "classic and native (mid-migration): classic read, native ignored, nothing counted twice"
	case evaluator.FormSplit:
		classic, native := names.Series(short)
		return fmt.Sprintf("classic on %d series, native on %d (a migration half done): classic read; series with only the native form are not counted", classic, native)
	}
	return ""
}

// isFailure tells an error that fails check --online and eval from a
// warning: an indicator whose input the server does not have (llm-d's
// simulator has no preemption counter) reports absent and the rest runs,
// while an SLO that cannot be computed fails.
func isFailure(e evaluator.EvalError) bool {
	return e.Indicator == "" || e.Absent == ""
}

// failures counts the errors that fail a command (see isFailure).
func failures(errs []evaluator.EvalError) int {
	n := 0
	for _, e := range errs {
		if isFailure(e) {
			n++
		}
	}
	return n
}
