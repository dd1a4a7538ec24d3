// Package config loads the vllm-sentinel configuration file: YAML decoded
// strictly with line numbers, VLLM_SENTINEL_* environment overrides for scalar
// settings, secrets read from files, and every problem reported at once.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/notify/webhook"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// EnvPrefix prefixes the environment variables that override scalar settings:
// VLLM_SENTINEL_PROMETHEUS_URL overrides prometheus.url.
const EnvPrefix = "VLLM_SENTINEL"

// Config is the whole configuration file.
type Config struct {
	Global     GlobalConfig          `yaml:"global"`
	Prometheus PrometheusConfig      `yaml:"prometheus"`
	VLLM       VLLMConfig            `yaml:"vllm"`
	SLOs       []rules.SLOSpec       `yaml:"slos"`
	Indicators []rules.IndicatorSpec `yaml:"indicators"`
	Notifiers  []NotifierConfig      `yaml:"notifiers"`
	Routes     []RouteConfig         `yaml:"routes"`
	State      StateConfig           `yaml:"state"`
	Web        WebConfig             `yaml:"web"`

	// File is the path the configuration was loaded from.
	File string `yaml:"-"`
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
	URL        string                     `yaml:"url"`
	Timeout    rules.Duration             `yaml:"timeout"`
	Headers    map[string]string          `yaml:"headers"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config"`
}

// VLLMConfig describes how vLLM's metrics look in this Prometheus.
type VLLMConfig struct {
	Selector    string      `yaml:"selector"`
	MetricNames MetricNames `yaml:"metric_names"`
	GroupBy     []string    `yaml:"group_by"`
}

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

// Notifier types.
const (
	NotifierAlertmanager = "alertmanager"
	NotifierSlack        = "slack"
	NotifierWebhook      = "webhook"
)

// NotifierConfig is one alert destination. Secrets come from *_file fields
// (or the environment, see SecretEnv) and are never printed.
type NotifierConfig struct {
	Name           string                      `yaml:"name"`
	Type           string                      `yaml:"type"`
	URLs           []string                    `yaml:"urls"`
	URL            string                      `yaml:"url"`
	URLFile        string                      `yaml:"url_file"`
	WebhookURLFile string                      `yaml:"webhook_url_file"`
	SecretFile     string                      `yaml:"secret_file"`
	Headers        map[string]string           `yaml:"headers"`
	SendResolved   *bool                       `yaml:"send_resolved"`
	Timeout        rules.Duration              `yaml:"timeout"`
	GroupBy        []string                    `yaml:"group_by"`
	GroupWait      rules.Duration              `yaml:"group_wait"`
	GroupInterval  rules.Duration              `yaml:"group_interval"`
	RepeatInterval rules.Duration              `yaml:"repeat_interval"`
	HTTPConfig     *commoncfg.HTTPClientConfig `yaml:"http_config"`

	// Secret values resolved at load time; unexported so they are never
	// marshalled or printed.
	secretURL  string
	signingKey string
}

// SecretURL returns the notifier's endpoint when it is a secret (a Slack
// webhook URL, or a webhook URL given through url_file or the environment).
func (n *NotifierConfig) SecretURL() string { return n.secretURL }

// SigningKey returns the webhook signing secret, if any.
func (n *NotifierConfig) SigningKey() string { return n.signingKey }

// RouteConfig sends alerts whose labels match to the named notifiers.
type RouteConfig struct {
	Match     map[string]string `yaml:"match"`
	MatchRE   map[string]string `yaml:"match_re"`
	Notifiers []string          `yaml:"notifiers"`
	Continue  bool              `yaml:"continue"`
}

// StateConfig says where alert state and the outbox are kept.
type StateConfig struct {
	Path string `yaml:"path"`
}

// WebConfig configures the HTTP server.
type WebConfig struct {
	ListenAddress string `yaml:"listen_address"`
}

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
		State: StateConfig{Path: "/var/lib/vllm-sentinel"},
		Web:   WebConfig{ListenAddress: ":9105"},
	}
}

// RuleDefaults are the vllm settings SLOs inherit.
func (c *Config) RuleDefaults() rules.Defaults {
	return rules.Defaults{Selector: c.VLLM.Selector, GroupBy: c.VLLM.GroupBy}
}

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem found in a configuration file.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// LoadFile reads, decodes and validates the file, with environment overrides
// taken from getenv (os.Getenv in production). All problems are returned in
// one *Error.
func LoadFile(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: path, Msg: fmt.Sprintf("cannot read config: %v", unwrapPathError(err))}}}
	}
	return Load(path, data, getenv)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var notifierNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// Load decodes and validates data read from file.
