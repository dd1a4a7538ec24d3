package rules

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Indicator is a compiled leading indicator: a condition over vLLM metrics
// that tends to hold before an SLO burns.
type Indicator struct {
	Name          string
	Alertname     string
	Kind          string
	Severity      string
	For           time.Duration
	KeepFiringFor time.Duration
	GroupBy       []string
	Labels        map[string]string
	// Annotations are the indicator's annotations, parsed.
	Annotations map[string]*Template
	// Metrics are the short names of the vLLM metrics the query reads;
	// an absent one is reported, never read as zero.
	Metrics []string

	threshold float64
	floor     float64
	window    time.Duration
	quantile  float64
	selector  []*labels.Matcher
	expr      parser.Expr // custom indicators
}

// Defaults of the built-in kinds, chosen so that each stays quiet on a
// healthy fleet's daily ramp and moves minutes before a TTFT SLO burns.
var indicatorDefaults = map[string]struct {
	threshold float64
	floor     float64
	window    time.Duration
	forDur    time.Duration
	metrics   []string
}{
	// Queue growing by more than 3 requests a minute, sustained, above 5 waiting.
	KindQueueGrowth: {threshold: 0.05, floor: 5, window: 2 * time.Minute, forDur: time.Minute, metrics: []string{"num_requests_waiting"}},
	// Preemptions per second: a healthy engine does not preempt at all, so
	// a few a minute already mean the KV cache is running out.
	KindPreemptionRate: {threshold: 0.05, window: 5 * time.Minute, forDur: 2 * time.Minute, metrics: []string{"num_preemptions"}},
	// KV cache usage, 0..1, of the fullest engine, above the threshold for
	// at least "for" in total over the window: usage swings with every
	// admitted and finished sequence, so a filling cache shows as peaks
	// that keep coming, and a single burst shorter than "for" never fires.
	KindKVCachePressure: {threshold: 0.9, window: 10 * time.Minute, forDur: 2 * time.Minute, metrics: []string{"kv_cache_usage_perc"}},
	// Requests waiting while none finish.
	KindQueueStall:        {floor: 0, window: 2 * time.Minute, forDur: 5 * time.Minute, metrics: []string{"num_requests_waiting", "request_success"}},
	KindLatencyPercentile: {window: 5 * time.Minute, forDur: 5 * time.Minute},
}

