package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/version"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckExampleIsValid(t *testing.T) {
	code, out, errs := runCLI(t, "check", "--config.file", "../../configs/example.yaml")
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
			code, _, errs := runCLI(t, "check", "--config.file", f)
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
	if code, _, errs := runCLI(t, "check", "--config.file", "does-not-exist.yaml"); code != 1 || !strings.Contains(errs, "does-not-exist.yaml: cannot read config") {
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
		{"eval", "--config.file", "../../configs/example.yaml", "--at", "NaN"},
		{"eval", "--config.file", "../../configs/example.yaml", "--at", "5"},
		{"eval", "--config.file", "../../configs/example.yaml", "--at", "-5"},
		{"eval", "--config.file", "../../configs/example.yaml", "--at", "-1x"},
		{"eval", "--config.file", "../../configs/example.yaml", "--at", "now-"},
		{"eval", "--config.file", "../../configs/example.yaml", "--at", "yesterday"},
		{"eval", "--at", "now"},
		{"backtest", "--config.file", "../../configs/example.yaml", "--from", "0"},
		{"backtest", "--config.file", "../../configs/example.yaml"},
		{"backtest", "--config.file", "../../configs/example.yaml", "--from", "-1h", "--to", "-2h"},
		{"backtest", "--config", "../../configs/example.yaml", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z", "--step", "-1m"},
		{"backtest", "--config", "../../configs/example.yaml", "--from", "2020-01-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z", "--step", "1s"},
		// Longer than the 1h/5m pair's short window: not countable step by step.
		{"backtest", "--config", "../../configs/example.yaml", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z", "--step", "10m"},
		{"rules", "export"},
		{"rules"},
		{"check", "--config.file", "../../configs/example.yaml", "extra"},
		{"help", "frobnicate"},
	} {
		if code, _, errs := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs)
		}
	}
	if code, _, _ := runCLI(t, "rules", "--help"); code != 0 {
		t.Errorf("rules --help: exit %d", code)
	}
	if code, _, errs := runCLI(t); code != exitUsage || !strings.Contains(errs, "usage: vllm-sentinel") {
		t.Errorf("no arguments: exit %d, want %d and the usage on stderr: %q", code, exitUsage, errs)
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

// Each command's --help, and help COMMAND, describe it with an example line,
// on stdout, exit 0.
func TestCommandHelpHasExamples(t *testing.T) {
	t.Parallel()
	for _, cmd := range [][]string{{"run"}, {"check"}, {"eval"}, {"backtest"}, {"rules", "export"}, {"dashboards", "export"}, {"version"}} {
		name := strings.Join(cmd, " ")
		for _, args := range [][]string{append(append([]string{}, cmd...), "--help"), append([]string{"help"}, cmd...), append(append([]string{}, cmd...), "-h")} {
			code, out, errs := runCLI(t, args...)
			if code != exitOK {
				t.Errorf("%v: exit %d: %s", args, code, errs)
				continue
			}
			if !strings.Contains(out, "usage: vllm-sentinel "+name) || !strings.Contains(out, "Examples:\n  vllm-sentinel "+name) {
				t.Errorf("%v: no usage and example line for %s:\n%s", args, name, out)
			}
		}
	}
	code, out, _ := runCLI(t, "--help")
	for _, want := range []string{
		"vllm-sentinel check --config.file configs/example.yaml --online",
		"vllm-sentinel eval --config.file configs/example.yaml --at -1h --output json",
		"vllm-sentinel backtest --config.file configs/example.yaml --from -7d --step 1m",
		"rules export", "dashboards export",
	} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("--help: exit %d, no %q:\n%s", code, want, out)
		}
	}
	// Every flag the commands had before kingpin is still listed.
	for cmd, flags := range map[string][]string{
		"run":               {"--config.file", "--log.level", "--log.format", "--web.config.file", "--web.listen-address", "--web.enable-lifecycle"},
		"check":             {"--config.file", "--online"},
		"eval":              {"--config.file", "--at", "--output", "--log.level", "--log.format"},
		"backtest":          {"--config.file", "--from", "--to", "--step", "--output", "--meta", "--log.level", "--log.format"},
		"rules export":      {"--config.file", "--out", "--format", "--name", "--namespace", "--label"},
		"dashboards export": {"--config.file", "--out"},
	} {
		_, out, _ := runCLI(t, append(strings.Fields(cmd), "--help")...)
		for _, f := range flags {
			if !strings.Contains(out, f+"=") && !strings.Contains(out, "--[no-]"+f[2:]) {
				t.Errorf("%s --help does not list %s:\n%s", cmd, f, out)
			}
		}
	}
}

// --config is kept as an alias of --config.file; naming two different
// files is a usage error.
func TestConfigFileAndItsAlias(t *testing.T) {
	t.Parallel()
	const example = "../../configs/example.yaml"
	for _, args := range [][]string{
		{"check", "--config.file", example},
		{"check", "--config", example},
		{"check", "--config=" + example},
		{"check", "--config.file=" + example},
		{"check", "--config", example, "--config.file", example},
		{"rules", "export", "--config", example},
		{"dashboards", "export", "--config.file", example},
	} {
		if code, _, errs := runCLI(t, args...); code != exitOK {
			t.Errorf("%v: exit %d: %s", args, code, errs)
		}
	}
	code, _, errs := runCLI(t, "check", "--config.file", example, "--config", "other.yaml")
	if code != exitUsage || !strings.Contains(errs, "name different files") {
		t.Errorf("two files: exit %d, %q", code, errs)
	}
	if code, _, errs := runCLI(t, "check", "--config", "does-not-exist.yaml"); code != exitFailure || !strings.Contains(errs, "does-not-exist.yaml") {
		t.Errorf("--config is not used: exit %d, %q", code, errs)
	}
}

