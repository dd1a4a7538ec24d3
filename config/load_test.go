package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
	slacknotify "github.com/vllm-sentinel/vllm-sentinel/notify/slack"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// rcv is the registry the daemon passes: notifier entries are decoded by
// their receiver packages.
var rcv = receivers.New()

func TestExampleConfigIsValid(t *testing.T) {
	cfg, err := LoadFile("../configs/example.yaml", rcv)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if len(cfg.SLOs) != 2 || cfg.SLOs[0].Objective.Budget() != 0.01 || cfg.SLOs[1].Objective.Budget() != 0.001 {
		t.Errorf("unexpected SLOs: %+v", cfg.SLOs)
	}
	if !reflect.DeepEqual(cfg.SLOs[0].Windows, rules.DefaultWindows(cfg.SLOs[0].PeriodLength(), "critical", "warning")) {
		t.Error("windows: default not decoded")
	}
}

func TestLabelMapsKeepTheirCase(t *testing.T) {
	src := `
global:
  external_labels: {Cluster: Prod-EU}
slos:
  - name: ttft
    sli: {latency: {metric: time_to_first_token, threshold: 1s}}
    objective: 99
    window: 28d
    alerting:
      labels: {Team: Inference}
      annotations: {Runbook_URL: https://example/Runbook}
`
	cfg, err := Load("case.yaml", []byte(src), rcv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.ExternalLabels["Cluster"] != "Prod-EU" {
		t.Errorf("external labels lost case: %v", cfg.Global.ExternalLabels)
	}
	if cfg.SLOs[0].Labels["Team"] != "Inference" {
		t.Errorf("labels lost case: %v", cfg.SLOs[0].Labels)
	}
	if a := cfg.SLOs[0].Annotations["Runbook_URL"]; a == nil || a.Text() != "https://example/Runbook" {
		t.Errorf("annotations lost case: %v", cfg.SLOs[0].Annotations)
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{
		"VLLM_SENTINEL_PROMETHEUS_URL":             "http://prom.example:9090",
		"VLLM_SENTINEL_GLOBAL_EVALUATION_INTERVAL": "1m",
		"VLLM_SENTINEL_PROMETHEUS_TIMEOUT":         "1d",
		"VLLM_SENTINEL_VLLM_METRIC_NAMES":          "v0",
		"VLLM_SENTINEL_WEB_LISTEN_ADDRESS":         "127.0.0.1:1234",
		"VLLM_SENTINEL_STATE_PATH":                 "/tmp/state",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := LoadFile("../configs/example.yaml", rcv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Prometheus.URL != "http://prom.example:9090" || cfg.Global.EvaluationInterval.D() != time.Minute ||
		cfg.Prometheus.Timeout.D() != 24*time.Hour || cfg.VLLM.MetricNames.Flavour != "v0" ||
		cfg.Web.ListenAddress != "127.0.0.1:1234" || cfg.State.Path != "/tmp/state" {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	t.Setenv("VLLM_SENTINEL_GLOBAL_EVALUATION_INTERVAL", "soon")
	_, err = LoadFile("../configs/example.yaml", rcv)
	if err == nil || !strings.Contains(err.Error(), "VLLM_SENTINEL_GLOBAL_EVALUATION_INTERVAL") {
		t.Errorf("bad env value: got %v", err)
	}
}

// Each invalid file maps to the problems it must report, as file:line: text.
func TestInvalidConfigs(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"invalid-unknown-key.yaml", []string{`:4: unknown field "evaluation_intervall"`, `:12: unknown field "objectiv"`}},
		{"invalid-duration.yaml", []string{`:2: invalid duration "5x"`, `:10: invalid duration "four weeks"`}},
		{"invalid-objective.yaml", []string{`:6: objective 100 must be a percentage strictly between 0 and 100`}},
		{"invalid-promql.yaml", []string{`:8: slos[0].sli.ratio.errors: PromQL "sum(rate(vllm:request_success_total{finished_reason=\"error\"}[5m])"`, "unclosed left parenthesis"}},
		{"invalid-duplicate.yaml", []string{`:9: slos[1].name: duplicate SLO name "ttft" (first defined at line 2)`}},
		{"invalid-label.yaml", []string{`:9: slos[0].alerting.labels.team-name: invalid label name "team-name"`}},
		{"invalid-windows.yaml", []string{`:10: slos[0].alerting.windows[0].short: short window 1h must be shorter than long window 30m`}},
		{"invalid-not-yaml.yaml", []string{`invalid-not-yaml.yaml:1: not valid YAML: did not find expected ',' or '}'`}},
		{"invalid-wrong-type.yaml", []string{`:2: expected a duration`, `:3: wrong type: got a mapping, want a list`}},
		{"invalid-many.yaml", []string{`:3: unknown field "colour"`, `:5: slos[0].objective: objective is required`, `:12: slos[1].sli: set exactly one of latency or ratio`, `:22: routes[0].notifiers[0]: unknown notifier "pager"`}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadFile(filepath.Join("testdata", tc.file), rcv)
			if err == nil {
				t.Fatal("accepted")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *config.Error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			for _, p := range ce.Problems {
				if !strings.HasPrefix(p.String(), filepath.Join("testdata", tc.file)+":") {
					t.Errorf("problem without file name: %s", p)
				}
			}
		})
	}
}

func TestSecretsAreReadButNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	slack := filepath.Join(dir, "slack-url")
	os.WriteFile(slack, []byte("https://hooks.slack.example/services/T000/B000/XXXXSECRET\n"), 0o600)
	bad := filepath.Join(dir, "bad-url")
	os.WriteFile(bad, []byte("not a url SECRETVALUE"), 0o600)
	src := `
notifiers:
  - {name: oncall, type: slack, webhook_url_file: ` + slack + `}
  - {name: other, type: slack, webhook_url_file: ` + bad + `}
  - {name: missing, type: webhook, url_file: ` + filepath.Join(dir, "nope") + `}
`
	_, err := Load("s.yaml", []byte(src), rcv)
	if err == nil {
		t.Fatal("bad secret accepted")
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("secret leaked into error: %v", err)
	}
	if !strings.Contains(err.Error(), "s.yaml:4: notifiers[1].webhook_url_file") || !strings.Contains(err.Error(), "s.yaml:5: notifiers[2].url_file: cannot read secret file") {
		t.Errorf("unexpected errors: %v", err)
	}
	cfg, err := Load("s.yaml", []byte("notifiers:\n  - {name: oncall, type: slack, webhook_url_file: "+slack+"}\n"), rcv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Notifiers[0].Settings.(*slacknotify.Config).WebhookURL(); got != "https://hooks.slack.example/services/T000/B000/XXXXSECRET" {
		t.Errorf("secret url %q", got)
	}
}