func Load(file string, data []byte, getenv func(string) string) (*Config, error) {
	l := loader{file: file}
	cfg := defaults()
	cfg.File = file

	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		l.syntaxError(err, data)
		return nil, l.err()
	}
	if root.Kind == 0 {
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
	if err := dec.Decode(&cfg); err != nil {
		l.yamlError(err)
	}
	l.applyEnv(&cfg, getenv)
	l.validate(&cfg)
	if len(l.problems) > 0 {
		return nil, l.err()
	}
	return &cfg, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return fmt.Sprintf("the scalar %q", n.Value)
	case yaml.SequenceNode:
		return "a list"
	default:
		return "something else"
	}
}

type loader struct {
	file     string
	root     *yaml.Node
	problems []Problem
}

func (l *loader) add(line int, field, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: l.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) at(path []any, format string, args ...any) {
	l.add(lineOf(l.root, path), rules.PathString(path), format, args...)
}

func (l *loader) err() error {
	sort.SliceStable(l.problems, func(i, j int) bool { return l.problems[i].Line < l.problems[j].Line })
	return &Error{Problems: l.problems}
}

// yamlError turns the decoder's messages ("line 12: field foo not found in
// type config.Config") into file:line problems.
func (l *loader) yamlError(err error) {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			line, _ := strconv.Atoi(sm[1])
			l.add(line, "", "%s", friendlyYAML(sm[2]))
			continue
		}
		l.add(0, "", "%s", strings.TrimPrefix(m, "yaml: "))
	}
}

// syntaxError reports a file that does not parse. Some parser errors carry
// no line; then the line is the first at which the file stops parsing.
func (l *loader) syntaxError(err error, data []byte) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if sm := yamlLineRE.FindStringSubmatch(err.Error()); sm != nil {
		line, _ := strconv.Atoi(sm[1])
		l.add(line, "", "not valid YAML: %s", sm[2])
		return
	}
	lines := strings.SplitAfter(string(data), "\n")
	line := len(lines)
	for k := 1; k <= len(lines); k++ {
		var n yaml.Node
		if yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n) != nil {
			line = k
			break
		}
	}
	l.add(line, "", "not valid YAML: %s", msg)
}

var (
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	cannotRE       = regexp.MustCompile(`^cannot unmarshal !!(\w+) ?(.*) into (\S+)$`)
	yamlKinds      = map[string]string{"map": "a mapping", "seq": "a list", "str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean"}
)

func friendlyYAML(m string) string {
	if sm := unknownFieldRE.FindStringSubmatch(m); sm != nil {
		return fmt.Sprintf("unknown field %q (in %s)", sm[1], sm[2])
	}
	if sm := cannotRE.FindStringSubmatch(m); sm != nil {
		got := yamlKinds[sm[1]]
		if got == "" {
			got = sm[1]
		}
		if sm[2] != "" {
			got += " " + sm[2]
		}
		return fmt.Sprintf("wrong type: got %s, want %s", got, goTypeName(sm[3]))
	}
	return m
}

// goTypeName says in words what a Go type expects of the YAML.
func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.Contains(t, "."):
		return "a mapping"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	}
	return t
}

// lineOf finds the line of the key or item a path names; where the path runs
// out of the document it returns the line of the deepest node it reached.
func lineOf(n *yaml.Node, path []any) int {
	if n == nil {
		return 0
	}
	line := n.Line
	for _, p := range path {
		switch v := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == v {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yaml.SequenceNode || v >= len(n.Content) {
				return line
			}
			n = n.Content[v]
			line = n.Line
		}
	}
	return line
}

// applyEnv overrides scalar settings from VLLM_SENTINEL_<SECTION>_<KEY>. Viper
// does the environment lookup; the value is decoded with the same YAML types
// as the file so "5m" or "28d" mean the same in both places.
func (l *loader) applyEnv(cfg *Config, getenv func(string) string) {
	if getenv == nil {
		return
	}
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	for _, key := range envKeys(reflect.TypeOf(*cfg), "") {
		env := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key.path, ".", "_"))
		_ = v.BindEnv(key.path, env)
		val := getenv(env)
		if val == "" {
			continue
		}
		field := reflect.ValueOf(cfg).Elem().FieldByIndex(key.index)
		node := &yaml.Node{Kind: yaml.ScalarNode, Value: val}
		if err := node.Decode(field.Addr().Interface()); err != nil {
			msg := err.Error()
			var te *yaml.TypeError
			if errors.As(err, &te) && len(te.Errors) > 0 {
				msg = te.Errors[0]
				if sm := yamlLineRE.FindStringSubmatch(msg); sm != nil {
					msg = sm[2]
				}
			}
			l.add(0, key.path, "from environment variable %s: %s", env, friendlyYAML(msg))
		}
	}
}

