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
// recording and alerting rules for teams that want Prometheus to evaluate
// them.
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
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Names of the recorded series; the slo label tells SLOs apart.
const (
	RecordErrorRatio = "vllm_sentinel:slo_error_ratio"
	RecordEvents     = "vllm_sentinel:slo_events"
)

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

// ExportRules turns SLOs into a rule file: per SLO and window, the error
// ratio and the event count as recording rules, and each window pair as an
// SLOBurnRate alert with the labels the daemon gives it. Latency thresholds
// cannot be checked against the deployment's buckets offline, so every
// usual spelling of the bound is matched. Interpolated thresholds are
// refused: a rule file has no way to say "approximately".
func (q *PromQL) ExportRules(slos []*SLO, names func(string) string, interval time.Duration, external map[string]string) (*RuleFile, error) {
	if names == nil {
		names = func(s string) string { return MetricName(s, FlavourV1) }
	}
	f := &RuleFile{}
	for _, s := range slos {
		g := RuleGroup{Name: "vllm-sentinel-slo-" + s.Name, Interval: Duration(interval).String()}
		windows := append(s.QueryWindows(), s.Window)
		if s.Calendar != "" {
			return nil, fmt.Errorf("SLO %q: calendar windows cannot be exported as rules (their range changes every day)", s.Name)
		}
		sloLabel := map[string]string{"slo": s.Name}
		for _, w := range windows {
			ratio, events, err := q.exportSLI(s, names, w)
			if err != nil {
				return nil, fmt.Errorf("SLO %q: %w", s.Name, err)
			}
			g.Rules = append(g.Rules,
				Rule{Record: RecordErrorRatio + windowSuffix(w), Expr: ratio, Labels: sloLabel},
				Rule{Record: RecordEvents + windowSuffix(w), Expr: events, Labels: sloLabel})
		}
		for _, w := range s.Windows {
			g.Rules = append(g.Rules, q.exportAlert(s, w, external))
		}
		f.Groups = append(f.Groups, g)
	}
	return f, nil
}

func (q *PromQL) exportSLI(s *SLO, names func(string) string, w time.Duration) (ratio, events string, err error) {
	switch {
	case s.Latency != nil:
		if s.Latency.Interpolate {
			return "", "", fmt.Errorf("threshold_mode: interpolate cannot be exported")
		}
		family := names(s.Latency.Metric)
		good := q.fill(`sum(increase(m[1m])) > 0`, family+"_bucket", append(append([]*labels.Matcher(nil), s.Selector...),
			labels.MustNewMatcher(labels.MatchRegexp, "le", RegexpAlternation(leSpellings(s.Latency.Threshold)))), s.GroupBy, w, 0)
		total := q.fill(`sum(increase(m[1m])) > 0`, family+"_count", s.Selector, s.GroupBy, w, 0)
		goodE, totalE := good.(*parser.BinaryExpr).LHS, total.(*parser.BinaryExpr).LHS
		// 1 - good/total, matched on the group labels.
		div := &parser.BinaryExpr{Op: parser.DIV, LHS: goodE, RHS: totalE, VectorMatching: &parser.VectorMatching{Card: parser.CardOneToOne}}
		one := &parser.BinaryExpr{Op: parser.SUB, LHS: &parser.NumberLiteral{Val: 1}, RHS: &parser.ParenExpr{Expr: div}}
		return one.String(), totalE.String(), nil
	case s.Ratio != nil:
		ee, err := q.CounterIncrease(s.Ratio.Errors, s.Selector, s.GroupBy, w, names)
		if err != nil {
			return "", "", err
		}
		te, err := q.CounterIncrease(s.Ratio.Total, s.Selector, s.GroupBy, w, names)
		if err != nil {
			return "", "", err
		}
		div := &parser.BinaryExpr{Op: parser.DIV, LHS: ee, RHS: te, VectorMatching: &parser.VectorMatching{Card: parser.CardOneToOne}}
		return div.String(), te.String(), nil
	}
	return "", "", fmt.Errorf("no SLI")
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
	for k, v := range external {
		if _, ok := lbls[k]; !ok {
			lbls[k] = v
		}
	}
	value := `{{ $value | printf "%.2f" }}`
	ann := map[string]string{
		"summary": s.BurnSummary(w, "", value),
		"description": fmt.Sprintf("%s: burn rate %s over %s (fires above %s) against an objective of %s%%.",
			s.Name, value, Duration(w.Long), FormatFigure(w.Factor), s.Objective),
	}
	for k, t := range s.Annotations {
		// The daemon's annotation templates use Go template data Prometheus
		// does not have; only literal annotations carry over.
		if t.Literal() {
			ann[k] = t.Text()
		}
	}
	return Rule{Alert: AlertSLOBurnRate, Expr: expr.String(), Labels: lbls, Annotations: ann}
}

// recorded selects the series a recording rule of slo wrote.
func recorded(name, slo string) *parser.VectorSelector {
	return &parser.VectorSelector{Name: name, LabelMatchers: []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchEqual, "slo", slo),
		labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, name),
	}}
}
