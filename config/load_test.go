package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
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
		{"invalid-interval.yaml", []string{`:2: global.evaluation_interval: 10m is longer than the 5m window of SLO "ttft"`}},
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
	cfg, err := Load("s.yaml", []byte("notifiers:\n  - {name: oncall, type: slack, webhook_url_file: "+slack+"}\nindicators: [{name: stall, kind: queue_stall}]\n"), rcv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Notifiers[0].Settings.(*slacknotify.Config).WebhookURL(); got != "https://hooks.slack.example/services/T000/B000/XXXXSECRET" {
		t.Errorf("secret url %q", got)
	}
}

// problemsOf loads src and returns its problems as text; it fails the test
// if src loads.
func problemsOf(t *testing.T, file, src string) string {
	t.Helper()
	_, err := Load(file, []byte(src), rcv)
	if err == nil {
		t.Fatalf("accepted:\n%s", src)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error is %T, want *config.Error", err)
	}
	return err.Error()
}

// goTypeRE finds a Go type name in a message: config.GlobalConfig,
// rules.WindowSpec, config.plain, alertmanager.Config.
var goTypeRE = regexp.MustCompile(`\b(config|rules|alertmanager|slack|webhook|notify)\.[A-Za-z]`)

// Each new invalid file maps to the problems it must report, as
// file:line: text, and to what must not be in them.
func TestInvalidConfigsInTheFilesWords(t *testing.T) {
	for _, tc := range []struct {
		file    string
		want    []string
		notWant []string
	}{
		// yaml.v3 says line 8, the blank line before global:.
		{"invalid-syntax-indent.yaml", []string{`invalid-syntax-indent.yaml:18: not valid YAML: did not find expected key`}, nil},
		// yaml.v3 says line 9, where the string happens to end.
		{"invalid-syntax-quote.yaml", []string{`invalid-syntax-quote.yaml:5: not valid YAML: a quoted string starts on this line and is not closed on it`}, nil},
		{"invalid-syntax-tab.yaml", []string{`invalid-syntax-tab.yaml:6: not valid YAML: found a tab character that violates indentation (the line is indented with a tab`}, nil},
		// The flow mapping opens on line 1; the mistake is on line 10.
		{"invalid-syntax-flow.yaml", []string{`invalid-syntax-flow.yaml:10: not valid YAML: did not find expected ',' or ']'`}, nil},
		{"invalid-unknown-key.yaml", []string{
			`:4: unknown field "evaluation_intervall" in global (did you mean "evaluation_interval"?)`,
			`:12: unknown field "objectiv" in slos[1] (did you mean "objective"?)`,
		}, nil},
		{"invalid-many.yaml", []string{`:3: unknown field "colour" in web`}, []string{"(in "}},
		{"invalid-typos.yaml", []string{
			`:3: unknown field "evaluation-interval" in global (did you mean "evaluation_interval"?)`,
			`:6: unknown field "insecure" in prometheus.http_config.tls_config (did you mean "insecure_skip_verify"?)`,
			`:8: unknown field "flavor" in vllm.metric_names (did you mean "flavour"?)`,
			`:14: unknown field "thresold" in slos[0].sli.latency (did you mean "threshold"?)`,
			`:19: unknown field "factr" in slos[0].alerting.windows[0] (did you mean "factor"?)`,
			`:20: wrong type: got a mapping, want a string`,
			`:22: unknown field "indicator" at the top level (did you mean "indicators"?)`,
			`:27: unknown field "url" in notifiers[0]`,
			`:28: duplicate field "type" in notifiers[0] (first set at line 26)`,
			`:31: unknown field "colour" in web`,
		}, []string{"(in "}},
		{"invalid-url.yaml", []string{
			`:2: global.external_url: invalid URL "127.0.0.1:9105": want http(s)://host[:port][/path], e.g. http://127.0.0.1:9105`,
			`:4: prometheus.url: invalid URL "localhost:9090": want http(s)://host[:port][/path], e.g. http://localhost:9090`,
			`:13: notifiers[0].url: invalid URL "hooks.example/alerts": want http(s)://host[:port][/path], e.g. http://hooks.example/alerts`,
		}, []string{"first path segment", "missing protocol scheme"}},
		{"invalid-nothing-to-evaluate.yaml", []string{`invalid-nothing-to-evaluate.yaml: nothing to evaluate: define at least one SLO under slos: or one indicator under indicators:`}, nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := problemsOf(t, path, string(src))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("error does not contain %q:\n%v", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("error contains %q:\n%v", w, got)
				}
			}
			if m := goTypeRE.FindString(got); m != "" {
				t.Errorf("error names the Go type %s:\n%v", m, got)
			}
		})
	}
}

