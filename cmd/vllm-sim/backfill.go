package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

func runBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backfill", "--scenario NAME --start T --end T --out FILE [flags]", stderr)
	model := addModelFlags(fs)
	start := fs.String("start", "", "first sample time, RFC 3339 or unix seconds (required)")
	end := fs.String("end", "", "last sample time, RFC 3339 or unix seconds (required)")
	out := fs.String("out", "", `output file, or "-" for standard output (required)`)
	interval := fs.Duration("scrape-interval", 15*time.Second, "spacing of the samples, whole seconds")
	targetLabels := fs.String("target-labels", "job=vllm,instance=vllm-sim:8000",
		`labels a scraping Prometheus would add to every series, as name=value,...; "" for none`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := model.config()
	if err != nil {
		return err
	}
	cfg.ScrapeInterval = *interval
	if cfg.TargetLabels, err = parseLabels(*targetLabels); err != nil {
		return err
	}
	if cfg, err = cfg.Normalize(); err != nil {
		return err
	}
	from, err := parseTime("start", *start)
	if err != nil {
		return err
	}
	to, err := parseTime("end", *end)
	if err != nil {
		return err
	}
	if !to.After(from) {
		return usagef("--end %s is not after --start %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	if *out == "" {
		return usagef("--out is required")
	}

	w, report := io.Writer(stdout), stdout
	var f *os.File
	if *out != "-" {
		if f, err = os.Create(*out); err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		w = f
	} else {
		report = stderr
	}
	began := time.Now()
	stats, err := sim.WriteOpenMetrics(ctx, w, cfg, from, to)
	if f != nil {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("backfill: close %s: %w", *out, cerr)
		}
		if err != nil {
			os.Remove(*out) // a partial file would load as truncated history
		}
	}
	if err != nil {
		return fmt.Errorf("backfill %s: %w", *out, err)
	}
	elapsed := time.Since(began)
	fmt.Fprintf(report, "wrote %s: scenario %s, %d models x %d engines, %s to %s every %s\n",
		*out, cfg.Scenario, len(cfg.Models), cfg.Engines, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), cfg.ScrapeInterval)
	fmt.Fprintf(report, "%d samples, %d series, %d bytes (%.1f MiB) in %.2fs (%.1f M samples/s)\n",
		stats.Samples, stats.Series, stats.Bytes, float64(stats.Bytes)/(1<<20), elapsed.Seconds(),
		float64(stats.Samples)/elapsed.Seconds()/1e6)
	return nil
}

// parseLabels reads name=value,name=value.
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, usagef("--target-labels: %q is not name=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
