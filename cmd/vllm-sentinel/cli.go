package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prometheus/common/version"
)

const usage = `vllm-sentinel: SLO burn-rate alerting and leading indicators for vLLM.

Usage:
  vllm-sentinel run      --config FILE   run the daemon
  vllm-sentinel check    --config FILE   validate a configuration file
  vllm-sentinel eval     --config FILE [--at TIME] [--output table|json]
                                         evaluate once and print the result
  vllm-sentinel backtest --config FILE --from TIME [--to TIME] [--step 1m]
                                         replay history: when alerts would have fired and resolved
  vllm-sentinel rules export --config FILE [--out FILE]
                                         the SLOs as a Prometheus rule file
  vllm-sentinel dashboards export --config FILE [--out FILE]   a Grafana dashboard (JSON) of the SLOs and vLLM
  vllm-sentinel version                  print the version

Run 'vllm-sentinel COMMAND --help' for a command's flags.
`

// Exit codes: 0 success, 1 the work failed (e.g. an invalid config), 2 the
// command line was wrong.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// run is main without the process: tests call it with their own arguments
// and writers.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return runDaemon(ctx, rest, stdout, stderr)
	case "check":
		return runCheck(ctx, rest, stdout, stderr)
	case "eval":
		return runEval(ctx, rest, stdout, stderr)
	case "backtest":
		return runBacktest(ctx, rest, stdout, stderr)
	case "rules":
		return runRules(ctx, rest, stdout, stderr)
	case "dashboards":
		return runDashboards(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, version.Print("vllm-sentinel"))
		return exitOK
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "vllm-sentinel: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// newFlagSet returns a flag set that reports errors to stderr and never
// exits the process.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vllm-sentinel "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and maps the outcome to an exit code; ok is false
// when the caller should return code at once.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments: %s\n", fs.Name(), strings.Join(fs.Args(), " "))
		return exitUsage, false
	}
	return exitOK, true
}

func configFlag(fs *flag.FlagSet) *string {
	def := "/etc/vllm-sentinel/config.yaml"
	if _, err := os.Stat(def); err != nil {
		def = ""
	}
	return fs.String("config", def, "path to the configuration file")
}