// sloText is one valid SLO, for files about something else.
const sloText = "slos:\n  - name: ttft\n    sli: {latency: {metric: time_to_first_token, threshold: 1s}}\n    objective: 99\n    window: 28d\n"

// syntaxCases are files that do not parse and the problem each must report
// (after its file name), at the line of the mistake.
var syntaxCases = []struct {
	name, src string
	want      string
}{
	{"unclosed list", "vllm:\n  selector: '{job=\"vllm\"}'\n  group_by: [model_name\n\n" + sloText,
		`:3: not valid YAML: did not find expected ',' or ']'`},
	{"unclosed quote on the first line", "global: {external_url: \"http://x}\n" + sloText + "web: {listen_address: \"x\"}\n",
		`:1: not valid YAML: a quoted string starts on this line and is not closed on it`},
	{"unclosed quote on the last line", sloText + "web: {listen_address: ':9105}\n",
		`:6: not valid YAML: a quoted string starts on this line and is not closed on it`},
	{"unclosed quote before a later one", "global:\n  external_url: 'http://x\nweb:\n  listen_address: ':9105'\n" + sloText,
		`:2: not valid YAML: a quoted string starts on this line and is not closed on it`},
	{"multi-line quoted string before the mistake", "global:\n  external_url: \"http://x\n    /y\"\n\n# web\nweb:\n   listen_address: x\n  colour: y\n" + sloText,
		`:8: not valid YAML: did not find expected key`},
	{"mapping value in a plain scalar", "global:\n  evaluation_interval: 30s\n\n# web\nweb:\n  listen_address: a: b\n" + sloText,
		`:6: not valid YAML: mapping values are not allowed in this context`},
	{"CRLF line ends", strings.ReplaceAll("global:\n  evaluation_interval: 30s\n\nprometheus:\n  url: http://x\n timeout: 1s\n"+sloText, "\n", "\r\n"),
		`:6: not valid YAML: did not find expected key`},
	{"unknown anchor", sloText + "indicators:\n  - *stall\n",
		`:7: not valid YAML: unknown anchor 'stall' referenced`},
	{"tab", "global:\n\tevaluation_interval: 30s\n" + sloText,
		`:2: not valid YAML: found character that cannot start any token (the line is indented with a tab`},
}

// A syntax error is reported at the line of the mistake, however the file
// is laid out and wherever yaml.v3 puts its own line.
func TestSyntaxErrorLines(t *testing.T) {
	for _, tc := range syntaxCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := problemsOf(t, "s.yaml", tc.src); !strings.Contains(got, "s.yaml"+tc.want) {
				t.Errorf("got\n%s\nwant s.yaml%s", got, tc.want)
			}
		})
	}
}