// CamelCase turns an indicator name (kv-cache, queue_growth) into an
// alertname (KvCache, QueueGrowth).
func CamelCase(name string) string {
	var b strings.Builder
	up := true
	for _, r := range name {
		if r == '-' || r == '_' || r == '.' || r == ' ' {
			up = true
			continue
		}
		if up {
			b.WriteRune(unicode.ToUpper(r))
			up = false
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CompileIndicator validates spec and builds the indicator: the one place
// an indicator is checked and built. Its group_by defaults to the instance
// and d.GroupBy: indicators are about one server.
func CompileIndicator(p *PromQL, spec IndicatorSpec, d Defaults) (*Indicator, error) {
	fe := spec.validate(p)
	in := &Indicator{
		Name: spec.Name, Alertname: spec.Alertname, Kind: spec.Kind, Severity: spec.Severity,
		KeepFiringFor: spec.KeepFiringFor.D(),
		Labels:        spec.Labels, Annotations: parseTemplates([]any{"annotations"}, spec.Annotations, &fe), window: spec.Window.D(),
	}
	if len(fe) > 0 {
		return nil, fmt.Errorf("indicator %q: %w", spec.Name, fe)
	}
	if in.Alertname == "" {
		in.Alertname = CamelCase(spec.Name)
	}
	if in.Severity == "" {
		in.Severity = "warning"
	}
	in.GroupBy = spec.GroupBy
	if in.GroupBy == nil {
		in.GroupBy = append([]string{"instance"}, d.GroupBy...)
	}
	// A bad vllm.selector is the loader's to report, once, at its own line.
	in.selector, _ = p.ParseSelector(d.Selector)
	def := indicatorDefaults[spec.Kind] // custom: zero, so no for unless set
	// for: 0s means at once; only a for left out takes the kind's default.
	in.For = def.forDur
	if spec.For != nil {
		in.For = spec.For.D()
	}
	if spec.Expr != "" {
		in.expr, _ = p.ParseExpr(spec.Expr)
		in.Kind = "custom"
		return in, nil
	}
	in.threshold, in.floor = def.threshold, def.floor
	if spec.Threshold != nil {
		in.threshold = float64(*spec.Threshold)
	}
	if spec.Floor != nil {
		in.floor = *spec.Floor
	}
	if in.window == 0 {
		in.window = def.window
	}
	in.Metrics = def.metrics
	if spec.Kind == KindLatencyPercentile {
		in.Metrics = []string{spec.Metric}
		in.quantile = spec.Percentile / 100
	}
	return in, nil
}

// Threshold is the level the indicator's value is compared against: for
// queue_stall, whose value is the number waiting, the floor.
func (in *Indicator) Threshold() float64 {
	if in.Kind == KindQueueStall {
		return in.floor
	}
	return in.threshold
}

// PendingFor is how long the alert stays pending before it fires: For,
// except for kv_cache_pressure, whose query already asks that usage held
// above the threshold for For: a second wait would count it twice.
func (in *Indicator) PendingFor() time.Duration {
	if in.Kind == KindKVCachePressure {
		return 0
	}
	return in.For
}

// Window is the range the indicator's rate or trend looks back over.
func (in *Indicator) Window() time.Duration { return in.window }

// Query builds the indicator's PromQL with metric names resolved by names.
// Its result holds one series per group for which the condition holds, with
// the indicator's value.
func (in *Indicator) Query(p *PromQL, names func(string) string) string {
	return in.query(p, names, false)
}

// NativeQuery is Query for an indicator whose histogram exists as a native
// histogram only: a latency percentile is read from it directly.
func (in *Indicator) NativeQuery(p *PromQL, names func(string) string) string {
	return in.query(p, names, true)
}

// NativeValueQuery is ValueQuery on a native histogram.
func (in *Indicator) NativeValueQuery(p *PromQL, names func(string) string) string {
	return in.valueOf(p, in.query(p, names, true))
}

func (in *Indicator) query(p *PromQL, names func(string) string, native bool) string {
	if in.expr != nil {
		e, err := p.p.ParseExpr(in.expr.String())
		if err != nil {
			return in.expr.String()
		}
		RenameVLLM(e, names)
		return e.String()
	}
	g := in.GroupBy
	sel := in.selector
	switch in.Kind {
	case KindQueueGrowth:
		// deriv of each engine's queue summed is the deriv of the summed
		// queue; the floor keeps a queue of 1 growing to 3 quiet.
		grow := p.fill(`sum(deriv(m[1m])) > 0`, names("num_requests_waiting"), sel, g, in.window, in.threshold)
		level := p.fill(`sum(m) > 0`, names("num_requests_waiting"), sel, g, 0, in.floor)
		return and(grow, level).String()
	case KindPreemptionRate:
		return p.fill(`sum(rate(m[1m])) > 0`, names("num_preemptions"), sel, g, in.window, in.threshold).String()
	case KindKVCachePressure:
		// The fullest engine is the one that preempts. The (1 - for/window)
		// quantile of its usage over the window is the level it stayed at
		// or above for "for" of it, in the raw samples, not in a smoothed
		// lookback.
		kv := names("kv_cache_usage_perc")
		if in.For <= 0 {
			return p.fill(`max(m) > 0`, kv, sel, g, 0, in.threshold).String()
		}
		e := p.fill(`max(quantile_over_time(0.8, m[1m])) > 0`, kv, sel, g, max(in.window, in.For), in.threshold)
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if c, ok := n.(*parser.Call); ok && c.Func.Name == "quantile_over_time" {
				c.Args[0].(*parser.NumberLiteral).Val = math.Max(0, 1-float64(in.For)/float64(max(in.window, in.For)))
			}
			return nil
		})
		return e.String()
	case KindQueueStall:
		waiting := p.fill(`sum(m) > 0`, names("num_requests_waiting"), sel, g, 0, in.floor)
		finishing := p.fill(`sum(rate(m[1m])) > 0`, names("request_success"), sel, g, in.window, 0)
		unless := &parser.BinaryExpr{Op: parser.LUNLESS, LHS: waiting, RHS: finishing,
			VectorMatching: &parser.VectorMatching{Card: parser.CardManyToMany}}
		return unless.String()
	case KindLatencyPercentile:
		e := p.skeleton(`histogram_quantile(0.99, sum by (le) (rate(m[1m]))) > 0`)
		b := e.(*parser.BinaryExpr)
		b.LHS.(*parser.Call).Args[0].(*parser.NumberLiteral).Val = in.quantile
		b.RHS.(*parser.NumberLiteral).Val = in.threshold
		series := names(in.Metrics[0]) + "_bucket"
		if native {
			series = names(in.Metrics[0])
			// histogram_quantile of a native histogram needs no le.
			setNativeGrouping(e)
		}
		setSelector(e, series, sel)
		SetRanges(e, in.window)
		setGrouping(e, g)
		return e.String()
	}
	return ""
}

// ValueQuery returns the indicator's value per group without the threshold,
// so that quiet groups are shown with their value too. Custom indicators
// have no separate value: their expression is returned.
func (in *Indicator) ValueQuery(p *PromQL, names func(string) string) string {
	return in.valueOf(p, in.Query(p, names))
}

func (in *Indicator) valueOf(p *PromQL, q string) string {
	e, err := p.p.ParseExpr(q)
	if err != nil {
		return q
	}
	if in.expr != nil {
		return q
	}
	// Every built-in query is "value > threshold", possibly combined with
	// a second condition by and/unless: the value is the leftmost operand.
	for {
		b, ok := e.(*parser.BinaryExpr)
		if !ok {
			return e.String()
		}
		e = b.LHS
	}
}

// fill parses skel (an aggregation of metric m compared with a number) and
// sets its metric, matchers, grouping, range and threshold.
func (p *PromQL) fill(skel, metric string, sel []*labels.Matcher, groupBy []string, w time.Duration, threshold float64) parser.Expr {
	e := p.skeleton(skel)
	setSelector(e, metric, sel)
	if w > 0 {
		SetRanges(e, w)
	}
	setGrouping(e, groupBy)
	e.(*parser.BinaryExpr).RHS.(*parser.NumberLiteral).Val = threshold
	return e
}

func and(a, b parser.Expr) parser.Expr {
	return &parser.BinaryExpr{Op: parser.LAND, LHS: a, RHS: b, VectorMatching: &parser.VectorMatching{Card: parser.CardManyToMany}}
}

// setNativeGrouping drops the le grouping of a classic quantile skeleton.
func setNativeGrouping(e parser.Expr) {
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if a, ok := n.(*parser.AggregateExpr); ok {
			a.Grouping = slices.DeleteFunc(a.Grouping, func(l string) bool { return l == "le" })
		}
		return nil
	})
}