type envKey struct {
	path  string
	index []int
}

// envKeys lists the scalar settings of the top-level sections (not lists or
// maps, whose entries have no stable name).
func envKeys(t reflect.Type, prefix string) []envKey {
	var keys []envKey
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == reflect.TypeOf(Config{}).PkgPath() && f.Type != reflect.TypeOf(MetricNames{}):
			for _, k := range envKeys(f.Type, path) {
				keys = append(keys, envKey{path: k.path, index: append([]int{i}, k.index...)})
			}
		case prefix == "":
			// top-level lists (slos, notifiers, ...) are not scalars
		case f.Type.Kind() == reflect.Slice || f.Type.Kind() == reflect.Map || f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(MetricNames{}):
		default:
			keys = append(keys, envKey{path: path, index: []int{i}})
		}
	}
	return keys
}

// validate checks what the decoder cannot: ranges, cross-references and
// PromQL. Each problem names its line.
func (l *loader) validate(cfg *Config) {
	p := rules.NewPromQL()
	if cfg.Global.EvaluationInterval <= 0 {
		l.at([]any{"global", "evaluation_interval"}, "must be positive")
	}
	for _, fe := range rules.CheckLabels([]any{"global", "external_labels"}, cfg.Global.ExternalLabels) {
		l.at(fe.Path, "%v", fe.Err)
	}
	if u := cfg.Global.ExternalURL; u != "" {
		if _, err := parseHTTPURL(u); err != nil {
			l.at([]any{"global", "external_url"}, "%v", err)
		}
	}
	if _, err := parseHTTPURL(cfg.Prometheus.URL); err != nil {
		l.at([]any{"prometheus", "url"}, "%v", err)
	}
	if cfg.Prometheus.Timeout <= 0 {
		l.at([]any{"prometheus", "timeout"}, "must be positive")
	}
	if err := cfg.Prometheus.HTTPConfig.Validate(); err != nil {
		l.at([]any{"prometheus", "http_config"}, "%v", err)
	}
	if _, err := p.ParseSelector(cfg.VLLM.Selector); err != nil {
		l.at([]any{"vllm", "selector"}, "%v", err)
	}
	for i, g := range cfg.VLLM.GroupBy {
		if !model.LegacyValidation.IsValidLabelName(g) {
			l.at([]any{"vllm", "group_by", i}, "invalid label name %q", g)
		}
	}

	names := map[string]int{}
	for i := range cfg.SLOs {
		s := &cfg.SLOs[i]
		fes := s.Validate(p, []any{"slos", i})
		for _, fe := range fes {
			l.at(fe.Path, "%v", fe.Err)
		}
		if len(fes) == 0 {
			// Compiling catches what needs the vllm defaults, e.g. a ratio
			// expression without a range selector.
			if _, err := rules.Compile(p, *s, cfg.RuleDefaults()); err != nil {
				l.at([]any{"slos", i}, "%v", err)
			}
		}
		if j, dup := names[s.Name]; dup && s.Name != "" {
			l.at([]any{"slos", i, "name"}, "duplicate SLO name %q (first defined at line %d)", s.Name, lineOf(l.root, []any{"slos", j, "name"}))
		} else {
			names[s.Name] = i
		}
	}
	inames := map[string]int{}
	for i := range cfg.Indicators {
		s := &cfg.Indicators[i]
		fes := s.Validate(p, []any{"indicators", i})
		for _, fe := range fes {
			l.at(fe.Path, "%v", fe.Err)
		}
		if len(fes) == 0 {
			if _, err := rules.CompileIndicator(p, *s, cfg.RuleDefaults()); err != nil {
				l.at([]any{"indicators", i}, "%v", err)
			}
		}
		if j, dup := inames[s.Name]; dup && s.Name != "" {
			l.at([]any{"indicators", i, "name"}, "duplicate indicator name %q (first defined at line %d)", s.Name, lineOf(l.root, []any{"indicators", j, "name"}))
		} else {
			inames[s.Name] = i
		}
	}
	l.validateNotifiers(cfg)
}

func parseHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid URL %q: want http(s)://host[:port][/path]", s)
	}
	return u, nil
}

