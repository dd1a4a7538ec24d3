package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/dashboards"
)

func addDashboardsCommand(app *kingpin.Application) runner {
	dashCmd := app.Command("dashboards", "Grafana dashboards of the SLOs.")
	cmd := dashCmd.Command("export", "A Grafana dashboard (JSON) of the config's SLOs, indicators and vLLM's own metrics.").
		HelpLong(commandHelp(
			"vllm-sentinel dashboards export --config.file configs/example.yaml > dashboard.json",
			"vllm-sentinel dashboards export --config.file configs/example.yaml --out dashboard.json",
		))
	cfgFlag := addConfigFlag(cmd)
	out := cmd.Flag("out", `Output file, or "-" for standard output.`).PlaceHolder("FILE").Default("-").String()
	return func(ctx context.Context, stdout, stderr io.Writer) int {
		return runDashboards(ctx, cfgFlag.path(), *out, stdout, stderr)
	}
}

// runDashboards handles `dashboards export`: the config's Grafana
// dashboard as JSON, ready to import or provision.
func runDashboards(_ context.Context, cfgFile, outFile string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(cfgFile, stderr)
	if err != nil {
		return configExit(err)
	}
	b, err := exportDashboard(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "dashboards export: %v\n", err)
		return exitFailure
	}
	return writeExport("dashboards export", outFile, b, stdout, stderr)
}

// exportDashboard renders the dashboard of cfg as indented JSON.
func exportDashboard(cfg *config.Config) ([]byte, error) {
	d, err := dashboards.New(dashboards.Options{
		SLOs: cfg.SLOs, Indicators: cfg.Indicators,
		Selector: cfg.VLLM.Matchers(), GroupBy: cfg.VLLM.GroupBy,
		MetricName: offlineNames(cfg),
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
