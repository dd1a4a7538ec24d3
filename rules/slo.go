package rules

import (
	"errors"
	"fmt"
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
	Window      time.Duration
	Calendar    string
	Location    *time.Location
	MinEvents   float64
	GroupBy     []string
	Windows     []Window
	Selector    []*labels.Matcher
	Latency     *LatencySLO
	Ratio       *RatioSLO
	Labels      map[string]string
	Annotations map[string]string
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

// Compile validates spec and turns it into an SLO.
func Compile(p *PromQL, spec SLOSpec, d Defaults) (*SLO, error) {
	if fes := spec.Validate(p, nil); len(fes) > 0 {
		errs := make([]error, len(fes))
		for i, fe := range fes {
			errs[i] = fe
		}
		return nil, fmt.Errorf("SLO %q: %w", spec.Name, errors.Join(errs...))
	}
	s := &SLO{
		Name:        spec.Name,
		Description: spec.Description,
		Objective:   spec.Objective,
		Window:      spec.Window.D(),
		Calendar:    spec.Calendar,
		Location:    time.UTC,
		MinEvents:   DefaultMinEvents,
		GroupBy:     d.GroupBy,
		Labels:      spec.Alerting.Labels,
		Annotations: spec.Alerting.Annotations,
	}
	if spec.TimeZone != "" {
		loc, err := time.LoadLocation(spec.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("SLO %q: time zone: %w", spec.Name, err)
		}
		s.Location = loc
	}
	if spec.MinEvents != nil {
		s.MinEvents = *spec.MinEvents
	}
	if spec.GroupBy != nil {
		s.GroupBy = spec.GroupBy
	}
	for _, g := range s.GroupBy {
		if g == "engine" {
			return nil, fmt.Errorf("SLO %q: group_by: engine is always summed away: an SLO is about what users of a model see, not one engine", spec.Name)
		}
	}
	sel, err := p.ParseSelector(d.Selector)
	if err != nil {
		return nil, fmt.Errorf("vllm.selector: %w", err)
	}
	s.Selector = sel
	switch {
	case spec.SLI.Latency != nil:
		l := spec.SLI.Latency
		own, err := p.ParseSelector(l.Selector)
		if err != nil {
			return nil, fmt.Errorf("SLO %q: %w", spec.Name, err)
		}
		// The SLI's own matchers win over vllm.selector on the same label.
		s.Selector = mergeMatchers(own, s.Selector)
		s.Latency = &LatencySLO{Metric: l.Metric, Threshold: float64(l.Threshold), Interpolate: l.ThresholdMode == ThresholdInterpolate}
	case spec.SLI.Ratio != nil:
		ee, err := p.ParseExpr(spec.SLI.Ratio.Errors)
		if err != nil {
			return nil, fmt.Errorf("SLO %q: errors: %w", spec.Name, err)
		}
		te, err := p.ParseExpr(spec.SLI.Ratio.Total)
		if err != nil {
			return nil, fmt.Errorf("SLO %q: total: %w", spec.Name, err)
		}
		for _, side := range []struct {
			name string
			e    parser.Expr
		}{{"errors", ee}, {"total", te}} {
			if err := checkRatioSide(side.e, s.GroupBy); err != nil {
				return nil, fmt.Errorf("SLO %q: sli.ratio.%s: %w", spec.Name, side.name, err)
			}
		}
		s.Ratio = &RatioSLO{Errors: ee, Total: te}
		// Check now that each side can be built, so a bad expression is a
		// config error rather than a failure at every evaluation.
		if _, err := p.RatioParts(ee, te, s.Selector, s.GroupBy, time.Hour, nil); err != nil {
			return nil, fmt.Errorf("SLO %q: %w", spec.Name, err)
		}
	}
	page, ticket := spec.Alerting.PageSeverity, spec.Alerting.TicketSeverity
	if page == "" {
		page = "critical"
	}
	if ticket == "" {
		ticket = "warning"
	}
	if spec.Alerting.Windows.Default || len(spec.Alerting.Windows.Explicit) == 0 {
		s.Windows = DefaultWindows(s.PeriodLength(), page, ticket)
	} else {
		for _, w := range spec.Alerting.Windows.Explicit {
			win := Window{Long: w.Long.D(), Short: w.Short.D(), Factor: w.Factor, Tier: w.Tier, Severity: w.Severity}
			if w.BudgetPercent != 0 {
				win.Factor = BurnFactor(budgetRat(w.BudgetPercent), s.PeriodLength(), win.Long)
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
			s.Windows = append(s.Windows, win)
		}
	}
	return s, nil
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

// PeriodLength is the length of the SLO window; for calendar SLOs a nominal
// 30 days or 7 days, which scales burn-rate factors.
func (s *SLO) PeriodLength() time.Duration {
	switch s.Calendar {
	case "month":
		return 30 * 24 * time.Hour
	case "week":
		return 7 * 24 * time.Hour
	}
	return s.Window
}

// Period returns the budget period that contains t: [t-Window, t] for a
// rolling SLO, the current calendar month or ISO week (Monday first) in the
// SLO's time zone otherwise. length is the whole period, end included.
func (s *SLO) Period(t time.Time) (start time.Time, length time.Duration) {
	lt := t.In(s.Location)
	switch s.Calendar {
	case "month":
		start = time.Date(lt.Year(), lt.Month(), 1, 0, 0, 0, 0, s.Location)
		return start, start.AddDate(0, 1, 0).Sub(start)
	case "week":
		wd := (int(lt.Weekday()) + 6) % 7 // Monday = 0
		start = time.Date(lt.Year(), lt.Month(), lt.Day()-wd, 0, 0, 0, 0, s.Location)
		return start, start.AddDate(0, 0, 7).Sub(start)
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
