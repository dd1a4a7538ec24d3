package rules

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// RuleFile is a Prometheus rule file: `rules export` writes the SLOs as
// recording and alerting rules, and the indicators as alerting rules, for
// teams that want Prometheus to evaluate them.
type RuleFile struct {
	Groups []RuleGroup `yaml:"groups"`
}

// RuleGroup is one group of a rule file.
type RuleGroup struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval,omitempty"`
	Rules    []Rule `yaml:"rules"`
}

// Rule is a recording or an alerting rule.
type Rule struct {
	Record        string            `yaml:"record,omitempty"`
	Alert         string            `yaml:"alert,omitempty"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for,omitempty"`
	KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty"`
	Annotations   map[string]string `yaml:"annotations,omitempty"`
}

// Names of the recorded series; the slo label tells SLOs apart.
const (
	RecordErrorRatio = "vllm_sentinel:slo_error_ratio"
	RecordEvents     = "vllm_sentinel:slo_events"
	// RecordBadEvents and RecordTotalEvents are the base records: the bad
	// and all events of the last BaseSlot, per group, from which the long
	// windows are summed.
	RecordBadEvents   = "vllm_sentinel:slo_bad_events:increase5m"
	RecordTotalEvents = "vllm_sentinel:slo_total_events:increase5m"
)

// BaseSlot is the range of the base records and the interval of their
// group: one sample per slot, so that summing a window's samples counts
// every slot once.
const BaseSlot = 5 * time.Minute

// MaxDirectWindow is the longest window recorded straight from the raw
// series. Such a window reads at most an hour of samples per series, cheap
// next to the budget window, and stays exact and fresh: a window summed
// from base records lags by up to one slot, a twelfth of an hour, and has
// nothing to sum on a Prometheus that has just loaded the rules.
const MaxDirectWindow = time.Hour

// baseGroupSuffix names the group of an SLO's base records.
const baseGroupSuffix = "-increase5m"

func windowSuffix(w time.Duration) string { return ":rate" + Duration(w).String() }

// leSpellings are the ways a bucket bound is written: Prometheus 2 stores
// le as the exporter wrote it (1 from Go clients, 1.0 from Python ones);
// Prometheus 3 normalises to 1.0.
func leSpellings(v float64) []string {
	out := []string{strconv.FormatFloat(v, 'f', -1, 64)}
	if v == float64(int64(v)) {
		out = append(out, out[0]+".0")
	}
	return out
}

// ExportRules turns SLOs into a rule file, two groups per SLO, in the shape
// of Pyrra's performance mode:
//
//   - "vllm-sentinel-slo-NAME-increase5m", evaluated every BaseSlot,
//     records the increase of the bad events (RecordBadEvents) and of all
//     events (RecordTotalEvents) over the last slot, per group;
//   - "vllm-sentinel-slo-NAME", evaluated every interval, records per
//     window the error ratio and the event count, and holds each window
//     pair as an SLOBurnRate alert with the labels the daemon gives it.
//
// Windows up to MaxDirectWindow are computed from the raw series; longer
// ones sum the base records (sum_over_time), so a 28d window reads one
// sample per group and slot, not every scraped sample of 28 days. The sum
// is off by at most one slot at each end: at time t it covers the slots
// recorded in (t-w, t], which end up to one slot before t, and a slot lost
// to a missed evaluation or a restart is missing from every window that
// spans it. (Prometheus 2 selects [t-w, t], one more slot when a base
// sample falls exactly on t-w.) The base group is left out when no window
// needs it. A Prometheus that has just loaded the rules has base records
// only from then on, so the long windows cover that much until they fill
// up, unless the base group is backfilled (promtool tsdb
// create-blocks-from rules).
//
// Latency thresholds cannot be checked against the deployment's buckets
// offline, so every usual spelling of the bound is matched. Interpolated
// thresholds are refused: a rule file has no way to say "approximately";
// so are calendar windows, whose range changes every day. Numbers keep 12
// significant digits (see tidyGroups): a factor such as 0.9333... differs
// from the daemon's by less than a part in 10^12.
func (q *PromQL) ExportRules(slos []*SLO, names func(string) string, interval time.Duration, external map[string]string) (*RuleFile, error) {
	if names == nil {
		names = func(s string) string { return MetricName(s, FlavourV1) }
	}
	f := &RuleFile{}
	for _, s := range slos {
		if s.Calendar != "" {
			return nil, fmt.Errorf("SLO %q: calendar windows cannot be exported as rules (their range changes every day)", s.Name)
		}
		groups, err := q.exportSLO(s, names, interval, external)
		if err == nil {
			err = q.tidyGroups(groups)
		}
		if err != nil {
			return nil, fmt.Errorf("SLO %q: %w", s.Name, err)
		}
		f.Groups = append(f.Groups, groups...)
	}
	return f, nil
}

