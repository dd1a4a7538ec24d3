package rules

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// SLOSpec is one SLO as written in the config file.
type SLOSpec struct {
	Name        string       `yaml:"name"`
	Description string       `yaml:"description"`
	SLI         SLISpec      `yaml:"sli"`
	Objective   Objective    `yaml:"objective"`
	Window      Duration     `yaml:"window"`
	Calendar    string       `yaml:"calendar"`
	TimeZone    string       `yaml:"time_zone"`
	MinEvents   *float64     `yaml:"min_events"`
	GroupBy     []string     `yaml:"group_by"`
	Alerting    AlertingSpec `yaml:"alerting"`
}

// SLISpec holds exactly one kind of SLI.
type SLISpec struct {
	Latency *LatencySLI `yaml:"latency"`
	Ratio   *RatioSLI   `yaml:"ratio"`
}

// Threshold modes of a latency SLI.
const (
	ThresholdExact       = "exact"
	ThresholdInterpolate = "interpolate"
)

// LatencySLI counts a request as good when the histogram metric observed it at
// or below Threshold.
type LatencySLI struct {
	// Metric is a vLLM histogram by its short name (time_to_first_token) or a
	// full histogram name (vllm:time_to_first_token_seconds).
	Metric        string  `yaml:"metric"`
	Threshold     Seconds `yaml:"threshold"`
	ThresholdMode string  `yaml:"threshold_mode"`
	// Selector adds matchers to this SLI's queries, e.g. '{model_name="llama"}'.
	Selector string `yaml:"selector"`
}

// RatioSLI divides bad events by all events. Each side is a counter selector
// or a full PromQL expression over counters.
type RatioSLI struct {
	Errors string `yaml:"errors"`
	Total  string `yaml:"total"`
}

// AlertingSpec shapes the burn-rate alerts of one SLO.
type AlertingSpec struct {
	Windows WindowsSpec `yaml:"windows"`
	// Confidence is how sure a pair must be that the error ratio of each
	// window exceeds its threshold before it fires: the one-sided Wilson
	// lower bound at this confidence must (default 0.95; 0 compares the
	// observed ratio, as the workbook does).
	Confidence *float64 `yaml:"confidence"`
	// KeepFiringFor damps every pair: one that stops burning and burns
	// again within it stays one alert. Default: each pair's short window.
	KeepFiringFor  *Duration         `yaml:"keep_firing_for"`
	PageSeverity   string            `yaml:"page_severity"`
	TicketSeverity string            `yaml:"ticket_severity"`
	Labels         map[string]string `yaml:"labels"`
	Annotations    map[string]string `yaml:"annotations"`
}

// WindowsSpec is either "default" (the workbook table scaled to the SLO
// window) or an explicit list of pairs.
type WindowsSpec struct {
	Default  bool
	Explicit []WindowSpec
}

// WindowSpec is one explicit window pair; Factor or BudgetPercent sets the
// burn-rate threshold.
type WindowSpec struct {
	Long          Duration `yaml:"long"`
	Short         Duration `yaml:"short"`
	Factor        float64  `yaml:"factor"`
	BudgetPercent float64  `yaml:"budget_percent"`
	Severity      string   `yaml:"severity"`
	Tier          Tier     `yaml:"tier"`
}

var windowSpecKeys = map[string]bool{"long": true, "short": true, "factor": true, "budget_percent": true, "severity": true, "tier": true}

