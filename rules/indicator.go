package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/common/model"
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
	depth     float64
	capacity  float64 // saturation: max_num_seqs
	window    time.Duration
	quantile  float64
	selector  []*labels.Matcher
	expr      parser.Expr // custom indicators
}

// Defaults of the built-in kinds, chosen so that each stays quiet on a
// healthy fleet's daily ramp and its bursts of a minute or two, and moves
// minutes before a TTFT SLO burns. Every built-in query carries its own
// "for": the condition must have held in the raw signal for all of it, so a
// burst shorter than "for" never fires, however long the kind's window.
var indicatorDefaults = map[string]struct {
	threshold, floor, depth float64
	window, forDur          time.Duration
	metrics                 []string
}{
	// More than 5 waiting throughout "for", and the queue rising by more
	// than 3 requests a minute over it, or never below 20.
	KindQueueGrowth: {threshold: 0.05, floor: 5, depth: 20, window: 2 * time.Minute, forDur: 2 * time.Minute, metrics: []string{"num_requests_waiting"}},
	// Preemptions per second in every minute of "for": a healthy engine
	// does not preempt at all, so a few a minute already mean the KV cache
	// is running out.
	KindPreemptionRate: {threshold: 0.05, window: time.Minute, forDur: 2 * time.Minute, metrics: []string{"num_preemptions"}},
	// KV cache usage, 0..1, of the fullest engine, above the threshold for
	// at least "for" in total over the window: usage swings with every
	// admitted and finished sequence, so a filling cache shows as peaks
	// that keep coming, and a single burst shorter than "for" never fires.
	KindKVCachePressure: {threshold: 0.9, window: 10 * time.Minute, forDur: 2 * time.Minute, metrics: []string{"kv_cache_usage_perc"}},
	// Requests waiting throughout "for" while none finished.
	KindQueueStall: {floor: 0, window: 2 * time.Minute, forDur: 5 * time.Minute, metrics: []string{"num_requests_waiting", "request_success"}},
	// The percentile of every minute of "for" above the threshold.
	KindLatencyPercentile: {window: time.Minute, forDur: 5 * time.Minute},
	// Requests' mean time in the queue above 0.1s in minutes adding up to
	// at least "for" within the last 10 (each point a tenth of the window): as load nears capacity, arrivals
	// start to wait now and then, minutes before the queue explodes; a
	// burst shorter than "for" never counts enough minutes.
	KindQueueTime: {threshold: 0.1, window: 10 * time.Minute, forDur: 2 * time.Minute, metrics: []string{"request_queue_time"}},
	// The fullest engine's running batch at 90% of max_num_seqs or more for
	// half of the last 10 minutes: load nearing the batch limit before the
	// queue explodes. vLLM does not export its limit, so the kind needs it.
	KindSaturation: {threshold: 0.9, window: 10 * time.Minute, forDur: 5 * time.Minute, metrics: []string{"num_requests_running"}},
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
		Labels: spec.Labels, Annotations: parseTemplates([]any{"annotations"}, spec.Annotations, &fe), window: spec.Window.D(),
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
	if spec.KeepFiringFor != nil {
		in.KeepFiringFor = spec.KeepFiringFor.D()
	}
	if spec.Expr != "" {
		in.expr, _ = p.ParseExpr(spec.Expr)
		in.Kind = "custom"
		return in, nil
	}
	if spec.KeepFiringFor == nil {
		// A warning that held for "for" stays for as long: one that
		// fires and resolves within a cycle or two is noise.
		in.KeepFiringFor = in.For
	}
	in.threshold, in.floor, in.depth = def.threshold, def.floor, def.depth
	if spec.Threshold != nil {
		in.threshold = float64(*spec.Threshold)
	}
	if spec.Floor != nil {
		in.floor = *spec.Floor
	}
	if spec.Depth != nil {
		in.depth = *spec.Depth
	}
	if spec.MaxNumSeqs != nil {
		in.capacity = float64(*spec.MaxNumSeqs)
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

// PendingFor is how long the alert stays pending before it fires: For for
// a custom expression; none for a built-in kind, whose query already asks
// that its condition held for For, in the raw signal: a second wait would
// count it twice, and a wait in the sentinel would start over at every
// restart and miss conditions that began before it.
func (in *Indicator) PendingFor() time.Duration {
	if in.expr != nil {
		return in.For
	}
	return 0
}

// points says how a kind that checks its condition per window holds it for
// "for": k of the windows of length step within span. preemption_rate and
// latency_percentile step by their window and need k consecutive ones;
// queue_time's means span a tenth of its window (a minute by default) and
// need k of those within it.
func (in *Indicator) points() (k int, step, span time.Duration) {
	step = in.window
	if in.Kind == KindQueueTime {
		step = max(time.Second, (in.window / 10).Truncate(time.Second))
	}
	k = heldWindows(in.For, step)
	span = time.Duration(k) * step
	if in.Kind == KindQueueTime {
		span = max(in.window, span)
	}
	return k, step, span
}

// Lookback is how far back the indicator's query reads.
func (in *Indicator) Lookback() time.Duration {
	switch in.Kind {
	case KindPreemptionRate, KindLatencyPercentile, KindQueueTime:
		_, _, span := in.points()
		return span
	}
	return max(in.window, in.For)
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
	b := builder{p: p, sel: in.selector, groupBy: in.GroupBy}
	F, W := in.For, in.window
	switch in.Kind {
	case KindQueueGrowth:
		// Each engine's minimum summed is at most the summed queue's
		// minimum: "above the floor throughout" errs towards quiet. deriv
		// of each engine's queue summed is the deriv of the summed queue.
		level := `sum(m)`
		if F > 0 {
			level = fmt.Sprintf(`sum(min_over_time(m[%s]))`, dur(F))
		}
		return b.build(fmt.Sprintf(`sum(deriv(m[%s])) > %s and %s > %s or %s > %s`,
			dur(max(W, F)), num(in.threshold), level, num(in.floor), level, num(in.depth)),
			map[string]string{"m": names("num_requests_waiting")})
	case KindPreemptionRate:
		// Preemptions per second in each window, from the counters' exact
		// differences: every sample is read once, whatever the scrape
		// interval, and a reset drops the one window it falls in.
		v := fmt.Sprintf(`sum((m - m offset %s) >= 0) / %s`, dur(W), num(W.Seconds()))
		return b.build(in.held(v), map[string]string{"m": names("num_preemptions")})
	case KindKVCachePressure:
		// The fullest engine is the one that preempts.
		return b.build(heldFraction(`max(%s)`, in.threshold, F, W), map[string]string{"m": names("kv_cache_usage_perc")})
	case KindSaturation:
		return b.build(heldFraction(`max(%s) / `+num(in.capacity), in.threshold, F, W), map[string]string{"m": names("num_requests_running")})
	case KindQueueTime:
		// Each point is the mean over a tenth of the window (a minute by
		// default), from the histogram's exact differences; a point
		// without requests is NaN and counts as quiet.
		k, step, span := in.points()
		m := names("request_queue_time")
		v := fmt.Sprintf(`sum((s - s offset %s) >= 0) / sum((c - c offset %s) >= 0)`, dur(step), dur(step))
		metrics := map[string]string{"s": m + "_sum", "c": m + "_count"}
		if native {
			// A native histogram has no _sum and _count series: its sum
			// and count over each step stand in for their differences.
			v = fmt.Sprintf(`histogram_sum(sum(increase(h[%s]))) / histogram_count(sum(increase(h[%s])))`, dur(step), dur(step))
			metrics = map[string]string{"h": m}
		}
		cond := v + " > " + num(in.threshold)
		if F == 0 {
			return b.build(cond, metrics)
		}
		return b.build(v+" and "+pointsAbove(cond, k, step, span), metrics)
	case KindQueueStall:
		if F == 0 {
			return b.build(fmt.Sprintf(`sum(m) > %s unless sum(rate(s[%s])) > 0`, num(in.floor), dur(W)),
				map[string]string{"m": names("num_requests_waiting"), "s": names("request_success")})
		}
		return b.build(fmt.Sprintf(`sum(min_over_time(m[%s])) > %s unless sum(increase(s[%s])) > 0`, dur(F), num(in.floor), dur(F)),
			map[string]string{"m": names("num_requests_waiting"), "s": names("request_success")})
	case KindLatencyPercentile:
		metric := names(in.Metrics[0])
		v := fmt.Sprintf(`histogram_quantile(%s, sum by (le) ((m - m offset %s) >= 0))`, num(in.quantile), dur(W))
		if native {
			// A native histogram has no le, and comparisons drop it:
			// its rate over the window stands in for the difference.
			v = fmt.Sprintf(`histogram_quantile(%s, sum(rate(m[%s])))`, num(in.quantile), dur(W))
		} else {
			metric += "_bucket"
		}
		return b.build(in.held(v), map[string]string{"m": metric})
	}
	return ""
}

// heldWindows is how many consecutive windows of length w a condition must
// hold in so that it held for at least f: a burst shorter than f overlaps at
// most ceil(f/w)+1 of them. Zero for f == 0: the latest window alone.
func heldWindows(f, w time.Duration) int {
	if f <= 0 {
		return 1
	}
	return int((f+w-1)/w) + 2
}

// held is "v above the threshold now and in each of the windows covering
// for": a subquery stepping by the window evaluates v once per window, so
// each sample is read once and a single window's spike is one point, not a
// lookback's worth of them.
func (in *Indicator) held(v string) string {
	cond := v + " > " + num(in.threshold)
	if in.For <= 0 {
		return cond
	}
	k, step, span := in.points()
	return cond + " and " + pointsAbove(cond, k, step, span)
}

// pointsAbove is "cond held at k or more of the points step apart within
// span". The range stops a second short of span: exactly span/step aligned
// points, whether the backend's range is closed (Prometheus 2) or
// left-open (3).
func pointsAbove(cond string, k int, step, span time.Duration) string {
	return fmt.Sprintf(`count_over_time((%s)[%s:%s]) >= %d`, cond, dur(span-time.Second), dur(step), k)
}

// heldFraction is "the gauge above threshold for at least f in total within
// max(w, f)", read from its raw samples: the (1 - f/w) quantile over the
// range is the level it stayed at or above for f of it. agg wraps the
// per-series value (its %s).
func heldFraction(agg string, threshold float64, f, w time.Duration) string {
	inner := `m`
	if f > 0 {
		span := max(w, f)
		inner = fmt.Sprintf(`quantile_over_time(%s, m[%s])`, num(math.Max(0, 1-float64(f)/float64(span))), dur(span))
	}
	return fmt.Sprintf(agg+` > %s`, inner, num(threshold))
}

// builder turns a query template, written with placeholder metrics and
// ungrouped aggregations, into the indicator's query: durations and numbers
// are formatted into the template, names, matchers and grouping are set on
// the parsed AST, so user input never becomes query text.
type builder struct {
	p       *PromQL
	sel     []*labels.Matcher
	groupBy []string
}

func (b builder) build(tmpl string, metrics map[string]string) string {
	e := b.p.skeleton(tmpl)
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			if name, ok := metrics[n.Name]; ok {
				n.Name = name
				n.LabelMatchers = append([]*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, string(model.MetricNameLabel), name)}, b.sel...)
			}
		case *parser.AggregateExpr:
			n.Grouping = append(append([]string(nil), b.groupBy...), n.Grouping...)
		}
		return nil
	})
	return e.String()
}

func dur(d time.Duration) string { return model.Duration(d).String() }

// num formats a number for a query: shortest form, without float noise.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e9)/1e9, 'g', -1, 64)
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
	// further conditions by and/or/unless: the value is the leftmost
	// operand of those, whatever arithmetic it holds itself.
	for {
		b, ok := e.(*parser.BinaryExpr)
		if !ok || !(b.Op.IsComparisonOperator() || b.Op.IsSetOperator()) {
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
