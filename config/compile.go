package config

import (
	"maps"
	"regexp"
	"slices"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/internal/httpurl"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

var notifierNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// checkSettings checks what the decoder cannot in the settings sections:
// ranges, URLs and the vllm selector.
func (l *loader) checkSettings(cfg *Config) {
	if cfg.Global.EvaluationInterval <= 0 {
		l.at([]any{"global", "evaluation_interval"}, "must be positive")
	}
	l.fields([]any{"global", "external_labels"}, rules.CheckLabels(nil, cfg.Global.ExternalLabels))
	if u := cfg.Global.ExternalURL; u != "" {
		if err := httpurl.Validate(u); err != nil {
			l.at([]any{"global", "external_url"}, "%v", err)
		}
	}
	if u := cfg.Web.GrafanaURL; u != "" {
		if err := httpurl.Validate(u); err != nil {
			l.at([]any{"web", "grafana_url"}, "%v", err)
		}
	}
	if err := httpurl.Validate(cfg.Prometheus.URL); err != nil {
		l.at([]any{"prometheus", "url"}, "%v", err)
	}
	if cfg.Prometheus.Timeout <= 0 {
		l.at([]any{"prometheus", "timeout"}, "must be positive")
	}
	if cfg.Prometheus.QueryOffset < 0 {
		l.at([]any{"prometheus", "query_offset"}, "must not be negative")
	}
	if err := cfg.Prometheus.HTTPConfig.Validate(); err != nil {
		l.at([]any{"prometheus", "http_config"}, "%v", err)
	}
	ms, err := rules.CheckSelector(rules.NewPromQL(), cfg.VLLM.Selector)
	if err != nil {
		l.at([]any{"vllm", "selector"}, "%v", err)
	}
	cfg.VLLM.matchers = ms
	l.checkTracing(cfg.Tracing)
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
	cfg.SLOs = compileAll(l, "slos", "SLO", slos, func(s rules.SLOSpec) string { return s.Name },
		func(s rules.SLOSpec) (*rules.SLO, error) { return rules.Compile(p, s, d) })
	cfg.Indicators = compileAll(l, "indicators", "indicator", indicators, func(s rules.IndicatorSpec) string { return s.Name },
		func(s rules.IndicatorSpec) (*rules.Indicator, error) { return rules.CompileIndicator(p, s, d) })
	if err := rules.CheckStep(cfg.SLOs, cfg.Global.EvaluationInterval.D()); err != nil {
		l.at([]any{"global", "evaluation_interval"}, "%v", err)
	}
}

// checkSomethingToEvaluate refuses a file that defines neither an SLO nor
// an indicator: the daemon would run and never alert. A slos: or
// indicators: key that holds something the decoder refused has its own
// problem already.
func (l *loader) checkSomethingToEvaluate(slos []rules.SLOSpec, indicators []rules.IndicatorSpec) {
	if len(slos) > 0 || len(indicators) > 0 {
		return
	}
	line := 0
	for _, key := range []string{"slos", "indicators"} {
		k, v := mappingEntry(l.root, key)
		if k == nil {
			continue
		}
		if v.Kind != yaml.SequenceNode && v.ShortTag() != "!!null" {
			return // the decoder's problem
		}
		for _, item := range v.Content {
			if item.ShortTag() != "!!null" {
				return // an entry that did not decode has its problem
			}
		}
		if line == 0 {
			line = k.Line
		}
	}
	l.add(line, "", "nothing to evaluate: define at least one SLO under slos: or one indicator under indicators:")
}

// mappingEntry is the key and value nodes of key in a mapping node.
func mappingEntry(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

// compileAll compiles the specs of one list, places their problems under
// key, and refuses a name used twice.
func compileAll[S any, R any](l *loader, key, what string, specs []S, name func(S) string, compile func(S) (*R, error)) []*R {
	var out []*R
	first := map[string]int{}
	for i, spec := range specs {
		r, err := compile(spec)
		l.compiled([]any{key, i}, err)
		if r != nil {
			out = append(out, r)
		}
		n := name(spec)
		if j, dup := first[n]; dup && n != "" {
			l.at([]any{key, i, "name"}, "duplicate %s name %q (first defined at line %d)", what, n, l.lineAt([]any{key, j, "name"}))
		} else {
			first[n] = i
		}
	}
	return out
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
		// The registry knows the types: what it says of the entry's type
		// (missing, unknown) is placed at the type key.
		settings, err := rcv.Decode(n.Type, node)
		if err != nil {
			l.receiverError(at(), at("type"), err)
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
