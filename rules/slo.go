package rules

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// DefaultMinEvents is how many events a long window needs before its pair
// may fire when an SLO does not say: one slow request out of three is not a
// reason to wake someone.
const DefaultMinEvents = 10

// DefaultConfidence is how sure a window pair must be that both windows
// burn above its factor before it fires.
const DefaultConfidence = 0.95

// WilsonLower is the lower bound of the Wilson score interval of bad
// events out of n at the one-sided normal quantile z: the error ratio the
// window holds with that confidence. With z = 0 it is bad/n. A handful of
// events, one of them bad, bounds the ratio barely above zero; the same
// ratio over thousands of events bounds it close to the observed one.
func WilsonLower(bad, n, z float64) float64 {
	if n <= 0 {
		return 0
	}
	p := math.Min(1, math.Max(0, bad/n))
	if z <= 0 {
		return p
	}
	z2 := z * z
	centre := p + z2/(2*n)
	margin := z * math.Sqrt(p*(1-p)/n+z2/(4*n*n))
	return math.Max(0, (centre-margin)/(1+z2/n))
}

// Defaults are the settings an SLO inherits from the vllm section.
type Defaults struct {
	Selector string
	GroupBy  []string
}

// SLO is a validated, compiled SLO ready to evaluate.
type SLO struct {
	Name        string
	Description string
	Objective   Objective
	// Window is the rolling window; zero for calendar SLOs.
	Window    time.Duration
	Calendar  Calendar
	Location  *time.Location
	MinEvents float64
	// Z is the one-sided normal quantile of alerting.confidence: a pair
	// fires when the Wilson lower bound of each window's error ratio,
	// at Z, exceeds its threshold. 0 compares the observed ratios.
	Z float64
	// keepFiringFor is alerting.keep_firing_for; nil damps each pair for
	// its short window.
	keepFiringFor *time.Duration
	GroupBy       []string
	Windows       []Window
	Selector      []*labels.Matcher
	Latency       *LatencySLO
	Ratio         *RatioSLO
	Labels        map[string]string
	// Annotations are the alerting.annotations, parsed.
	Annotations map[string]*Template
}

// LatencySLO counts requests at or below Threshold seconds as good.
type LatencySLO struct {
	// Metric is the short name (time_to_first_token) or the full family name.
	Metric      string
	Threshold   float64
	Interpolate bool
}

// RatioSLO divides Errors by Total.
type RatioSLO struct {
	Errors parser.Expr
	Total  parser.Expr
}

// Compile validates spec and turns it into an SLO: the one place an SLO is
// checked and built. Every problem is reported; errors.As finds them as
// FieldErrors with paths relative to the SLO.
func Compile(p *PromQL, spec SLOSpec, d Defaults) (*SLO, error) {
	fe := spec.validate(p)
	s := &SLO{
		Name:        spec.Name,
		Description: spec.Description,
		Objective:   spec.Objective,
		Window:      spec.Window.D(),
		Calendar:    Calendar(spec.Calendar),
		Location:    time.UTC,
		MinEvents:   DefaultMinEvents,
		GroupBy:     d.GroupBy,
		Labels:      spec.Alerting.Labels,
		Annotations: parseTemplates([]any{"alerting", "annotations"}, spec.Alerting.Annotations, &fe),
	}
	if spec.TimeZone != "" {
		if loc, err := time.LoadLocation(spec.TimeZone); err == nil {
			s.Location = loc
		}
	}
	if spec.MinEvents != nil {
		s.MinEvents = *spec.MinEvents
	}
	if k := spec.Alerting.KeepFiringFor; k != nil {
		d := k.D()
		s.keepFiringFor = &d
	}
	confidence := DefaultConfidence
	if spec.Alerting.Confidence != nil {
		confidence = *spec.Alerting.Confidence
	}
	if confidence > 0 && confidence < 1 {
		s.Z = math.Sqrt2 * math.Erfinv(2*confidence-1)
	}
	if spec.GroupBy != nil {
		s.GroupBy = spec.GroupBy
	}
	// A bad vllm.selector is the loader's to report, once, at its own line.
	s.Selector, _ = p.ParseSelector(d.Selector)
	switch {
	case len(fe) > 0:
	case spec.SLI.Latency != nil:
		l := spec.SLI.Latency
		own, _ := p.ParseSelector(l.Selector)
		// The SLI's own matchers win over vllm.selector on the same label.
		s.Selector = mergeMatchers(own, s.Selector)
		s.Latency = &LatencySLO{Metric: l.Metric, Threshold: float64(l.Threshold), Interpolate: l.ThresholdMode == ThresholdInterpolate}
	case spec.SLI.Ratio != nil:
		ee, _ := p.ParseExpr(spec.SLI.Ratio.Errors)
		te, _ := p.ParseExpr(spec.SLI.Ratio.Total)
		for _, side := range []struct {
			name string
			e    parser.Expr
		}{{"errors", ee}, {"total", te}} {
			if err := checkRatioSide(side.e, s.GroupBy); err != nil {
				fe.add([]any{"sli", "ratio", side.name}, "%v", err)
			}
		}
		s.Ratio = &RatioSLO{Errors: ee, Total: te}
		// Check now that each side can be built, so a bad expression is a
		// config error rather than a failure at every evaluation.
		if _, err := p.RatioParts(ee, te, s.Selector, s.GroupBy, time.Hour, nil); err != nil {
			fe.add([]any{"sli", "ratio"}, "%v", err)
		}
	}
	if len(fe) > 0 {
		return nil, fmt.Errorf("SLO %q: %w", spec.Name, fe)
	}
	s.Windows = compileWindows(spec.Alerting, s.PeriodLength())
	return s, nil
}

