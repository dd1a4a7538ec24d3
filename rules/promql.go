package rules

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// PromQL parses and builds queries. It wraps one parser instance because
// recent Prometheus versions no longer offer package-level parse functions.
type PromQL struct {
	p parser.Parser
}

// NewPromQL returns a PromQL with Prometheus's default parser options.
func NewPromQL() *PromQL {
	return &PromQL{p: parser.NewParser(parser.Options{})}
}

// ParseExpr parses a PromQL expression; the error names the query.
func (q *PromQL) ParseExpr(s string) (parser.Expr, error) {
	e, err := q.p.ParseExpr(s)
	if err != nil {
		return nil, fmt.Errorf("PromQL %q: %w", s, err)
	}
	return e, nil
}

// ParseSelector parses a selector such as '{job="vllm"}'; an empty string is
// no matchers at all.
func (q *PromQL) ParseSelector(s string) ([]*labels.Matcher, error) {
	if s == "" {
		return nil, nil
	}
	ms, err := q.p.ParseMetricSelector(s)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", s, err)
	}
	return ms, nil
}

// The skeletons below are parsed, then names, matchers, ranges and grouping
// are swapped in on the AST: user input never becomes query text by string
// pasting.
const (
	skelBuckets  = `sum by (le) (increase(metric[1m]))`
	skelIncrease = `sum(increase(metric[1m]))`
	skelSum      = `sum(x)`
	skelPart     = `label_replace(x, "__sentinel_part", "part", "", "")`
	skelCountLe  = `count by (le) (metric)`
)

// PartLabel tells the two halves of a ratio query apart in its result.
const PartLabel = "__sentinel_part"

// Values of PartLabel.
const (
	PartErrors = "errors"
	PartTotal  = "total"
)

func (q *PromQL) skeleton(s string) parser.Expr {
	e, err := q.p.ParseExpr(s)
	if err != nil {
		panic(fmt.Sprintf("skeleton %q does not parse: %v", s, err)) // a programming error, caught by tests
	}
	return e
}

// InjectMatchers adds ms to every vector selector in e that has no matcher
// on the same label yet, so a user's own matcher wins over the defaults.
func InjectMatchers(e parser.Expr, ms []*labels.Matcher) {
	if len(ms) == 0 {
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		have := map[string]bool{}
		for _, m := range vs.LabelMatchers {
			have[m.Name] = true
		}
		for _, m := range ms {
			if !have[m.Name] {
				vs.LabelMatchers = append(vs.LabelMatchers, m)
			}
		}
		return nil
	})
}

// SetRanges sets the range of every range selector in e to w: the range
// written in a ratio SLI's expression is a placeholder for each window.
// It returns how many range selectors it changed.
func SetRanges(e parser.Expr, w time.Duration) int {
	n := 0
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		if ms, ok := node.(*parser.MatrixSelector); ok {
			ms.Range = w
			ms.RangeExpr = nil
			n++
		}
		return nil
	})
	return n
}

// setSelector names the metric of every vector selector in e and sets its
// matchers.
func setSelector(e parser.Expr, name string, ms []*labels.Matcher) {
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			vs.Name = name
			vs.LabelMatchers = append([]*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, string(model.MetricNameLabel), name)}, ms...)
		}
		return nil
	})
}

// setGrouping sets the grouping of the outermost aggregation in e, keeping
// any labels it already groups by (le).
func setGrouping(e parser.Expr, groupBy []string) {
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if a, ok := n.(*parser.AggregateExpr); ok {
			a.Grouping = append(append([]string(nil), groupBy...), a.Grouping...)
			return errStop
		}
		return nil
	})
}

var errStop = fmt.Errorf("stop")

// replaceX swaps the placeholder selector x in skel for e.
func replaceX(skel, e parser.Expr) parser.Expr {
	parser.Inspect(skel, func(n parser.Node, _ []parser.Node) error {
		switch p := n.(type) {
		case *parser.AggregateExpr:
			if isX(p.Expr) {
				p.Expr = e
			}
		case *parser.Call:
			for i, a := range p.Args {
				if isX(a) {
					p.Args[i] = e
				}
			}
		case *parser.ParenExpr:
			if isX(p.Expr) {
				p.Expr = e
			}
		}
		return nil
	})
	return skel
}

