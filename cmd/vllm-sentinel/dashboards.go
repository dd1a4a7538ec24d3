package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/dashboards"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

const dashboardsUsage = "usage: vllm-sentinel dashboards export --config FILE [--out FILE]"

// runDashboards handles `dashboards export`: the config's Grafana
// dashboard as JSON, ready to import or provision.
func runDashboards(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
		fmt.Fprintln(stderr, dashboardsUsage)
		return exitOK
	}
	if len(args) == 0 || args[0] != "export" {
		fmt.Fprintln(stderr, dashboardsUsage)
		return exitUsage
	}
	fs := newFlagSet("dashboards export", stderr)
	cfgFile := configFlag(fs)
	out := fs.String("out", "-", `output file, or "-" for standard output`)
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	cfg, err := loadConfig(*cfgFile, stderr)
	if err != nil {
		return configExit(err)
	}
	b, err := exportDashboard(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "dashboards export: %v\n", err)
		return exitFailure
	}
	if *out == "-" {
		if _, err := stdout.Write(b); err != nil {
			return exitFailure
		}
		return exitOK
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintf(stderr, "dashboards export: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// exportDashboard renders the dashboard of cfg as indented JSON.
func exportDashboard(cfg *config.Config) ([]byte, error) {
	flavour, overrides := cfg.VLLM.MetricNames.Flavour, cfg.VLLM.MetricNames.Overrides
	d, err := dashboards.New(dashboards.Options{
		SLOs: cfg.SLOs, Indicators: cfg.Indicators,
		Selector: cfg.VLLM.Matchers(), GroupBy: cfg.VLLM.GroupBy,
		MetricName: func(short string) string {
			if n, ok := overrides[short]; ok {
				return n
			}
			// auto cannot probe offline: V1 names, as current vLLM writes
			// them (as rules export does).
			return rules.MetricName(short, flavour)
		},
	})
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