// kingpin's completion scripts are printed to run's stdout.
func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	for flag, want := range map[string]string{
		"--completion-script-bash": "complete -F _vllm-sentinel_bash_autocomplete",
		"--completion-script-zsh":  "#compdef vllm-sentinel",
	} {
		code, out, errs := runCLI(t, flag)
		if code != exitOK || !strings.Contains(out, want) || !strings.Contains(out, "--completion-bash") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", flag, code, out, errs)
		}
	}
}

// version and --version print the build stamp; version --help is help.
func TestVersionPrintsBuildFields(t *testing.T) {
	// Not parallel: it sets the version package's variables.
	saved := []string{version.Version, version.Revision, version.Branch, version.BuildUser, version.BuildDate}
	t.Cleanup(func() {
		version.Version, version.Revision, version.Branch, version.BuildUser, version.BuildDate = saved[0], saved[1], saved[2], saved[3], saved[4]
	})
	version.Version, version.Revision, version.Branch, version.BuildUser, version.BuildDate = "1.2.3", "abc1234", "main", "builder@host", "20260102-15:04:05"
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, out, errs := runCLI(t, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		for _, want := range []string{"vllm-sentinel, version 1.2.3", "branch: main", "revision: abc1234", "build user:       builder@host", "build date:       20260102-15:04:05", "go version:"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: no %q in %q", args, want, out)
			}
		}
	}
	code, out, _ := runCLI(t, "version", "--help")
	if code != exitOK || !strings.Contains(out, "usage: vllm-sentinel version") || strings.Contains(out, "build user:") || strings.Contains(out, "go version:") {
		t.Errorf("version --help: exit %d, want help, not the version: %q", code, out)
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          now,
		"now":                       now,
		"now-1h":                    now.Add(-time.Hour),
		"now+30m":                   now.Add(30 * time.Minute),
		"now-1h30m":                 now.Add(-90 * time.Minute),
		"-6h":                       now.Add(-6 * time.Hour),
		"-7d":                       now.Add(-7 * 24 * time.Hour),
		"-2w":                       now.Add(-14 * 24 * time.Hour),
		"now-1d":                    now.Add(-24 * time.Hour),
		"-90s":                      now.Add(-90 * time.Second),
		"2026-01-02T15:04:05Z":      time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		"2026-01-02T16:04:05+01:00": time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		"1767366245":                time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		"1767366245.5":              time.Date(2026, 1, 2, 15, 4, 5, 5e8, time.UTC),
	} {
		got, err := parseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"yesterday":            "is not RFC3339",
		"-1x":                  `unknown unit "x"`,
		"now-":                 "want -DURATION, now-DURATION",
		"now1h":                "want -DURATION, now-DURATION",
		"-":                    "want -DURATION, now-DURATION",
		"5":                    "not a plausible unix time",
		"-5":                   "not a plausible unix time",
		"NaN":                  "not a plausible unix time",
		"-1.5h":                "units ms, s, m, h, d, w, y",
		"2026-13-01T00:00:00Z": "is not RFC3339",
	} {
		if got, err := parseTime(in, now); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseTime(%q) = %v, %v; want an error with %q", in, got, err, want)
		}
	}
}

// Negative relative times work after a space as well as after '=', where
// kingpin alone would read -1h as a short flag.
func TestRelativeTimeFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"backtest", "--config.file", "../../configs/example.yaml", "--from", "-7d", "--to", "now-1h", "--step", "-1m"},
		{"backtest", "--config.file", "../../configs/example.yaml", "--from=-7d", "--to=-1h", "--step=-1m"},
	} {
		// Parsed, the times accepted: the refusal is the step's.
		if code, _, errs := runCLI(t, args...); code != exitUsage || !strings.Contains(errs, "--step -1m0s must be positive") {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
	}
	if code, _, errs := runCLI(t, "backtest", "--config.file", "../../configs/example.yaml", "--from", "-1w", "--to", "-2w"); code != exitUsage || !strings.Contains(errs, "--to must be after --from") {
		t.Errorf("-1w to -2w: exit %d, %q", code, errs)
	}
	if code, _, errs := runCLI(t, "eval", "--config.file", "../../configs/example.yaml", "--at", "-1x"); code != exitUsage || !strings.Contains(errs, `eval: --at: "-1x": unknown unit "x"`) {
		t.Errorf("--at -1x: exit %d, %q", code, errs)
	}
}

// eval against a Prometheus that refuses connections fails at once, naming
// the URL, instead of after the querier's retries.
func TestEvalFailsFastWhenPrometheusIsUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("prometheus: {url: %s}\nslos:\n  - name: errors\n    sli:\n      ratio: {errors: 'vllm:request_success_total{finished_reason=\"error\"}', total: 'vllm:request_success_total'}\n    objective: 99\n    window: 28d\nstate: {path: %s}\n", url, dir)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, errs := runCLI(t, "eval", "--config.file", cfgFile, "--at", "-1h")
	took := time.Since(start)
	if code != exitFailure {
		t.Errorf("exit %d, want %d: %s", code, exitFailure, errs)
	}
	if took > 3*time.Second {
		t.Errorf("took %s, want under 3s", took)
	}
	if !strings.Contains(errs, "cannot query Prometheus at "+url) {
		t.Errorf("stderr does not name %s: %q", url, errs)
	}
}
