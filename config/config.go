// Package config loads the vllm-sentinel configuration file: YAML decoded
// strictly with line numbers, VLLM_SENTINEL_* environment overrides for scalar
// settings, secrets read from files, and every problem reported at once.
package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/model/labels"
	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// Config is the compiled configuration: the settings sections as written,
// and the SLOs, indicators, notifiers and routes checked and built once, by
// Load. Nothing downstream compiles again.
type Config struct {
	Global     GlobalConfig     `yaml:"global"`
	Prometheus PrometheusConfig `yaml:"prometheus"`
	VLLM       VLLMConfig       `yaml:"vllm"`
	State      StateConfig      `yaml:"state"`
	Web        WebConfig        `yaml:"web"`
	Tracing    TracingConfig    `yaml:"tracing"`

	SLOs       []*rules.SLO       `yaml:"-"`
	Indicators []*rules.Indicator `yaml:"-"`
	Notifiers  []Notifier         `yaml:"-"`
	Routes     []Route            `yaml:"-"`

	// File is the path the configuration was loaded from.
	File string `yaml:"-"`
}

// document is the file as written: the sections, and the lists Load
// compiles into Config.
type document struct {
	Config     `yaml:",inline"`
	SLOs       []rules.SLOSpec       `yaml:"slos"`
	Indicators []rules.IndicatorSpec `yaml:"indicators"`
	Notifiers  []yaml.Node           `yaml:"notifiers"`
	Routes     []RouteConfig         `yaml:"routes"`
}

// GlobalConfig holds settings that apply to every alert.
type GlobalConfig struct {
	EvaluationInterval rules.Duration    `yaml:"evaluation_interval"`
	ResendInterval     rules.Duration    `yaml:"resend_interval"`
	ExternalLabels     map[string]string `yaml:"external_labels"`
	ExternalURL        string            `yaml:"external_url"`
}

// PrometheusConfig says where to query and how.
type PrometheusConfig struct {
	URL     string         `yaml:"url"`
	Timeout rules.Duration `yaml:"timeout"`
	// QueryOffset evaluates this far behind now, as a Prometheus rule
	// group's query_offset, for backends that receive samples late
	// (remote write into Mimir or Thanos Receive).
	QueryOffset rules.Duration             `yaml:"query_offset"`
	Headers     map[string]string          `yaml:"headers"`
	HTTPConfig  commoncfg.HTTPClientConfig `yaml:"http_config"`
}

// VLLMConfig describes how vLLM's metrics look in this Prometheus.
type VLLMConfig struct {
	Selector    string      `yaml:"selector"`
	MetricNames MetricNames `yaml:"metric_names"`
	GroupBy     []string    `yaml:"group_by"`

	matchers []*labels.Matcher
}

// Matchers is the selector, parsed.
func (v *VLLMConfig) Matchers() []*labels.Matcher { return v.matchers }

// MetricNames is a flavour (auto, v1, v0, underscore) or a mapping with a
// flavour and per-metric overrides:
//
//	metric_names: {flavour: auto, overrides: {kv_cache_usage_perc: "my:kv_usage"}}
type MetricNames struct {
	Flavour   string            `yaml:"flavour"`
	Overrides map[string]string `yaml:"overrides"`
}

// UnmarshalYAML accepts a bare flavour or the long form.
func (m *MetricNames) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		m.Flavour = n.Value
	case yaml.MappingNode:
		var errs []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "flavour":
				m.Flavour = v.Value
			case "overrides":
				if err := v.Decode(&m.Overrides); err != nil {
					errs = append(errs, fmt.Sprintf("line %d: overrides must map metric names to names", v.Line))
				}
			default:
				errs = append(errs, fmt.Sprintf("line %d: field %s not found in type config.MetricNames", k.Line, k.Value))
			}
		}
		if len(errs) > 0 {
			return &yaml.TypeError{Errors: errs}
		}
	default:
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: metric_names must be auto, v1, v0, underscore or {flavour, overrides}", n.Line)}}
	}
	switch m.Flavour {
	case "":
		m.Flavour = rules.FlavourAuto
	case rules.FlavourAuto, rules.FlavourV1, rules.FlavourV0, rules.FlavourUnderscore:
	default:
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: metric_names flavour must be auto, v1, v0 or underscore, got %q", n.Line, m.Flavour)}}
	}
	return nil
}