// suggestionCases are unknown keys and the problem each must report.
var suggestionCases = []struct{ src, want string }{
	{"global: {evaluationInterval: 1m}\n" + sloText, `s.yaml:1: unknown field "evaluationInterval" in global (did you mean "evaluation_interval"?)`},
	{"state: {paht: /x}\n" + sloText, `s.yaml:1: unknown field "paht" in state (did you mean "path"?)`},
	{"web: {listen: x}\n" + sloText, `s.yaml:1: unknown field "listen" in web (did you mean "listen_address"?)`},
	{sloText + "    alerting: {page_severty: page}\n", `s.yaml:6: unknown field "page_severty" in slos[0].alerting (did you mean "page_severity"?)`},
	{sloText + "indicators:\n  - {name: q, kind: queue_growth, treshold: 1}\n", `s.yaml:7: unknown field "treshold" in indicators[0] (did you mean "threshold"?)`},
	{sloText + "routes:\n  - {notifier: [am]}\n", `s.yaml:7: unknown field "notifier" in routes[0] (did you mean "notifiers"?)`},
	{"global: {zzz: 1}\n" + sloText, `s.yaml:1: unknown field "zzz" in global`},
	// Both mappings hold a "colour"; each is named by its own path.
	{"vllm: {metric_names: {colour: 1}, colour: 2}\n" + sloText, `s.yaml:1: unknown field "colour" in vllm.metric_names`},
	{"vllm: {metric_names: {colour: 1}, colour: 2}\n" + sloText, `s.yaml:1: unknown field "colour" in vllm`},
}

// Suggestions come from the keys of the mapping the unknown key is in.
func TestUnknownFieldSuggestions(t *testing.T) {
	for _, tc := range suggestionCases {
		got := problemsOf(t, "s.yaml", tc.src)
		if !strings.Contains(got, tc.want) {
			t.Errorf("got\n%s\nwant %s", got, tc.want)
		}
		if strings.Contains(tc.want, "zzz") && strings.Contains(got, "(did you mean") {
			t.Errorf("suggestion for a key close to none: %s", got)
		}
		if m := goTypeRE.FindString(got); m != "" {
			t.Errorf("error names the Go type %s:\n%v", m, got)
		}
	}
}

// urlCases are prometheus.url values and the problem each must report.
var urlCases = []struct{ url, want string }{
	{"localhost:9090", `s.yaml:1: prometheus.url: invalid URL "localhost:9090": want http(s)://host[:port][/path], e.g. http://localhost:9090`},
	{"127.0.0.1:9090", `s.yaml:1: prometheus.url: invalid URL "127.0.0.1:9090": want http(s)://host[:port][/path], e.g. http://127.0.0.1:9090`},
	{"prom:9090/prefix", `invalid URL "prom:9090/prefix": want http(s)://host[:port][/path], e.g. http://prom:9090/prefix`},
	{"admin:hunter2@prom:9090", `invalid URL "admin:xxxxx@prom:9090": want http(s)://host[:port][/path], e.g. http://admin:xxxxx@prom:9090`},
	{"admin:hunter2@prom host", `invalid URL: want http(s)://host[:port][/path], e.g. http://localhost:9090`},
	{"ftp://prom", `invalid URL "ftp://prom": want http(s)://host[:port][/path]`},
}

func urlConfig(url string) string { return "prometheus: {url: '" + url + "'}\n" + sloText }

// A URL without its scheme says what it should look like, and never
// repeats a password.
func TestURLWithoutScheme(t *testing.T) {
	for _, tc := range urlCases {
		got := problemsOf(t, "s.yaml", urlConfig(tc.url))
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: got\n%s\nwant %s", tc.url, got, tc.want)
		}
		if strings.Contains(got, "hunter2") {
			t.Errorf("%s: password in %s", tc.url, got)
		}
	}
}

const nothingToEvaluate = "nothing to evaluate: define at least one SLO under slos: or one indicator under indicators:"

// nothingCases define neither an SLO nor an indicator.
var nothingCases = []struct{ src, want string }{
	{"global: {evaluation_interval: 1m}\n", "s.yaml: " + nothingToEvaluate},
	{"web: {listen_address: ':1'}\nslos: []\nindicators:\n", "s.yaml:2: " + nothingToEvaluate},
	{"# only a comment\nindicators: []\n", "s.yaml:2: " + nothingToEvaluate},
}