// IndicatorGroup is the name of the group that holds the indicators.
const IndicatorGroup = "vllm-sentinel-indicators"

// ExportIndicators turns the leading indicators into one group of alerting
// rules, IndicatorGroup, evaluated every interval: each alert has the
// query, labels and texts the daemon gives it, so the two page alike.
// A built-in kind's query asks itself that its condition held for "for",
// so its rule has no for of its own, only the daemon's keep_firing_for; a
// custom expression keeps its for. It returns nil for no indicators.
//
// Offline, a latency percentile is read from the classic histogram: the
// daemon switches to a native one where only that exists, an export
// cannot know. Only literal annotations carry over, as for the SLOs, and a
// percentage is written by Prometheus's humanizePercentage, four digits
// (95.12%, 80%), where the daemon writes two decimals (80.00%).
func (q *PromQL) ExportIndicators(ins []*Indicator, names func(string) string, interval time.Duration, external map[string]string) (*RuleGroup, error) {
	if len(ins) == 0 {
		return nil, nil
	}
	if names == nil {
		names = func(s string) string { return MetricName(s, FlavourV1) }
	}
	g := RuleGroup{Name: IndicatorGroup, Interval: Duration(interval).String()}
	for _, in := range ins {
		r := Rule{Alert: in.Alertname, Expr: in.Query(q, names), Labels: in.AlertLabels(nil)}
		delete(r.Labels, "alertname") // the rule's name
		addExternal(r.Labels, external)
		if f := in.PendingFor(); f > 0 {
			r.For = Duration(f).String()
		}
		if k := in.KeepFiringFor; k > 0 {
			r.KeepFiringFor = Duration(k).String()
		}
		summary, description := in.AlertText(groupTemplate, valueTemplate, `{{ $value | humanizePercentage }}`)
		r.Annotations = literalAnnotations(map[string]string{"summary": summary, "description": description}, in.Annotations)
		g.Rules = append(g.Rules, r)
	}
	if err := q.tidyGroups([]RuleGroup{g}); err != nil {
		return nil, err
	}
	return &g, nil
}

// Template actions that write in Prometheus what the daemon writes of an
// alert: its value as FormatFigure does, and its group as
// "(instance=a:8000, model_name=llama)", or "the deployment" for none.
const (
	valueTemplate = `{{ $value | printf "%.2f" }}`
	groupTemplate = `{{ if $labels }}({{ $sep := "" }}{{ range $k, $v := $labels }}{{ $sep }}{{ $k }}={{ $v }}{{ $sep = ", " }}{{ end }}){{ else }}the deployment{{ end }}`
)

// addExternal adds the external labels where ls does not set them itself,
// as the daemon does.
func addExternal(ls, external map[string]string) {
	for k, v := range external {
		if _, ok := ls[k]; !ok {
			ls[k] = v
		}
	}
}

// literalAnnotations adds to ann the user's annotations that are literal:
// the daemon's annotation templates use Go template data Prometheus does
// not have.
func literalAnnotations(ann map[string]string, tmpls map[string]*Template) map[string]string {
	for k, t := range tmpls {
		if t.Literal() {
			ann[k] = t.Text()
		}
	}
	return ann
}

// exportDigits is how many significant digits an exported number keeps:
// enough for any threshold a config states, few enough that a factor such
// as 28d/3d × 10% prints as 0.933333333333, not with float64's noise.
const exportDigits = 12

// tidyGroups re-parses every expression of groups, which also proves it
// valid PromQL, and writes each number with at most exportDigits
// significant digits, the shortest way that reads back as the same value.
func (q *PromQL) tidyGroups(groups []RuleGroup) error {
	for gi := range groups {
		for ri := range groups[gi].Rules {
			r := &groups[gi].Rules[ri]
			e, err := q.ParseExpr(r.Expr)
			if err != nil {
				return fmt.Errorf("rule %s%s: %w", r.Record, r.Alert, err)
			}
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				if n, ok := n.(*parser.NumberLiteral); ok && !n.Duration {
					n.Val = roundDigits(n.Val)
				}
				return nil
			})
			r.Expr = e.String()
		}
	}
	return nil
}

// roundDigits rounds v to exportDigits significant digits.
func roundDigits(v float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', exportDigits, 64), 64)
	if err != nil {
		return v
	}
	return r
}

