package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpListsScenarios(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"serve", "--help"}, {"backfill", "-h"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, name := range sim.ScenarioNames() {
			if !strings.Contains(stdout+stderr, name) {
				t.Errorf("%v: help does not list scenario %s", args, name)
			}
		}
	}
	code, stdout, _ := runCLI(t, "scenarios")
	if code != exitOK || !strings.Contains(stdout, "signature:") || !strings.Contains(stdout, "should fire:") {
		t.Fatalf("scenarios: exit %d\n%s", code, stdout)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.om")
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"no command":      {nil, exitUsage, "Usage"},
		"unknown command": {[]string{"simulate"}, exitUsage, `unknown command "simulate"`},
		"unknown flag":    {[]string{"serve", "--port", "1"}, exitUsage, "flag provided but not defined: -port"},
		"scenario":        {[]string{"backfill", "--scenario", "meltdown", "--start", "0", "--end", "60", "--out", out}, exitUsage, `unknown scenario "meltdown"`},
		"no start":        {[]string{"backfill", "--end", "60", "--out", out}, exitUsage, "--start is required"},
		"bad time":        {[]string{"backfill", "--start", "yesterday", "--end", "60", "--out", out}, exitUsage, `--start "yesterday"`},
		"end before":      {[]string{"backfill", "--start", "120", "--end", "60", "--out", out}, exitUsage, "is not after"},
		"no out":          {[]string{"backfill", "--start", "0", "--end", "60"}, exitUsage, "--out is required"},
		"interval":        {[]string{"backfill", "--start", "0", "--end", "60", "--out", out, "--scrape-interval", "2500ms"}, exitUsage, "whole number of seconds"},
		"buckets":         {[]string{"backfill", "--buckets", "ttft=1,2"}, exitUsage, `unknown histogram "ttft"`},
		"bucket order":    {[]string{"backfill", "--start", "0", "--end", "60", "--out", out, "--buckets", "time_to_first_token_seconds=2,1"}, exitUsage, "bounds must increase"},
		"flavour":         {[]string{"serve", "--flavour", "v2"}, exitUsage, `unknown flavour "v2"`},
		"speed":           {[]string{"serve", "--speed", "0"}, exitUsage, "--speed 0"},
		"positional":      {[]string{"serve", "extra"}, exitUsage, `unexpected argument "extra"`},
		"listen":          {[]string{"serve", "--listen", "127.0.0.1:notaport"}, exitError, "serve: listen tcp"},
		"unwritable":      {[]string{"backfill", "--start", "0", "--end", "60", "--out", filepath.Join(dir, "no", "such", "dir.om")}, exitError, "no such file or directory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed backfill left %s behind", out)
	}
}

// TestBackfillMatchesAPI: the command writes exactly what sim.WriteOpenMetrics
// writes for the same flags, and reports its figures.
func TestBackfillMatchesAPI(t *testing.T) {
	out := filepath.Join(t.TempDir(), "surge.om")
	code, stdout, stderr := runCLI(t, "backfill", "--scenario", "surge", "--models", "a,b", "--engines", "2",
		"--seed", "3", "--incident-at", "10m", "--start", "2025-01-06T00:00:00Z", "--end", "1736125200", "--out", out,
		"--buckets", "time_to_first_token_seconds=0.5,1,2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "samples") || !strings.Contains(stdout, "bytes") {
		t.Errorf("no figures printed: %q", stdout)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	cfg := sim.Config{Scenario: "surge", Models: []string{"a", "b"}, Engines: 2, Seed: 3, IncidentAt: 10 * time.Minute,
		Buckets:      map[string][]float64{"time_to_first_token_seconds": {0.5, 1, 2}},
		TargetLabels: map[string]string{"job": "vllm", "instance": "vllm-sim:8000"}}
	start := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	if _, err := sim.WriteOpenMetrics(context.Background(), &want, cfg, start, start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("the command's output differs from sim.WriteOpenMetrics with the same settings")
	}
	if !strings.Contains(string(got), `le="1.0"`) {
		t.Error(`no le="1.0" bucket`)
	}

	code, stdout, stderr = runCLI(t, "backfill", "--start", "0", "--end", "30", "--out", "-")
	if code != exitOK || !strings.HasSuffix(stdout, "# EOF\n") || !strings.Contains(stderr, "samples") {
		t.Fatalf("backfill to stdout: exit %d, stdout ends %q, stderr %q", code, stdout[max(0, len(stdout)-20):], stderr)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2025-01-06T00:00:00Z":      time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC),
		"2025-01-06T01:00:00+01:00": time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC),
		"1736121600":                time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC),
		"1736121600.5":              time.Date(2025, 1, 6, 0, 0, 0, 5e8, time.UTC),
	} {
		got, err := parseTime("start", in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestModelClock(t *testing.T) {
	wall := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := wall
	c := modelClock{wallStart: wall, modelStart: time.Unix(0, 0), speed: 60, now: func() time.Time { return now }}
	now = wall.Add(10 * time.Second)
	if got := c.model(); !got.Equal(time.Unix(600, 0)) {
		t.Fatalf("model time after 10s at speed 60 = %v", got)
	}
	if got := c.wallAt(time.Unix(3600, 0)); !got.Equal(wall.Add(time.Minute)) {
		t.Fatalf("wall time of +1h = %v", got)
	}
}
