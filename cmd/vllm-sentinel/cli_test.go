package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckExampleIsValid(t *testing.T) {
	code, out, errs := runCLI(t, "check", "--config", "../../configs/example.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "valid: 2 SLO(s)") {
		t.Errorf("unexpected output %q", out)
	}
}

// Every invalid fixture exits 1 with file:line messages and no panic.
func TestCheckInvalidConfigs(t *testing.T) {
	files, err := filepath.Glob("../../config/testdata/invalid-*.yaml")
	if err != nil || len(files) < 8 {
		t.Fatalf("fixtures: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, _, errs := runCLI(t, "check", "--config", f)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr: %s", code, errs)
			}
			first := strings.SplitN(errs, "\n", 2)[0]
			if !strings.HasPrefix(first, f+":") {
				t.Errorf("first line %q does not start with %s:", first, f)
			}
			if strings.Contains(errs, "panic") || strings.Contains(errs, "goroutine") {
				t.Errorf("panicked: %s", errs)
			}
		})
	}
}

func TestCheckMissingFileAndUsage(t *testing.T) {
	if code, _, errs := runCLI(t, "check", "--config", "does-not-exist.yaml"); code != 1 || !strings.Contains(errs, "does-not-exist.yaml: cannot read config") {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
	if code, _, _ := runCLI(t, "check", "--nope"); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code, out, _ := runCLI(t, "version"); code != 0 || !strings.Contains(out, "vllm-sentinel") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

func TestCLIRefusesImplausibleInput(t *testing.T) {
	for _, args := range [][]string{
		{"eval", "--config", "../../configs/example.yaml", "--at", "NaN"},
		{"eval", "--config", "../../configs/example.yaml", "--at", "5"},
		{"eval", "--at", "now"},
		{"backtest", "--config", "../../configs/example.yaml", "--from", "0"},
		{"backtest", "--config", "../../configs/example.yaml", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z", "--step", "-1m"},
		{"backtest", "--config", "../../configs/example.yaml", "--from", "2020-01-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z", "--step", "1s"},
		// Longer than the 1h/5m pair's short window: not countable step by step.
		{"backtest", "--config", "../../configs/example.yaml", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z", "--step", "10m"},
		{"rules", "export"},
	} {
		if code, _, errs := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs)
		}
	}
	if code, _, _ := runCLI(t, "rules", "--help"); code != 0 {
		t.Errorf("rules --help: exit %d", code)
	}
}

func TestSecondDaemonOnOneStateDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := lockStateDir(dir); err == nil || !strings.Contains(err.Error(), "in use by another vllm-sentinel") {
		t.Errorf("second lock: %v", err)
	}
}