// exportSLO returns the base group (if a window needs it) and the window
// and alert group of s.
func (q *PromQL) exportSLO(s *SLO, names func(string) string, interval time.Duration, external map[string]string) ([]RuleGroup, error) {
	sloLabel := map[string]string{"slo": s.Name}
	g := RuleGroup{Name: "vllm-sentinel-slo-" + s.Name, Interval: Duration(interval).String()}
	summed := false
	for _, w := range exportWindows(s) {
		var ratio, events string
		if w <= MaxDirectWindow {
			var err error
			if ratio, events, err = q.exportSLI(s, names, w); err != nil {
				return nil, err
			}
		} else {
			ratio, events = summedSLI(s, w)
			summed = true
		}
		g.Rules = append(g.Rules,
			Rule{Record: RecordErrorRatio + windowSuffix(w), Expr: ratio, Labels: sloLabel},
			Rule{Record: RecordEvents + windowSuffix(w), Expr: events, Labels: sloLabel})
	}
	for _, w := range s.Windows {
		g.Rules = append(g.Rules, q.exportAlert(s, w, external))
	}
	if !summed {
		return []RuleGroup{g}, nil
	}
	bad, total, err := q.exportBase(s, names)
	if err != nil {
		return nil, err
	}
	base := RuleGroup{Name: g.Name + baseGroupSuffix, Interval: Duration(BaseSlot).String(), Rules: []Rule{
		{Record: RecordBadEvents, Expr: bad, Labels: sloLabel},
		{Record: RecordTotalEvents, Expr: total, Labels: sloLabel},
	}}
	return []RuleGroup{base, g}, nil
}

// exportWindows lists the windows s records, shortest first, each once:
// the burn-rate windows and the budget window, which may be one of them.
func exportWindows(s *SLO) []time.Duration {
	ws := s.QueryWindows()
	for _, w := range ws {
		if w == s.Window {
			return ws
		}
	}
	return append(ws, s.Window)
}

// exportBase returns the base records' expressions: the bad events and all
// events of s over the last BaseSlot, by group. A latency SLI's bad events
// are those above the threshold bucket, total minus good, floored at zero
// because increase extrapolates each series on its own.
func (q *PromQL) exportBase(s *SLO, names func(string) string) (bad, total string, err error) {
	switch {
	case s.Latency != nil:
		if s.Latency.Interpolate {
			return "", "", fmt.Errorf("threshold_mode: interpolate cannot be exported")
		}
		goodE, totalE := q.latencyIncreases(s, names, BaseSlot)
		diff := &parser.BinaryExpr{Op: parser.SUB, LHS: totalE, RHS: goodE, VectorMatching: &parser.VectorMatching{Card: parser.CardOneToOne}}
		clamp := &parser.Call{Func: parser.Functions["clamp_min"], Args: parser.Expressions{diff, &parser.NumberLiteral{Val: 0}}}
		return clamp.String(), totalE.String(), nil
	case s.Ratio != nil:
		ee, te, err := q.ratioIncreases(s, names, BaseSlot)
		if err != nil {
			return "", "", err
		}
		return ee.String(), te.String(), nil
	}
	return "", "", fmt.Errorf("no SLI")
}

// exportSLI returns the error ratio and the event count of s over w,
// computed from the raw series.
func (q *PromQL) exportSLI(s *SLO, names func(string) string, w time.Duration) (ratio, events string, err error) {
	switch {
	case s.Latency != nil:
		if s.Latency.Interpolate {
			return "", "", fmt.Errorf("threshold_mode: interpolate cannot be exported")
		}
		goodE, totalE := q.latencyIncreases(s, names, w)
		// 1 - good/total, matched on the group labels.
		div := &parser.BinaryExpr{Op: parser.DIV, LHS: goodE, RHS: totalE, VectorMatching: &parser.VectorMatching{Card: parser.CardOneToOne}}
		one := &parser.BinaryExpr{Op: parser.SUB, LHS: &parser.NumberLiteral{Val: 1}, RHS: &parser.ParenExpr{Expr: div}}
		return one.String(), totalE.String(), nil
	case s.Ratio != nil:
		ee, te, err := q.ratioIncreases(s, names, w)
		if err != nil {
			return "", "", err
		}
		div := &parser.BinaryExpr{Op: parser.DIV, LHS: ee, RHS: te, VectorMatching: &parser.VectorMatching{Card: parser.CardOneToOne}}
		return div.String(), te.String(), nil
	}
	return "", "", fmt.Errorf("no SLI")
}