func isX(e parser.Expr) bool {
	vs, ok := e.(*parser.VectorSelector)
	return ok && vs.Name == "x"
}

// BucketIncreases returns, per group and bucket bound, the increase of a
// classic histogram's buckets over w:
//
//	sum by (group..., le) (increase(family_bucket{sel, le=~"bounds"}[w]))
//
// les are the bound strings exactly as Prometheus stores them.
func (q *PromQL) BucketIncreases(family string, sel []*labels.Matcher, les []string, groupBy []string, w time.Duration) string {
	return q.BucketCounts(family, sel, les, groupBy, Increase(w))
}

// BucketCounts is BucketIncreases counted as c says.
func (q *PromQL) BucketCounts(family string, sel []*labels.Matcher, les []string, groupBy []string, c Count) string {
	e := q.skeleton(skelBuckets)
	ms := append([]*labels.Matcher(nil), sel...)
	if len(les) > 0 {
		ms = append(ms, labels.MustNewMatcher(labels.MatchRegexp, "le", RegexpAlternation(LeSpellings(les))))
	}
	setSelector(e, family+"_bucket", ms)
	e = c.apply(e)
	setGrouping(e, groupBy)
	return e.String()
}

// Count is how a query counts a counter's events over a span: the
// increase() over a window (resets bridged, one sample per scrape read),
// or the delta since Span ago — (x - x offset span) >= 0 — which reads two
// samples per series at any scrape interval and adds up exactly across
// consecutive spans: the event store's read of each cycle. A delta skips
// the span in which a series restarts or first appears, as increase()
// skips a series' first sample.
type Count struct {
	Span  time.Duration
	Delta bool
}

// Increase counts events with increase() over w.
func Increase(w time.Duration) Count { return Count{Span: w} }

// Delta counts events as the counters' growth since step ago.
func Delta(step time.Duration) Count { return Count{Span: step, Delta: true} }

// ErrNotIncremental is an SLI side written as a full expression: its ranges
// can be set to a window, but it has no delta form.
var ErrNotIncremental = errors.New("a full expression has no per-step delta form")

// apply sets the span of every increase() in e, or turns each into a delta.
func (c Count) apply(e parser.Expr) parser.Expr {
	if !c.Delta {
		SetRanges(e, c.Span)
		return e
	}
	delta := func(n parser.Expr) parser.Expr {
		call, ok := n.(*parser.Call)
		if !ok || call.Func.Name != "increase" {
			return n
		}
		vs := call.Args[0].(*parser.MatrixSelector).VectorSelector.(*parser.VectorSelector)
		prev := *vs
		prev.LabelMatchers = append([]*labels.Matcher(nil), vs.LabelMatchers...)
		prev.OriginalOffset = vs.OriginalOffset + c.Span
		sub := &parser.BinaryExpr{Op: parser.SUB, LHS: vs, RHS: &prev, VectorMatching: &parser.VectorMatching{Card: parser.CardOneToOne}}
		return &parser.ParenExpr{Expr: &parser.BinaryExpr{Op: parser.GTE, LHS: &parser.ParenExpr{Expr: sub}, RHS: &parser.NumberLiteral{Val: 0}}}
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if a, ok := n.(*parser.AggregateExpr); ok {
			a.Expr = delta(a.Expr)
		}
		return nil
	})
	return e
}

// BucketBounds returns a query whose result has one series per le value of
// the histogram family that exists now: `count by (le) (family_bucket{sel})`.
func (q *PromQL) BucketBounds(family string, sel []*labels.Matcher) string {
	e := q.skeleton(skelCountLe)
	setSelector(e, family+"_bucket", sel)
	return e.String()
}

// RenameVLLM rewrites every vLLM metric name in e (in any flavour) to the
// name Prometheus has, so a config written with vllm:request_success_total
// also works where a pipeline wrote vllm_request_success_total.
func RenameVLLM(e parser.Expr, names func(short string) string) {
	if names == nil {
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		short, suffix, ok := ShortNameOf(vs.Name)
		if !ok {
			return nil
		}
		vs.Name = names(short) + suffix
		for _, m := range vs.LabelMatchers {
			if m.Name == string(model.MetricNameLabel) && m.Type == labels.MatchEqual {
				*m = *labels.MustNewMatcher(labels.MatchEqual, string(model.MetricNameLabel), vs.Name)
			}
		}
		return nil
	})
}