// UnmarshalYAML accepts "default" or a list of window pairs. Keys of each
// pair are checked here because a nested Decode does not inherit the
// strictness of the outer decoder.
func (w *WindowsSpec) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != "default" {
			return typeError(n, "windows must be \"default\" or a list of {long, short, factor|budget_percent, severity}, got %q", n.Value)
		}
		*w = WindowsSpec{Default: true}
		return nil
	case yaml.SequenceNode:
		var errs []string
		out := WindowsSpec{}
		for _, item := range n.Content {
			if item.Kind != yaml.MappingNode {
				errs = append(errs, fmt.Sprintf("line %d: a window pair must be a mapping", item.Line))
				continue
			}
			for i := 0; i+1 < len(item.Content); i += 2 {
				if k := item.Content[i]; !windowSpecKeys[k.Value] {
					errs = append(errs, fmt.Sprintf("line %d: field %s not found in type rules.WindowSpec", k.Line, k.Value))
				}
			}
			var ws WindowSpec
			if err := item.Decode(&ws); err != nil {
				var te *yaml.TypeError
				if errors.As(err, &te) {
					errs = append(errs, te.Errors...)
					continue
				}
				errs = append(errs, fmt.Sprintf("line %d: %v", item.Line, err))
				continue
			}
			out.Explicit = append(out.Explicit, ws)
		}
		if len(errs) > 0 {
			return &yaml.TypeError{Errors: errs}
		}
		*w = out
		return nil
	default:
		return typeError(n, "windows must be \"default\" or a list of window pairs")
	}
}