// latencyIncreases returns the increase over w, by group, of the requests
// at or below the threshold (its bucket, in every spelling of the bound)
// and of all requests (_count).
func (q *PromQL) latencyIncreases(s *SLO, names func(string) string, w time.Duration) (good, total parser.Expr) {
	family := names(s.Latency.Metric)
	goodE := q.fill(`sum(increase(m[1m])) > 0`, family+"_bucket", append(append([]*labels.Matcher(nil), s.Selector...),
		labels.MustNewMatcher(labels.MatchRegexp, "le", RegexpAlternation(leSpellings(s.Latency.Threshold)))), s.GroupBy, w, 0)
	totalE := q.fill(`sum(increase(m[1m])) > 0`, family+"_count", s.Selector, s.GroupBy, w, 0)
	return goodE.(*parser.BinaryExpr).LHS, totalE.(*parser.BinaryExpr).LHS
}

// ratioIncreases returns both sides of a ratio SLI as increases over w.
func (q *PromQL) ratioIncreases(s *SLO, names func(string) string, w time.Duration) (errs, total parser.Expr, err error) {
	if errs, err = q.CounterIncrease(s.Ratio.Errors, s.Selector, s.GroupBy, w, names); err != nil {
		return nil, nil, err
	}
	if total, err = q.CounterIncrease(s.Ratio.Total, s.Selector, s.GroupBy, w, names); err != nil {
		return nil, nil, err
	}
	return errs, total, nil
}

// summedSLI returns the error ratio and the event count of s over w as
// sums of the base records:
//
//	sum by (group...) (sum_over_time(bad{slo}[w])) / sum by (group...) (sum_over_time(total{slo}[w]))
//
// The outer sum keeps only the group labels, as the direct windows do.
func summedSLI(s *SLO, w time.Duration) (ratio, events string) {
	sum := func(record string) parser.Expr {
		over := &parser.Call{Func: parser.Functions["sum_over_time"], Args: parser.Expressions{
			&parser.MatrixSelector{VectorSelector: recorded(record, s.Name), Range: w}}}
		return &parser.AggregateExpr{Op: parser.SUM, Grouping: append([]string(nil), s.GroupBy...), Expr: over}
	}
	div := &parser.BinaryExpr{Op: parser.DIV, LHS: sum(RecordBadEvents), RHS: sum(RecordTotalEvents), VectorMatching: &parser.VectorMatching{Card: parser.CardOneToOne}}
	return div.String(), sum(RecordTotalEvents).String()
}

// exportAlert writes pair w as an alerting rule whose value is the long
// window's burn rate, so that its summary reads as the daemon's does.
func (q *PromQL) exportAlert(s *SLO, w Window, external map[string]string) Rule {
	budget := s.Objective.Budget()
	burn := func(window time.Duration) parser.Expr {
		ratio := recorded(RecordErrorRatio+windowSuffix(window), s.Name)
		over := &parser.BinaryExpr{Op: parser.DIV, LHS: ratio, RHS: &parser.NumberLiteral{Val: budget}}
		return &parser.BinaryExpr{Op: parser.GTR, LHS: over, RHS: &parser.NumberLiteral{Val: w.Factor}}
	}
	enough := &parser.BinaryExpr{Op: parser.GTE, LHS: recorded(RecordEvents+windowSuffix(w.Long), s.Name), RHS: &parser.NumberLiteral{Val: s.MinEvents}}
	expr := and(and(burn(w.Long), burn(w.Short)), enough)

	lbls := s.BurnAlertLabels(w)
	delete(lbls, "alertname") // the rule's name
	addExternal(lbls, external)
	value := valueTemplate
	ann := map[string]string{
		"summary": s.BurnSummary(w, "", value),
		"description": fmt.Sprintf("%s: burn rate %s over %s (fires above %s) against an objective of %s%%.",
			s.Name, value, Duration(w.Long), FormatFigure(w.Factor), s.Objective),
	}
	r := Rule{Alert: AlertSLOBurnRate, Expr: expr.String(), Labels: lbls, Annotations: literalAnnotations(ann, s.Annotations)}
	if k := s.KeepFiringFor(w); k > 0 {
		r.KeepFiringFor = Duration(k).String()
	}
	return r
}

// recorded selects the series a recording rule of slo wrote.
func recorded(name, slo string) *parser.VectorSelector {
	return &parser.VectorSelector{Name: name, LabelMatchers: []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchEqual, "slo", slo),
		labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, name),
	}}
}

func and(a, b parser.Expr) parser.Expr {
	return &parser.BinaryExpr{Op: parser.LAND, LHS: a, RHS: b, VectorMatching: &parser.VectorMatching{Card: parser.CardManyToMany}}
}