// compileWindows applies the severities and tiers to the window pairs: the
// workbook table scaled to the period, or the explicit list.
func compileWindows(a AlertingSpec, period time.Duration) []Window {
	page, ticket := a.PageSeverity, a.TicketSeverity
	if page == "" {
		page = "critical"
	}
	if ticket == "" {
		ticket = "warning"
	}
	if a.Windows.Default || len(a.Windows.Explicit) == 0 {
		return DefaultWindows(period, page, ticket)
	}
	var out []Window
	for _, w := range a.Windows.Explicit {
		win := Window{Long: w.Long.D(), Short: w.Short.D(), Factor: w.Factor, Tier: w.Tier, Severity: w.Severity}
		if w.BudgetPercent != 0 {
			win.Factor = BurnFactor(budgetRat(w.BudgetPercent), period, win.Long)
		}
		if win.Tier == "" {
			win.Tier = TierTicket
			if win.Severity == page {
				win.Tier = TierPage
			}
		}
		if win.Severity == "" {
			win.Severity = ticket
			if win.Tier == TierPage {
				win.Severity = page
			}
		}
		out = append(out, win)
	}
	return out
}

// mergeMatchers returns first plus the matchers of second on labels first
// does not constrain.
func mergeMatchers(first, second []*labels.Matcher) []*labels.Matcher {
	have := map[string]bool{}
	for _, m := range first {
		have[m.Name] = true
	}
	out := append([]*labels.Matcher(nil), first...)
	for _, m := range second {
		if !have[m.Name] {
			out = append(out, m)
		}
	}
	return out
}

// checkRatioSide refuses expressions whose results would be wrong without
// an error: rate() counts per second, so min_events would compare requests
// per second with a number of requests; an aggregation that drops a
// group_by label merges the groups the SLO reports on.
func checkRatioSide(e parser.Expr, groupBy []string) error {
	var err error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if c, ok := n.(*parser.Call); ok && (c.Func.Name == "rate" || c.Func.Name == "irate") {
			err = fmt.Errorf("%s() gives events per second, but burn rates and min_events need event counts: write increase(...) (its range is replaced by each window)", c.Func.Name)
		}
		return err
	})
	if err != nil {
		return err
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		a, ok := n.(*parser.AggregateExpr)
		if !ok {
			return nil
		}
		for _, g := range groupBy {
			if slices.Contains(a.Grouping, g) != a.Without {
				continue
			}
			how := fmt.Sprintf("%s by (%s)", a.Op, strings.Join(a.Grouping, ", "))
			if a.Without {
				how = fmt.Sprintf("%s without (%s)", a.Op, strings.Join(a.Grouping, ", "))
			} else if len(a.Grouping) == 0 {
				how = a.Op.String() + "(...)"
			}
			err = fmt.Errorf("%s drops %s, which the SLO groups by (vllm.group_by or the SLO's group_by): keep it, or leave the aggregation to the sentinel", how, g)
		}
		return err
	})
	return err
}

// CheckStep refuses an evaluation step longer than an SLO's shortest
// window: the event store counts events step by step, and a window
// shorter than one step cannot be told from it.
func CheckStep(slos []*SLO, step time.Duration) error {
	for _, s := range slos {
		for _, w := range s.QueryWindows() {
			if w < step {
				return fmt.Errorf("%s is longer than the %s window of SLO %q: a window shorter than one evaluation cannot be counted; evaluate at least every %s",
					Duration(step), Duration(w), s.Name, Duration(w))
			}
		}
	}
	return nil
}

// KeepFiringFor is how long pair w keeps firing after its burn stops, so
// that an oscillating incident is one page: alerting.keep_firing_for, or
// the pair's short window.
func (s *SLO) KeepFiringFor(w Window) time.Duration {
	if s.keepFiringFor != nil {
		return *s.keepFiringFor
	}
	return w.Short
}

// PeriodLength is the length of the SLO window; for calendar SLOs the
// nominal length, which scales burn-rate factors.
func (s *SLO) PeriodLength() time.Duration {
	if s.Calendar != "" {
		return s.Calendar.Nominal()
	}
	return s.Window
}

// Period returns the budget period that contains t: [t-Window, t] for a
// rolling SLO, the current calendar month or ISO week in the SLO's time zone
// otherwise. length is the whole period, end included.
func (s *SLO) Period(t time.Time) (start time.Time, length time.Duration) {
	if s.Calendar != "" {
		return s.Calendar.Period(t, s.Location)
	}
	return t.Add(-s.Window), s.Window
}

// QueryWindows lists the distinct windows an evaluation needs, shortest
// first, without the budget window.
func (s *SLO) QueryWindows() []time.Duration {
	seen := map[time.Duration]bool{}
	var out []time.Duration
	for _, w := range s.Windows {
		for _, d := range []time.Duration{w.Short, w.Long} {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	if !seen[time.Hour] {
		// The 1h burn rate drives the exhaustion forecast.
		out = append(out, time.Hour)
	}
	sortDurations(out)
	return out
}

func sortDurations(ds []time.Duration) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j] < ds[j-1]; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}