// IndicatorSpec is one leading indicator as written in the config file.
type IndicatorSpec struct {
	Name          string            `yaml:"name"`
	Kind          string            `yaml:"kind"`
	Expr          string            `yaml:"expr"`
	Metric        string            `yaml:"metric"`
	Percentile    float64           `yaml:"percentile"`
	Threshold     *Seconds          `yaml:"threshold"`
	Floor         *float64          `yaml:"floor"`
	Depth         *float64          `yaml:"depth"`
	MaxNumSeqs    *int              `yaml:"max_num_seqs"`
	Window        Duration          `yaml:"window"`
	For           *Duration         `yaml:"for"`
	KeepFiringFor *Duration         `yaml:"keep_firing_for"`
	Severity      string            `yaml:"severity"`
	Alertname     string            `yaml:"alertname"`
	GroupBy       []string          `yaml:"group_by"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

// Indicator kinds built into the vLLM pack.
const (
	KindQueueGrowth       = "queue_growth"
	KindPreemptionRate    = "preemption_rate"
	KindKVCachePressure   = "kv_cache_pressure"
	KindQueueStall        = "queue_stall"
	KindLatencyPercentile = "latency_percentile"
	KindSaturation        = "saturation"
	KindQueueTime         = "queue_time"
)

var indicatorKinds = []string{KindQueueGrowth, KindPreemptionRate, KindKVCachePressure, KindQueueStall, KindLatencyPercentile, KindSaturation, KindQueueTime}

// FieldError is a problem with one field. Path locates the field from the
// spec's own root (string keys, int indices) so the loader can name the
// file line.
type FieldError struct {
	Path []any
	Err  error
}

func (e FieldError) Error() string { return fmt.Sprintf("%s: %v", PathString(e.Path), e.Err) }

// PathString renders a path as slos[1].sli.latency.threshold.
func PathString(p []any) string {
	var b strings.Builder
	for _, e := range p {
		switch v := e.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}

// FieldPath locates the field for the loader; receivers' errors carry the
// same method, so one loader places both.
func (e FieldError) FieldPath() []any { return e.Path }

// Unwrap returns the problem without its path.
func (e FieldError) Unwrap() error { return e.Err }

// FieldErrors are every problem found in one spec. Compile wraps them in its
// error; errors.As finds them for the loader to place line by line.
type FieldErrors []FieldError

func (fe FieldErrors) Error() string {
	msgs := make([]string, len(fe))
	for i, e := range fe {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

func (fe *FieldErrors) add(path []any, format string, args ...any) {
	*fe = append(*fe, FieldError{Path: append([]any(nil), path...), Err: fmt.Errorf(format, args...)})
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// CheckLabels reports label names that Prometheus and Alertmanager would
// refuse (the legacy charset: a dash is not allowed).
func CheckLabels(path []any, labels map[string]string) FieldErrors {
	var fe FieldErrors
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if !model.LegacyValidation.IsValidLabelName(k) {
			fe.add(append(path, k), "invalid label name %q: use letters, digits and underscores, not starting with a digit", k)
		}
	}
	return fe
}

// CheckSelector parses a selector that narrows the queries the sentinel
// builds (vllm.selector, a latency SLI's selector). It may not name the
// metric: the queries name it, and a second name makes them fail to parse.
func CheckSelector(p *PromQL, s string) ([]*labels.Matcher, error) {
	ms, err := p.ParseSelector(s)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Name == model.MetricNameLabel {
			return nil, fmt.Errorf("selector %q matches on %s: it may only narrow the series of the metrics the sentinel names", s, m.Name)
		}
	}
	return ms, nil
}

// valueTypeName names a PromQL value type in the words of its docs.
func valueTypeName(t parser.ValueType) string {
	switch t {
	case parser.ValueTypeMatrix:
		return "a range vector"
	case parser.ValueTypeVector:
		return "an instant vector"
	case parser.ValueTypeScalar:
		return "a scalar"
	case parser.ValueTypeString:
		return "a string"
	}
	return string(t)
}

// badMetric says what is wrong with a histogram name the queries could not
// hold.
func badMetric(m string) string {
	return fmt.Sprintf("invalid metric name %q: want a vLLM histogram (time_to_first_token) or a histogram name (vllm:time_to_first_token_seconds)", m)
}

// validate checks what an SLO spec says on its own; Compile calls it first.
// Paths are relative to the SLO.
func (s *SLOSpec) validate(p *PromQL) FieldErrors {
	var fe FieldErrors
	at := func(elems ...any) []any { return elems }
	if s.Name == "" {
		fe.add(at("name"), "an SLO needs a name")
	} else if !nameRE.MatchString(s.Name) {
		fe.add(at("name"), "SLO name %q may hold only letters, digits, '_', '-' and '.'", s.Name)
	}
	if s.Objective.IsZero() {
		fe.add(at("objective"), "objective is required (percent of good events, e.g. 99.9)")
	}
	switch {
	case s.Calendar != "" && s.Window != 0:
		fe.add(at("calendar"), "set either window (rolling) or calendar, not both")
	case s.Calendar != "":
		if c := Calendar(s.Calendar); c != CalendarMonth && c != CalendarWeek {
			fe.add(at("calendar"), "calendar must be month or week, got %q", s.Calendar)
		}
	case s.Window == 0:
		fe.add(at("window"), "window is required (e.g. 28d), or calendar: month|week")
	}
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			fe.add(at("time_zone"), "unknown time zone %q", s.TimeZone)
		}
	}
	if s.MinEvents != nil && *s.MinEvents < 0 {
		fe.add(at("min_events"), "min_events must not be negative")
	}
	if k := s.Alerting.KeepFiringFor; k != nil && *k < 0 {
		fe.add(at("alerting", "keep_firing_for"), "keep_firing_for must not be negative")
	}
	if c := s.Alerting.Confidence; c != nil && (*c < 0 || *c >= 1) {
		fe.add(at("alerting", "confidence"), "confidence must be at least 0 and below 1 (e.g. 0.95), got %g", *c)
	}
	for i, l := range s.GroupBy {
		if !model.LegacyValidation.IsValidLabelName(l) {
			fe.add(at("group_by", i), "invalid label name %q", l)
		}
		if l == "engine" {
			fe.add(at("group_by", i), "engine is always summed away: an SLO is about what users of a model see, not one engine")
		}
	}
	switch {
	case s.SLI.Latency != nil && s.SLI.Ratio != nil:
		fe.add(at("sli"), "set exactly one of latency or ratio")
	case s.SLI.Latency != nil:
		l := s.SLI.Latency
		if l.Metric == "" {
			fe.add(at("sli", "latency", "metric"), "metric is required (e.g. time_to_first_token)")
		} else if !model.LegacyValidation.IsValidMetricName(l.Metric) {
			fe.add(at("sli", "latency", "metric"), "%s", badMetric(l.Metric))
		}
		if l.Threshold <= 0 {
			fe.add(at("sli", "latency", "threshold"), "threshold is required and must be positive (e.g. 1s)")
		}
		if m := l.ThresholdMode; m != "" && m != ThresholdExact && m != ThresholdInterpolate {
			fe.add(at("sli", "latency", "threshold_mode"), "threshold_mode must be exact or interpolate, got %q", m)
		}
		if l.Selector != "" {
			if _, err := CheckSelector(p, l.Selector); err != nil {
				fe.add(at("sli", "latency", "selector"), "%v", err)
			}
		}
	case s.SLI.Ratio != nil:
		r := s.SLI.Ratio
		for _, side := range []struct{ key, q string }{{"errors", r.Errors}, {"total", r.Total}} {
			if side.q == "" {
				fe.add(at("sli", "ratio", side.key), "%s is required", side.key)
				continue
			}
			if e, err := p.ParseExpr(side.q); err != nil {
				fe.add(at("sli", "ratio", side.key), "%v", err)
			} else if t := e.Type(); t != parser.ValueTypeVector {
				// sum() of it would not parse, at every evaluation.
				fe.add(at("sli", "ratio", side.key), "PromQL %q is %s: want a counter selector or an expression of instant vectors, e.g. increase(metric[5m])", side.q, valueTypeName(t))
			}
		}
	default:
		fe.add(at("sli"), "sli is required: latency {metric, threshold} or ratio {errors, total}")
	}
	fe = append(fe, CheckLabels(at("alerting", "labels"), s.Alerting.Labels)...)
	fe = append(fe, CheckLabels(at("alerting", "annotations"), s.Alerting.Annotations)...)
	return append(fe, s.validateWindows(at)...)
}

// validateWindows checks the window pairs against each other and against
// the SLO window (for a calendar SLO, its shortest period).
func (s *SLOSpec) validateWindows(at func(...any) []any) FieldErrors {
	var fe FieldErrors
	window := s.Window.D()
	if s.Calendar != "" {
		window = Calendar(s.Calendar).Shortest()
	}
	if w := s.Alerting.Windows; window > 0 && (w.Default || len(w.Explicit) == 0) {
		// The default pairs that look further back than the SLO window
		// are left out; with none left, no alert could ever fire.
		shortest := defaultWindows[0].long
		for _, d := range defaultWindows {
			shortest = min(shortest, d.long)
		}
		if window < shortest {
			fe.add(at("window"), "window %s is shorter than %s, the shortest default alerting window, so no alert could fire: use a longer window or list alerting.windows", Duration(window), Duration(shortest))
		}
	}
	for i, w := range s.Alerting.Windows.Explicit {
		wp := at("alerting", "windows", i)
		if w.Long == 0 || w.Short == 0 {
			fe.add(wp, "a window pair needs long and short")
			continue
		}
		if w.Short >= w.Long {
			fe.add(append(wp, "short"), "short window %s must be shorter than long window %s", w.Short, w.Long)
		}
		if window > 0 && w.Long.D() > window {
			fe.add(append(wp, "long"), "long window %s exceeds the SLO window %s", w.Long, Duration(window))
		}
		switch {
		case w.Factor != 0 && w.BudgetPercent != 0:
			fe.add(wp, "set factor or budget_percent, not both")
		case w.Factor < 0 || w.BudgetPercent < 0 || w.BudgetPercent > 100:
			fe.add(wp, "factor must be positive and budget_percent within (0, 100]")
		case w.Factor == 0 && w.BudgetPercent == 0:
			fe.add(wp, "set factor or budget_percent")
		}
		if w.Tier != "" && w.Tier != TierPage && w.Tier != TierTicket {
			fe.add(append(wp, "tier"), "tier must be page or ticket, got %q", w.Tier)
		}
	}
	return fe
}

// validate checks what an indicator spec says on its own; CompileIndicator
// calls it first. Paths are relative to the indicator.
func (s *IndicatorSpec) validate(p *PromQL) FieldErrors {
	var fe FieldErrors
	at := func(elems ...any) []any { return elems }
	if s.Name == "" {
		fe.add(at("name"), "an indicator needs a name")
	} else if !nameRE.MatchString(s.Name) {
		fe.add(at("name"), "indicator name %q may hold only letters, digits, '_', '-' and '.'", s.Name)
	}
	switch {
	case s.Kind == "" && s.Expr == "":
		fe.add(at("kind"), "set kind (one of %s) or expr", strings.Join(indicatorKinds, ", "))
	case s.Kind != "" && s.Expr != "":
		fe.add(at("expr"), "set kind or expr, not both")
	case s.Expr != "":
		if e, err := p.ParseExpr(s.Expr); err != nil {
			fe.add(at("expr"), "%v", err)
		} else if t := e.Type(); t == parser.ValueTypeMatrix || t == parser.ValueTypeString {
			fe.add(at("expr"), "PromQL %q is %s: an indicator fires on the series of an instant vector, e.g. max(vllm:num_requests_waiting) > 100", s.Expr, valueTypeName(t))
		}
	default:
		known := false
		for _, k := range indicatorKinds {
			known = known || k == s.Kind
		}
		if !known {
			fe.add(at("kind"), "unknown indicator kind %q (want one of %s)", s.Kind, strings.Join(indicatorKinds, ", "))
		}
		if s.Kind == KindLatencyPercentile {
			if s.Metric == "" {
				fe.add(at("metric"), "latency_percentile needs metric (e.g. time_to_first_token)")
			} else if !model.LegacyValidation.IsValidMetricName(s.Metric) {
				fe.add(at("metric"), "%s", badMetric(s.Metric))
			}
			if s.Percentile <= 0 || s.Percentile >= 100 {
				fe.add(at("percentile"), "percentile must be within (0, 100), e.g. 99")
			}
			if s.Threshold == nil {
				fe.add(at("threshold"), "latency_percentile needs threshold (e.g. 2.5s)")
			}
		}
		if s.Kind == KindSaturation && (s.MaxNumSeqs == nil || *s.MaxNumSeqs <= 0) {
			fe.add(at("max_num_seqs"), "saturation needs max_num_seqs, your engines' --max-num-seqs (vLLM does not export it)")
		}
		if s.MaxNumSeqs != nil && s.Kind != KindSaturation {
			fe.add(at("max_num_seqs"), "max_num_seqs is for kind saturation only")
		}
		if s.Depth != nil && s.Kind != KindQueueGrowth {
			fe.add(at("depth"), "depth is for kind queue_growth only")
		}
	}
	if s.Window < 0 {
		fe.add(at("window"), "window must not be negative")
	} else if s.Window > 0 && s.Window < 2*Duration(time.Second) {
		fe.add(at("window"), "window must be at least 2s")
	}
	if s.For != nil && *s.For < 0 {
		fe.add(at("for"), "for must not be negative (0s fires at once)")
	}
	if s.KeepFiringFor != nil && *s.KeepFiringFor < 0 {
		fe.add(at("keep_firing_for"), "keep_firing_for must not be negative")
	}
	if s.Alertname != "" && !model.LegacyValidation.IsValidMetricName(s.Alertname) {
		fe.add(at("alertname"), "invalid alertname %q", s.Alertname)
	}
	for i, l := range s.GroupBy {
		if !model.LegacyValidation.IsValidLabelName(l) {
			fe.add(at("group_by", i), "invalid label name %q", l)
		}
	}
	fe = append(fe, CheckLabels(at("labels"), s.Labels)...)
	fe = append(fe, CheckLabels(at("annotations"), s.Annotations)...)
	return fe
}

// budgetRat converts a budget percentage to a rational; the float came from
// YAML, so its shortest decimal form is what the user wrote.
func budgetRat(p float64) *big.Rat {
	r, _ := new(big.Rat).SetString(fmt.Sprint(p))
	return r
}