// A file that defines neither an SLO nor an indicator is refused, at the
// empty list if one is written; SLOs or indicators alone are enough.
func TestNothingToEvaluate(t *testing.T) {
	for _, tc := range nothingCases {
		if got := problemsOf(t, "s.yaml", tc.src); !strings.Contains(got, tc.want) {
			t.Errorf("got\n%s\nwant %s", got, tc.want)
		}
	}
	for _, src := range []string{
		"indicators: [{name: stall, kind: queue_stall}]\n",
		"slos: [{name: ttft, sli: {latency: {metric: time_to_first_token, threshold: 1s}}, objective: 99, window: 28d}]\n",
	} {
		if _, err := Load("s.yaml", []byte(src), rcv); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
	// A list the decoder refused is its own problem, not also "nothing".
	if got := problemsOf(t, "s.yaml", "slos: {name: ttft}\n"); strings.Contains(got, "nothing to evaluate") {
		t.Errorf("got %s", got)
	}
}

// droppedItems are lists in which the decoder drops an item (a null, or
// one of the wrong kind): the problems of the items after it keep their
// own index and line.
var droppedItems = []struct{ src, want string }{
	{"slos:\n  -\n  - name: ttft\n    sli: {latency: {metric: time_to_first_token, threshold: 1s}}\n    objective: 99\n    window: 28d\n    group_by: [model-name]\n",
		`s.yaml:7: slos[1].group_by[0]: invalid label name "model-name"`},
	{"slos:\n  - 5\n  - name: ttft\n    sli: {latency: {metric: time_to_first_token, threshold: 1s}}\n    window: 28d\n",
		`s.yaml:3: slos[1].objective: objective is required`},
	{"vllm:\n  group_by:\n    - ~\n    - model-name\n" + sloText,
		`s.yaml:4: vllm.group_by[1]: invalid label name "model-name"`},
	{"indicators:\n  - {name: a, kind: queue_growth}\n  - [b]\n  - {name: a, kind: queue_stall}\n",
		`s.yaml:4: indicators[2].name: duplicate indicator name "a" (first defined at line 2)`},
}

func TestDroppedItemsKeepTheirLines(t *testing.T) {
	for _, tc := range droppedItems {
		if got := problemsOf(t, "s.yaml", tc.src); !strings.Contains(got, tc.want) {
			t.Errorf("got\n%s\nwant %s", got, tc.want)
		}
	}
}

// vllm.selector narrows every query the sentinel builds; naming the metric
// in it would make them all fail to parse.
func TestVLLMSelectorMayNotNameTheMetric(t *testing.T) {
	got := problemsOf(t, "s.yaml", "vllm: {selector: '{__name__=\"up\"}'}\n"+sloText)
	if want := `s.yaml:1: vllm.selector: selector "{__name__=\"up\"}" matches on __name__`; !strings.Contains(got, want) {
		t.Errorf("got\n%s\nwant %s", got, want)
	}
}

// What the registry says of a notifier's type is placed at its type key.
func TestNotifierTypeProblemsAtTheTypeLine(t *testing.T) {
	src := "indicators: [{name: q, kind: queue_growth}]\nnotifiers:\n  - name: a\n    type: pager\n  - name: b\n"
	_, err := Load("n.yaml", []byte(src), rcv)
	if err == nil || !strings.Contains(err.Error(), `n.yaml:4: notifiers[0].type: unknown notifier type "pager" (want alertmanager, slack or webhook)`) ||
		!strings.Contains(err.Error(), `n.yaml:5: notifiers[1].type: type is required: alertmanager, slack or webhook`) {
		t.Errorf("got %v", err)
	}
}

// match_re is anchored, as Alertmanager anchors it.
func TestRouteRegexpsAreAnchored(t *testing.T) {
	src := "indicators: [{name: q, kind: queue_growth}]\nnotifiers: [{name: am, type: alertmanager, urls: ['http://am:9093']}]\n" +
		"routes: [{match_re: {model_name: 'llama-.*'}, notifiers: [am]}]\n"
	cfg, err := Load("r.yaml", []byte(src), rcv)
	if err != nil {
		t.Fatal(err)
	}
	re := cfg.Routes[0].MatchRE["model_name"]
	if !re.MatchString("llama-3") || re.MatchString("my-llama-3") {
		t.Errorf("%s is not anchored", re)
	}
}
