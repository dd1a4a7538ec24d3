// Package config loads the vllm-sentinel configuration file: YAML decoded
// strictly with line numbers, VLLM_SENTINEL_* environment overrides for scalar
// settings, secrets read from files, and every problem reported at once.
package config

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// EnvPrefix prefixes the environment variables that override scalar settings:
// VLLM_SENTINEL_PROMETHEUS_URL overrides prometheus.url.
const EnvPrefix = "VLLM_SENTINEL"

// Config is the compiled configuration: the settings sections as written,
// and the SLOs, indicators, notifiers and routes checked and built once, by
// Load. Nothing downstream compiles again.
type Config struct {
	Global     GlobalConfig     `yaml:"global"`
	Prometheus PrometheusConfig `yaml:"prometheus"`
	VLLM       VLLMConfig       `yaml:"vllm"`
	State      StateConfig      `yaml:"state"`
	Web        WebConfig        `yaml:"web"`

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
	// Types lists the known types, for messages.
	Types() []string
	// Decode decodes and checks the whole entry node of a notifier of type
	// typ. Problems come back as *yaml.TypeError (with lines) and as errors
	// with a FieldPath below the entry, joined.
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

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var notifierNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// Load decodes, checks and compiles data read from file.
func Load(file string, data []byte, rcv Receivers) (*Config, error) {
	l := loader{file: file}
	doc := document{Config: defaults()}

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
	if len(l.problems) > 0 {
		return nil, l.err()
	}
	return cfg, nil
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

// applyEnv overrides scalar settings from VLLM_SENTINEL_<SECTION>_<KEY>,
// looked up by viper. The value is decoded with the same YAML types as the
// file so that "5m" or "28d" mean the same in both places.
func (l *loader) applyEnv(cfg *Config) {
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for _, key := range envKeys(reflect.TypeOf(*cfg), "") {
		if !v.IsSet(key.path) {
			continue
		}
		env := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key.path, ".", "_"))
		field := reflect.ValueOf(cfg).Elem().FieldByIndex(key.index)
		node := &yaml.Node{Kind: yaml.ScalarNode, Value: v.GetString(key.path)}
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

// checkSettings checks what the decoder cannot in the settings sections:
// ranges, URLs and the vllm selector.
func (l *loader) checkSettings(cfg *Config) {
	if cfg.Global.EvaluationInterval <= 0 {
		l.at([]any{"global", "evaluation_interval"}, "must be positive")
	}
	l.fields([]any{"global", "external_labels"}, rules.CheckLabels(nil, cfg.Global.ExternalLabels))
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
	ms, err := rules.NewPromQL().ParseSelector(cfg.VLLM.Selector)
	if err != nil {
		l.at([]any{"vllm", "selector"}, "%v", err)
	}
	cfg.VLLM.matchers = ms
	for i, g := range cfg.VLLM.GroupBy {
		if !model.LegacyValidation.IsValidLabelName(g) {
			l.at([]any{"vllm", "group_by", i}, "invalid label name %q", g)
		}
	}
}

// compileRules compiles each SLO and indicator once, placing every problem
// at its line, and refuses duplicate names.
func (l *loader) compileRules(cfg *Config, slos []rules.SLOSpec, indicators []rules.IndicatorSpec) {
	p := rules.NewPromQL()
	d := rules.Defaults{GroupBy: cfg.VLLM.GroupBy}
	if cfg.VLLM.matchers != nil {
		d.Selector = cfg.VLLM.Selector
	}
	names := map[string]int{}
	for i, spec := range slos {
		s, err := rules.Compile(p, spec, d)
		l.compiled([]any{"slos", i}, err)
		if s != nil {
			cfg.SLOs = append(cfg.SLOs, s)
		}
		if j, dup := names[spec.Name]; dup && spec.Name != "" {
			l.at([]any{"slos", i, "name"}, "duplicate SLO name %q (first defined at line %d)", spec.Name, lineOf(l.root, []any{"slos", j, "name"}))
		} else {
			names[spec.Name] = i
		}
	}
	inames := map[string]int{}
	for i, spec := range indicators {
		in, err := rules.CompileIndicator(p, spec, d)
		l.compiled([]any{"indicators", i}, err)
		if in != nil {
			cfg.Indicators = append(cfg.Indicators, in)
		}
		if j, dup := inames[spec.Name]; dup && spec.Name != "" {
			l.at([]any{"indicators", i, "name"}, "duplicate indicator name %q (first defined at line %d)", spec.Name, lineOf(l.root, []any{"indicators", j, "name"}))
		} else {
			inames[spec.Name] = i
		}
	}
}

// compiled places the problems of a compile at their lines below root.
func (l *loader) compiled(root []any, err error) {
	if err == nil {
		return
	}
	var fes rules.FieldErrors
	if errors.As(err, &fes) {
		l.fields(root, fes)
		return
	}
	l.at(root, "%v", err)
}

// fields places problems whose paths are relative to root.
func (l *loader) fields(root []any, fes rules.FieldErrors) {
	for _, fe := range fes {
		l.at(append(append([]any(nil), root...), fe.Path...), "%v", fe.Err)
	}
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

// compileNotifiers checks each entry's name and type here, and hands the
// rest of the entry to its receiver type.
func (l *loader) compileNotifiers(cfg *Config, entries []yaml.Node, rcv Receivers) {
	byName := map[string]bool{}
	for i := range entries {
		node := &entries[i]
		at := func(elems ...any) []any { return append([]any{"notifiers", i}, elems...) }
		if node.Kind != yaml.MappingNode {
			l.add(node.Line, rules.PathString(at()), "a notifier must be a mapping with name and type")
			continue
		}
		n := Notifier{Name: scalarValue(node, "name"), Type: scalarValue(node, "type")}
		if n.Name == "" {
			l.at(at("name"), "a notifier needs a name")
		} else if !notifierNameRE.MatchString(n.Name) {
			// The name is also a directory under state.path (its outbox).
			l.at(at("name"), "notifier name %q may hold only letters, digits, '_', '-' and '.', starting with a letter or digit", n.Name)
		} else if byName[n.Name] {
			l.at(at("name"), "duplicate notifier name %q", n.Name)
		}
		byName[n.Name] = true
		types := "alertmanager, slack or webhook"
		if rcv != nil {
			types = strings.Join(rcv.Types(), ", ")
		}
		switch {
		case n.Type == "":
			l.at(at("type"), "type is required: %s", types)
			continue
		case rcv == nil || !slices.Contains(rcv.Types(), n.Type):
			l.at(at("type"), "unknown notifier type %q (want %s)", n.Type, types)
			continue
		}
		settings, err := rcv.Decode(n.Type, node)
		if err != nil {
			l.receiverError(at(), err)
			continue
		}
		n.Settings = settings
		cfg.Notifiers = append(cfg.Notifiers, n)
	}
}

// scalarValue is the value of key in a mapping node, if it is a scalar.
func scalarValue(n *yaml.Node, key string) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// fieldError is how a receiver names the field a problem is about, relative
// to its entry.
type fieldError interface {
	FieldPath() []any
	Unwrap() error
}

// receiverError places a receiver's problems: decoder messages carry their
// lines, field errors their paths below the entry.
func (l *loader) receiverError(root []any, err error) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			l.receiverError(root, e)
		}
		return
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		l.yamlError(te)
		return
	}
	var fe fieldError
	if errors.As(err, &fe) {
		l.at(append(append([]any(nil), root...), fe.FieldPath()...), "%v", fe.Unwrap())
		return
	}
	l.at(root, "%v", err)
}

