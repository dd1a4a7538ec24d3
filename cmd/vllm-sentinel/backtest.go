package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/term"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

func addBacktestCommand(app *kingpin.Application) runner {
	cmd := app.Command("backtest", "Replay history through the same code path: when each alert would have fired and resolved.").
		HelpLong(commandHelp(
			"vllm-sentinel backtest --config.file configs/example.yaml --from -7d --step 1m",
			"vllm-sentinel backtest --config.file configs/example.yaml --from 2026-01-01T00:00:00Z --to 2026-01-08T00:00:00Z --output json",
			"vllm-sentinel backtest --config.file configs/example.yaml --from now-1d --to now-1h --meta",
		))
	f := backtestFlags{config: addConfigFlag(cmd)}
	f.from = cmd.Flag("from", "Start of the replay (required): "+timeForms+".").PlaceHolder("TIME").Default("").String()
	f.to = cmd.Flag("to", "End of the replay: "+timeForms+".").PlaceHolder("TIME").Default("now").String()
	f.step = cmd.Flag("step", "Time between evaluations (default: global.evaluation_interval).").PlaceHolder("DURATION").Default("0s").Duration()
	f.output = cmd.Flag("output", "Output format: table or json.").Default("table").HintOptions("table", "json").String()
	f.meta = cmd.Flag("meta", "Include the sentinel's own alerts (watchdog, no data).").Bool()
	f.log = addLogFlags(cmd)
	return func(ctx context.Context, stdout, stderr io.Writer) int {
		return runBacktest(ctx, f, stdout, stderr)
	}
}

// backtestFlags are the flags of backtest, set by the parse.
type backtestFlags struct {
	config           *configFlags
	from, to, output *string
	step             *time.Duration
	meta             *bool
	log              logFlags
}

func runBacktest(ctx context.Context, f backtestFlags, stdout, stderr io.Writer) int {
	cfgFile, fromS, toS, step, output, meta, lf := f.config.path(), f.from, f.to, f.step, f.output, f.meta, f.log
	now := time.Now()
	if *fromS == "" {
		fmt.Fprintf(stderr, "backtest: --from is required: %s\n", timeForms)
		return exitUsage
	}
	from, err := parseTime(*fromS, now)
	if err != nil {
		fmt.Fprintf(stderr, "backtest: --from: %v\n", err)
		return exitUsage
	}
	to, err := parseTime(*toS, now)
	if err != nil {
		fmt.Fprintf(stderr, "backtest: --to: %v\n", err)
		return exitUsage
	}
	if !to.After(from) {
		fmt.Fprintln(stderr, "backtest: --to must be after --from")
		return exitUsage
	}
	if *output != "table" && *output != "json" {
		fmt.Fprintf(stderr, "backtest: --output %q: want table or json\n", *output)
		return exitUsage
	}
	logger, err := lf.newLogger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "backtest:", err)
		return exitUsage
	}
	if *step < 0 {
		fmt.Fprintf(stderr, "backtest: --step %s must be positive\n", *step)
		return exitUsage
	}
	cfg, err := loadConfig(cfgFile, stderr)
	if err != nil {
		return configExit(err)
	}
	if *step == 0 {
		*step = cfg.Global.EvaluationInterval.D()
	}
	if err := rules.CheckStep(cfg.SLOs, *step); err != nil {
		fmt.Fprintf(stderr, "backtest: --step %v\n", err)
		return exitUsage
	}
	if n := to.Sub(from) / *step; n > maxBacktestSteps {
		fmt.Fprintf(stderr, "backtest: %s to %s every %s is %d evaluations, more than %d: use a larger --step\n",
			from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), *step, n, maxBacktestSteps)
		return exitUsage
	}
	from = from.Truncate(time.Second)
	rep, err := backtest(ctx, cfg, logger, from, to, *step, progressBar(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "backtest: %v\n", err)
		return exitFailure
	}
	trs := rep.Transitions
	if rep.NoData > 0 {
		fmt.Fprintf(stderr, "backtest: %d evaluation(s) found a metric absent (no data):\n", rep.NoData)
		for _, what := range slices.Sorted(maps.Keys(rep.Absent)) {
			fmt.Fprintf(stderr, "  %s: %d evaluation(s)\n", what, rep.Absent[what])
		}
	}
	if !*meta {
		kept := trs[:0]
		for _, t := range trs {
			if !strings.HasPrefix(t.Alertname, "Sentinel") {
				kept = append(kept, t)
			}
		}
		trs = kept
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(trs); err != nil {
			return exitFailure
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "Replayed %s to %s every %s: %d alert state change(s)\n\n",
		from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), *step, len(trs))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSTATE\tALERT\tLABELS")
	for _, t := range trs {
		ls := t.Labels.Clone()
		delete(ls, "alertname")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Time.UTC().Format(time.RFC3339), strings.ToUpper(t.To), t.Alertname, ls)
	}
	tw.Flush()
	return exitOK
}

// maxBacktestSteps bounds a replay: a year at 5-minute steps.
const maxBacktestSteps = 105_120

// backtest replays history through the live code path, fetching each
// query's values for many steps at once with range queries.
func backtest(ctx context.Context, cfg *config.Config, logger *slog.Logger, from, to time.Time, step time.Duration, progress func(int, int, time.Time)) (*evaluator.BacktestReport, error) {
	instant, ranges, err := newQueriers(cfg, logger)
	if err != nil {
		return nil, err
	}
	// Each step's delta is served from range queries over the whole span,
	// the history before it read once into the stores.
	events := &evaluator.EventOptions{Step: step, Ranges: ranges}
	eng, err := offlineEngine(cfg, evaluator.NewRangeCache(instant, ranges, from, to, step, 0), events, step, false, logger)
	if err != nil {
		return nil, err
	}
	return evaluator.Backtest(ctx, eng, from, to, step, progress)
}

// progressBar draws on a terminal and stays silent otherwise, so piped
// output and CI logs are not filled with carriage returns.
func progressBar(w io.Writer) func(int, int, time.Time) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return func(done, total int, ts time.Time) {
		const width = 30
		n := done * width / max(total, 1)
		fmt.Fprintf(w, "\r[%s%s] %3d%% %s", strings.Repeat("#", n), strings.Repeat(" ", width-n), done*100/max(total, 1), ts.UTC().Format(time.RFC3339))
		if done == total {
			fmt.Fprintln(w)
		}
	}
}