// CounterIncrease turns one side of a ratio SLI into the sum by group of its
// increase over w. A bare selector is wrapped in increase(); a full
// expression keeps its shape and has each range set to w.
func (q *PromQL) CounterIncrease(side parser.Expr, sel []*labels.Matcher, groupBy []string, w time.Duration, names func(string) string) (parser.Expr, error) {
	return q.counterCount(side, sel, groupBy, Increase(w), names)
}

func (q *PromQL) counterCount(side parser.Expr, sel []*labels.Matcher, groupBy []string, c Count, names func(string) string) (parser.Expr, error) {
	side = parser.Expr(cloneExpr(q, side))
	RenameVLLM(side, names)
	InjectMatchers(side, sel)
	if vs, ok := side.(*parser.VectorSelector); ok {
		e := q.skeleton(skelIncrease)
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if ms, ok := n.(*parser.MatrixSelector); ok {
				ms.VectorSelector = vs
			}
			return nil
		})
		e = c.apply(e)
		setGrouping(e, groupBy)
		return e, nil
	}
	if c.Delta {
		return nil, ErrNotIncremental
	}
	w := c.Span
	if SetRanges(side, w) == 0 {
		return nil, fmt.Errorf("expression %q has no range selector: write e.g. increase(metric[5m]); its range is replaced by each window", side)
	}
	e := replaceX(q.skeleton(skelSum), side)
	setGrouping(e, groupBy)
	return e, nil
}

// RatioParts returns one query whose result holds both halves of a ratio SLI
// over w, told apart by PartLabel, so a window costs one round trip.
func (q *PromQL) RatioParts(errors, total parser.Expr, sel []*labels.Matcher, groupBy []string, w time.Duration, names func(string) string) (string, error) {
	return q.RatioCounts(errors, total, sel, groupBy, Increase(w), names)
}

// RatioCounts is RatioParts counted as c says.
func (q *PromQL) RatioCounts(errors, total parser.Expr, sel []*labels.Matcher, groupBy []string, c Count, names func(string) string) (string, error) {
	ee, err := q.counterCount(errors, sel, groupBy, c, names)
	if err != nil {
		return "", fmt.Errorf("errors: %w", err)
	}
	te, err := q.counterCount(total, sel, groupBy, c, names)
	if err != nil {
		return "", fmt.Errorf("total: %w", err)
	}
	or := &parser.BinaryExpr{
		Op:             parser.LOR,
		LHS:            q.part(ee, PartErrors),
		RHS:            q.part(te, PartTotal),
		VectorMatching: &parser.VectorMatching{Card: parser.CardManyToMany},
	}
	return or.String(), nil
}

func (q *PromQL) part(e parser.Expr, name string) parser.Expr {
	skel := q.skeleton(skelPart)
	c := skel.(*parser.Call)
	c.Args[0] = e
	c.Args[2].(*parser.StringLiteral).Val = name
	return c
}

// cloneExpr deep-copies e by printing and re-parsing it, so that building a
// query never mutates the SLO's stored expression.
func cloneExpr(q *PromQL, e parser.Expr) parser.Expr {
	c, err := q.p.ParseExpr(e.String())
	if err != nil {
		panic(fmt.Sprintf("re-parse of %q: %v", e, err))
	}
	return c
}

// RegexpAlternation matches exactly the given strings.
func RegexpAlternation(vals []string) string {
	var b strings.Builder
	for i, v := range vals {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(regexp.QuoteMeta(v))
	}
	return b.String()
}

// Probe asks what one matcher of a selector misses: Values lists the
// values its label takes on the series the other matchers select, Any
// fetches one such series to show its labels when the label is missing.
type Probe struct {
	// Name is the selector's metric name.
	Name     string
	Selector string
	Matcher  *labels.Matcher
	Values   string
	Any      string
}