// compileRoutes checks that routes name known notifiers and compiles their
// regular expressions, once.
func (l *loader) compileRoutes(cfg *Config, routes []RouteConfig) {
	// A notifier refused above is still a name the routes may use: what is
	// wrong with it is said once, at the notifier.
	known := map[string]bool{}
	for _, name := range l.notifierNames() {
		known[name] = true
	}
	for i, r := range routes {
		rt := Route{Match: r.Match, MatchRE: map[string]*regexp.Regexp{}, Notifiers: r.Notifiers, Continue: r.Continue}
		for j, name := range r.Notifiers {
			if !known[name] {
				l.at([]any{"routes", i, "notifiers", j}, "unknown notifier %q", name)
			}
		}
		if len(r.Notifiers) == 0 {
			l.at([]any{"routes", i}, "a route needs notifiers")
		}
		l.fields([]any{"routes", i, "match"}, rules.CheckLabels(nil, r.Match))
		for _, k := range slices.Sorted(maps.Keys(r.MatchRE)) {
			re, err := regexp.Compile("^(?:" + r.MatchRE[k] + ")$")
			if err != nil {
				l.at([]any{"routes", i, "match_re", k}, "invalid regular expression %q: %v", r.MatchRE[k], err)
				continue
			}
			rt.MatchRE[k] = re
		}
		cfg.Routes = append(cfg.Routes, rt)
	}
}

// notifierNames are the names written in the notifiers list.
func (l *loader) notifierNames() []string {
	var out []string
	for i := 0; i+1 < len(l.root.Content); i += 2 {
		if l.root.Content[i].Value != "notifiers" || l.root.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for _, n := range l.root.Content[i+1].Content {
			if n.Kind == yaml.MappingNode {
				out = append(out, scalarValue(n, "name"))
			}
		}
	}
	return out
}