func (l *loader) validateNotifiers(cfg *Config) {
	byName := map[string]bool{}
	for i := range cfg.Notifiers {
		n := &cfg.Notifiers[i]
		at := func(elems ...any) []any { return append([]any{"notifiers", i}, elems...) }
		if n.Name == "" {
			l.at(at("name"), "a notifier needs a name")
		} else if !notifierNameRE.MatchString(n.Name) {
			// The name is also a directory under state.path (its outbox).
			l.at(at("name"), "notifier name %q may hold only letters, digits, '_', '-' and '.', starting with a letter or digit", n.Name)
		} else if byName[n.Name] {
			l.at(at("name"), "duplicate notifier name %q", n.Name)
		}
		byName[n.Name] = true
		switch n.Type {
		case NotifierAlertmanager:
			if len(n.URLs) == 0 {
				l.at(at("urls"), "an alertmanager notifier needs urls")
			}
			for j, u := range n.URLs {
				if _, err := parseHTTPURL(u); err != nil {
					l.at(at("urls", j), "%v", err)
				}
			}
			// Alertmanager groups, repeats and decides about resolves in
			// its own routes; settings here would be silently ignored.
			for _, f := range []struct {
				name string
				set  bool
			}{{"group_by", n.GroupBy != nil}, {"group_wait", n.GroupWait != 0}, {"group_interval", n.GroupInterval != 0},
				{"repeat_interval", n.RepeatInterval != 0}, {"send_resolved", n.SendResolved != nil}} {
				if f.set {
					l.at(at(f.name), "%s does not apply to an alertmanager notifier: set it in Alertmanager's route", f.name)
				}
			}
		case NotifierSlack:
			if n.URL != "" {
				l.at(at("url"), "put the Slack webhook URL in a file and name it in webhook_url_file: it is a secret")
			}
			l.readSecret(at("webhook_url_file"), n.WebhookURLFile, &n.secretURL, true)
		case NotifierWebhook:
			switch {
			case n.URL != "" && n.URLFile != "":
				l.at(at("url_file"), "set url or url_file, not both")
			case n.URL != "":
				if _, err := parseHTTPURL(n.URL); err != nil {
					l.at(at("url"), "%v", err)
				}
			default:
				l.readSecret(at("url_file"), n.URLFile, &n.secretURL, true)
			}
			if n.SecretFile != "" {
				l.readSecret(at("secret_file"), n.SecretFile, &n.signingKey, false)
				if n.signingKey != "" {
					if _, err := webhook.ParseSigningKey(n.signingKey); err != nil {
						// The parser's error never quotes the key.
						l.at(at("secret_file"), "signing key in %s: %v", n.SecretFile, err)
					}
				}
			}
		case "":
			l.at(at("type"), "type is required: alertmanager, slack or webhook")
		default:
			l.at(at("type"), "unknown notifier type %q (want alertmanager, slack or webhook)", n.Type)
		}
		if n.HTTPConfig != nil {
			if err := n.HTTPConfig.Validate(); err != nil {
				l.at(at("http_config"), "%v", err)
			}
		}
		for j, g := range n.GroupBy {
			if !model.LegacyValidation.IsValidLabelName(g) && g != "..." {
				l.at(at("group_by", j), "invalid label name %q", g)
			}
		}
	}
	for i, r := range cfg.Routes {
		for j, name := range r.Notifiers {
			if !byName[name] {
				l.at([]any{"routes", i, "notifiers", j}, "unknown notifier %q", name)
			}
		}
		if len(r.Notifiers) == 0 {
			l.at([]any{"routes", i}, "a route needs notifiers")
		}
		for _, fe := range rules.CheckLabels([]any{"routes", i, "match"}, r.Match) {
			l.at(fe.Path, "%v", fe.Err)
		}
		for k, re := range r.MatchRE {
			if _, err := regexp.Compile("^(?:" + re + ")$"); err != nil {
				l.at([]any{"routes", i, "match_re", k}, "invalid regular expression %q: %v", re, err)
			}
		}
	}
}

// readSecret reads a secret file. The error names the file, never its content.
func (l *loader) readSecret(path []any, file string, dst *string, isURL bool) {
	if file == "" {
		l.at(path, "required")
		return
	}
	b, err := os.ReadFile(file)
	if err != nil {
		l.at(path, "cannot read secret file %s: %v", file, unwrapPathError(err))
		return
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		l.at(path, "secret file %s is empty", file)
		return
	}
	if isURL {
		if _, err := parseHTTPURL(s); err != nil {
			l.at(path, "secret file %s does not hold an http(s) URL", file)
			return
		}
	}
	*dst = s
}