// Receivers decodes the type-specific settings of notifier entries; the
// notify/receivers registry is the one the daemon passes.
type Receivers interface {
	// Decode decodes and checks the whole entry node of a notifier of type
	// typ. Problems come back as *yaml.TypeError (with lines) and as errors
	// with a FieldPath below the entry, joined; a plain error is about the
	// type itself (missing, unknown).
	Decode(typ string, node *yaml.Node) (any, error)
}

// Notifier is one alert destination: its name (which also names its outbox
// directory), its type, and the settings the receiver type decoded. Secrets
// stay inside Settings, behind accessors that never print them.
type Notifier struct {
	Name     string
	Type     string
	Settings any
}

// RouteConfig is a route as written.
type RouteConfig struct {
	Match     map[string]string `yaml:"match"`
	MatchRE   map[string]string `yaml:"match_re"`
	Notifiers []string          `yaml:"notifiers"`
	Continue  bool              `yaml:"continue"`
}

// Route sends alerts whose labels match to the named notifiers; MatchRE is
// compiled and anchored, as Alertmanager anchors it.
type Route struct {
	Match     map[string]string
	MatchRE   map[string]*regexp.Regexp
	Notifiers []string
	Continue  bool
}

// StateConfig says where alert state and the outbox are kept.
type StateConfig struct {
	Path string `yaml:"path"`
}

// WebConfig configures the HTTP server.
type WebConfig struct {
	ListenAddress string `yaml:"listen_address"`
	// PerWindowMetrics exports every window's burn rate, error ratio and
	// events on /metrics; at fleet scale (1,000 groups x 10 SLOs: 31 MB a
	// scrape) turn it off, keeping budgets, firing pairs and indicators
	// (3.5 MB).
	PerWindowMetrics *bool `yaml:"per_window_metrics"`
	// GrafanaURL is the Grafana the status pages link to, e.g. the
	// dashboard `dashboards export` wrote.
	GrafanaURL string `yaml:"grafana_url"`
}

// PerWindow reports whether /metrics carries per-window series (the default).
func (w WebConfig) PerWindow() bool { return w.PerWindowMetrics == nil || *w.PerWindowMetrics }

// Defaults applied before the file is read, so that a file may omit whole
// sections.
func defaults() Config {
	return Config{
		Global: GlobalConfig{
			EvaluationInterval: rules.Duration(30 * time.Second),
			ResendInterval:     rules.Duration(time.Minute),
		},
		Prometheus: PrometheusConfig{
			URL:        "http://localhost:9090",
			Timeout:    rules.Duration(20 * time.Second),
			HTTPConfig: commoncfg.DefaultHTTPClientConfig,
		},
		VLLM: VLLMConfig{
			MetricNames: MetricNames{Flavour: rules.FlavourAuto},
			GroupBy:     []string{"model_name"},
		},
		State:   StateConfig{Path: "/var/lib/vllm-sentinel"},
		Web:     WebConfig{ListenAddress: "127.0.0.1:9105"},
		Tracing: defaultTracing(),
	}
}

// LoadFile reads, decodes, checks and compiles the file, with the
// VLLM_SENTINEL_* environment overrides applied. rcv decodes the notifiers.
// All problems are returned in one *Error.
func LoadFile(path string, rcv Receivers) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: path, Msg: fmt.Sprintf("cannot read config: %v", unwrapPathError(err))}}}
	}
	return Load(path, data, rcv)
}

// Load decodes, checks and compiles data read from file.
func Load(file string, data []byte, rcv Receivers) (*Config, error) {
	l := loader{file: file}
	doc := document{Config: defaults()}

	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		l.syntaxError(err, data)
		return nil, l.err()
	}
	if root.Kind == 0 || len(root.Content) == 0 || root.Content[0].ShortTag() == "!!null" {
		// Nothing, comments, or a lone "---" or "~".
		l.add(0, "", "the file is empty")
		return nil, l.err()
	}
	if doc := root.Content[0]; doc.Kind != yaml.MappingNode {
		l.add(doc.Line, "", "the configuration must be a YAML mapping (global:, prometheus:, slos:, ...), got %s", kindName(doc))
		return nil, l.err()
	}
	l.root = root.Content[0]

	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		l.yamlError(err)
	}
	cfg := &doc.Config
	cfg.File = file
	l.applyEnv(cfg)
	l.checkSettings(cfg)
	l.compileRules(cfg, doc.SLOs, doc.Indicators)
	l.compileNotifiers(cfg, doc.Notifiers, rcv)
	l.compileRoutes(cfg, doc.Routes)
	l.checkSomethingToEvaluate(doc.SLOs, doc.Indicators)
	if len(l.problems) > 0 {
		return nil, l.err()
	}
	return cfg, nil
}