// SelectorProbes returns a Probe for every label matcher of every selector
// of e, with vLLM names resolved by names and sel added, so that a selector
// that matches nothing can say why ("no series with finished_reason="error";
// seen: stop, length, abort").
func (q *PromQL) SelectorProbes(e parser.Expr, sel []*labels.Matcher, names func(string) string) []Probe {
	e = cloneExpr(q, e)
	RenameVLLM(e, names)
	InjectMatchers(e, sel)
	var out []Probe
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for i, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				continue
			}
			others := append(append([]*labels.Matcher(nil), vs.LabelMatchers[:i]...), vs.LabelMatchers[i+1:]...)
			without := &parser.VectorSelector{Name: vs.Name, LabelMatchers: others}
			values := &parser.AggregateExpr{Op: parser.COUNT, Grouping: []string{m.Name}, Expr: without}
			one := &parser.AggregateExpr{Op: parser.TOPK, Param: &parser.NumberLiteral{Val: 1}, Expr: without}
			out = append(out, Probe{Name: vs.Name, Selector: vs.String(), Matcher: m, Values: values.String(), Any: one.String()})
		}
		return nil
	})
	return out
}

// TargetsDown selects the scrape targets that served vLLM's waiting gauge
// (waiting, with sel) within lookback and now fail their scrape: one dead
// server, which is one alert, rather than every metric it took with it.
// It reads every scrape of the lookback, so the evaluator asks it only
// when AnyTargetDown finds a target down.
func (q *PromQL) TargetsDown(waiting string, sel []*labels.Matcher, lookback time.Duration) string {
	e := q.skeleton(`up == 0 and on (job, instance) max by (job, instance) (present_over_time(m[1m]))`)
	served := e.(*parser.BinaryExpr).RHS
	setSelector(served, waiting, sel)
	SetRanges(served, lookback)
	return e.String()
}

// AnyTargetDown selects the failing scrape targets, vLLM's or not, matched
// only on the selector's job and instance matchers (the labels up has):
// one sample per target, the cheap question to ask before TargetsDown.
func (q *PromQL) AnyTargetDown(sel []*labels.Matcher) string {
	e := q.skeleton(`up == 0`)
	var ms []*labels.Matcher
	for _, m := range sel {
		if m.Name == "job" || m.Name == "instance" {
			ms = append(ms, m)
		}
	}
	setSelector(e, "up", ms)
	return e.String()
}

// NativeLatencyParts is the latency SLI over w on a native histogram (one
// series per family, as Prometheus 3 stores NHCB-converted or OTLP
// histograms): its events by group as histogram_count, its bad events as
// those above threshold (histogram_fraction), told apart by PartLabel as
// RatioParts does.
func (q *PromQL) NativeLatencyParts(family string, sel []*labels.Matcher, groupBy []string, threshold float64, w time.Duration) string {
	e := q.skeleton(`label_replace(histogram_count(sum(increase(m[1m]))) - histogram_fraction(0, 1, sum(increase(m[1m]))) * histogram_count(sum(increase(m[1m]))), "` +
		PartLabel + `", "` + PartErrors + `", "", "") or label_replace(histogram_count(sum(increase(m[1m]))), "` + PartLabel + `", "` + PartTotal + `", "", "")`)
	setSelector(e, family, sel)
	SetRanges(e, w)
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.AggregateExpr: // every sum, not only the first
			n.Grouping = append([]string(nil), groupBy...)
		case *parser.Call:
			if n.Func.Name == "histogram_fraction" {
				n.Args[1].(*parser.NumberLiteral).Val = threshold
			}
		}
		return nil
	})
	return e.String()
}

// NativeBuckets selects a native histogram family's current cumulative
// histograms, summed by the SLO's groups as its SLI sums them: their
// non-empty buckets tell whether a threshold is a bucket bound.
func (q *PromQL) NativeBuckets(family string, sel []*labels.Matcher, groupBy []string) string {
	e := q.skeleton(`sum(m)`)
	setSelector(e, family, sel)
	e.(*parser.AggregateExpr).Grouping = append([]string(nil), groupBy...)
	return e.String()
}

// LeSpellings adds to each bucket bound the other spellings the same bound
// has in Prometheus: le="1" from OTLP ingestion or a Go client's text
// format, le="1.0" from vLLM's Python client or a Prometheus 3 scrape. A
// window that spans a change of spelling (a move from Prometheus 2 to 3,
// from scraping to OTLP) holds both series, one before and one after; the
// bounds found at one instant have only the current one.
func LeSpellings(les []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, le := range les {
		add(le)
		v, err := strconv.ParseFloat(le, 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			continue
		}
		g := strconv.FormatFloat(v, 'g', -1, 64)
		add(g)
		add(strconv.FormatFloat(v, 'f', -1, 64))
		if !strings.ContainsAny(g, ".e") {
			add(g + ".0")
		}
	}
	return out
}
