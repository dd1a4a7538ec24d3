package web

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// ErrNotFound is an SLO or group the engine does not have.
var ErrNotFound = errors.New("not found")

// timeRange is one of the ranges an SLO page shows its burn rates over.
type timeRange struct {
	Name string
	D    time.Duration
	URL  string
	On   bool
}

var ranges = []struct {
	name string
	d    time.Duration
}{
	{"1h", time.Hour}, {"6h", 6 * time.Hour}, {"1d", 24 * time.Hour}, {"3d", 3 * 24 * time.Hour}, {"7d", 7 * 24 * time.Hour},
}

const defaultRange = "1d"

// chartPoints is about how many points a chart gets: enough to show an
// incident's shape, few enough for a page of several charts.
const chartPoints = 150

// stepFor is the chart step over d: a whole number of the store's slots.
func stepFor(d time.Duration) time.Duration {
	for _, s := range []time.Duration{30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute,
		time.Hour, 3 * time.Hour, 6 * time.Hour} {
		if d/s <= chartPoints {
			return s
		}
	}
	return 24 * time.Hour
}

type pairView struct {
	rules.Window
	Long, Short string
	Firing      bool
	Chart       template.HTML
	Burned      []span
	LongBurn    *float64
	ShortBurn   *float64
}

type sloData struct {
	header
	Row         sloRow
	SLO         *rules.SLO
	Window      string
	Threshold   string
	Runbook     string
	Budget      template.HTML
	BudgetStart time.Time
	Pairs       []pairView
	Ranges      []timeRange
	Range       string
	Alerts      []alertView
	Overview    string
	AMURL       string
	PromURL     string
	GrafanaURL  string
}

// RenderSLO writes the page of one SLO group. ErrNotFound says the engine
// has no such SLO or group.
func (p *Page) RenderSLO(w io.Writer, src Source, version string, links Links, name string, q url.Values) error {
	var s *rules.SLO
	for _, c := range src.SLOs() {
		if c.Name == name {
			s = c
		}
	}
	if s == nil {
		return fmt.Errorf("%w: no SLO named %q", ErrNotFound, name)
	}
	group := map[string]string{}
	for k := range q {
		if k != rangeParam || slices.Contains(s.GroupBy, k) {
			group[k] = q.Get(k)
		}
	}
	last := src.Last()
	var res *evaluator.SLOResult
	if last != nil {
		for i := range last.SLOs {
			if r := &last.SLOs[i]; r.SLO == name && groupKey(r.Labels) == groupKey(group) {
				res = r
			}
		}
	}
	if res == nil {
		return fmt.Errorf("%w: SLO %s has no group {%s} in the latest evaluation", ErrNotFound, name, evaluator.GroupString(group))
	}
	rng := q.Get(rangeParam)
	if slices.Contains(s.GroupBy, rangeParam) || rng == "" {
		rng = defaultRange
	}
	d := sloData{header: newHeader(src, version, "SLO "+name+" "+evaluator.GroupString(group), links),
		Row: newSLORow(*res), SLO: s, Window: periodText(s), Threshold: thresholdText(s), Range: rng, Overview: "/"}
	span := 24 * time.Hour
	for _, r := range ranges {
		on := r.name == rng
		if on {
			span = r.d
		}
		d.Ranges = append(d.Ranges, timeRange{Name: r.name, D: r.d, URL: sloURL(name, group, r.name), On: on})
	}
	to := last.Time
	from := to.Add(-span)
	d.Runbook = runbook(s, group, from, to)
	d.Budget, d.BudgetStart = budgetChart(src, s, group)
	for _, w := range sortedWindows(s.Windows) {
		d.Pairs = append(d.Pairs, pairChart(src, s, res, group, w, from, to))
	}
	matchLabels := map[string]string{"slo": name}
	for k, v := range group {
		matchLabels[k] = v
	}
	d.Alerts = alertViews(src.Alerts(), matchLabels)
	d.AMURL, d.PromURL, d.GrafanaURL = toolLinks(links, name, group, span)
	return p.slo.ExecuteTemplate(w, "layout", d)
}

func sortedWindows(ws []rules.Window) []rules.Window {
	out := slices.Clone(ws)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Long != out[j].Long {
			return out[i].Long < out[j].Long
		}
		return out[i].Short < out[j].Short
	})
	return out
}

func periodText(s *rules.SLO) string {
	if s.Calendar != "" {
		return "calendar " + string(s.Calendar) + " (" + s.Location.String() + ")"
	}
	return "rolling " + durationText(s.Window)
}

// durationText writes d as a config would: whole days as days (28d, not
// Prometheus's 4w).
func durationText(d time.Duration) string {
	if day := 24 * time.Hour; d >= day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return rules.Duration(d).String()
}

func thresholdText(s *rules.SLO) string {
	switch {
	case s.Latency != nil:
		t := fmt.Sprintf("%s ≤ %ss", s.Latency.Metric, strconv.FormatFloat(s.Latency.Threshold, 'g', -1, 64))
		if s.Latency.Interpolate {
			t += " (interpolated inside its bucket)"
		}
		return t
	case s.Ratio != nil:
		return "errors " + s.Ratio.Errors.String() + " of " + s.Ratio.Total.String()
	}
	return ""
}

// runbook is the SLO's runbook_url annotation, expanded as far as a page
// can: with the group's labels and the page's range as the alert window.
func runbook(s *rules.SLO, group map[string]string, from, to time.Time) string {
	t := s.Annotations["runbook_url"]
	if t == nil {
		return ""
	}
	if t.Literal() {
		return t.Text()
	}
	v, err := t.Expand(map[string]any{"Labels": group, "SLO": s.Name, "Description": s.Description,
		"Objective": s.Objective.Percent(), "From": from, "To": to})
	if err != nil {
		return ""
	}
	return v
}

// toolLinks point at this SLO group in Alertmanager (its alerts), in
// Prometheus (the sentinel's burn-rate series, when Prometheus scrapes
// the sentinel) and in Grafana.
func toolLinks(l Links, name string, group map[string]string, span time.Duration) (am, prom, grafana string) {
	matchers := fmt.Sprintf("slo=%q", name)
	for _, k := range slices.Sorted(maps.Keys(group)) {
		matchers += fmt.Sprintf(",%s=%q", k, group[k])
	}
	if l.Alertmanager != "" {
		am = l.Alertmanager + "/#/alerts?filter=" + url.QueryEscape("{"+matchers+"}")
	}
	if l.Prometheus != "" {
		q := url.Values{"g0.expr": {"vllm_sentinel_slo_burn_rate{" + matchers + "}"}, "g0.tab": {"0"},
			"g0.range_input": {rules.Duration(span).String()}}
		prom = l.Prometheus + "/graph?" + q.Encode()
	}
	return am, prom, l.Grafana
}

// budgetChart draws how the budget of the current period was spent: at
// each time, the budget left after the bad events so far, against the
// budget of every event of the period up to now. It ends at the budget
// left now and falls where incidents spent it.
func budgetChart(src Source, s *rules.SLO, group map[string]string) (template.HTML, time.Time) {
	length := s.PeriodLength()
	start, pts := src.PeriodHistory(s.Name, group, stepFor(length))
	if len(pts) == 0 {
		return "", start
	}
	final := pts[len(pts)-1]
	allowed := s.Objective.Budget() * final.Total
	c := chart{Label: "error budget left", From: start, To: final.T, Unit: "%", Floor: 0, Ceil: 1}
	ser := series{Name: "budget left", Class: "budget"}
	for _, p := range pts {
		if allowed <= 0 {
			break
		}
		ser.Pts = append(ser.Pts, pt{T: p.T, V: 1 - p.Bad/allowed, Gap: 2 * max(p.Width, stepFor(length))})
	}
	c.Series = []series{ser}
	return c.SVG(), start
}

// pairChart draws a pair's long and short burn rates over [from, to]
// from the event store, its factor as a dashed line, and shades where both
// burned above it. The shading is the burn alone: the alert also needs the
// significance bound and min_events, which the timeline's alert state
// shows.
func pairChart(src Source, s *rules.SLO, res *evaluator.SLOResult, group map[string]string, w rules.Window, from, to time.Time) pairView {
	step := stepFor(to.Sub(from))
	v := pairView{Window: w, Long: durationText(w.Long), Short: durationText(w.Short)}
	for _, f := range res.Firing {
		if f.LongWindow.D() == w.Long && f.ShortWindow.D() == w.Short {
			v.Firing = true
		}
	}
	if r := res.Window(w.Long); r != nil {
		v.LongBurn = r.BurnRate
	}
	if r := res.Window(w.Short); r != nil {
		v.ShortBurn = r.BurnRate
	}
	budget := s.Objective.Budget()
	burns := func(window time.Duration, class string) series {
		ser := series{Name: durationText(window) + " burn rate", Class: class}
		for _, p := range src.WindowHistory(s.Name, group, window, from, to, step) {
			if p.Total > 0 {
				ser.Pts = append(ser.Pts, pt{T: p.T, V: p.Bad / p.Total / budget, Gap: max(step, p.Width) + time.Second})
			}
		}
		return ser
	}
	long, short := burns(w.Long, "long"), burns(w.Short, "short")
	v.Burned = burnedSpans(long, short, w.Factor, step)
	c := chart{Label: w.String() + " burn rate", From: from, To: to, Unit: "×", Floor: 0, Ceil: w.Factor * 1.2,
		Series: []series{long, short}, Lines: []refLine{{V: w.Factor, Label: "factor " + rules.FormatFigure(w.Factor) + "×"}}, Spans: v.Burned}
	v.Chart = c.SVG()
	return v
}

// burnedSpans are the times at which both windows' burn rates exceeded
// factor, joined where consecutive.
func burnedSpans(long, short series, factor float64, step time.Duration) []span {
	shortAt := map[int64]float64{}
	for _, p := range short.Pts {
		shortAt[p.T.UnixNano()] = p.V
	}
	var out []span
	for _, p := range long.Pts {
		sv, ok := shortAt[p.T.UnixNano()]
		if !ok || p.V <= factor || sv <= factor {
			continue
		}
		if n := len(out); n > 0 && p.T.Sub(out[n-1].To) <= max(step, p.Gap) {
			out[n-1].To = p.T
			continue
		}
		out = append(out, span{From: p.T.Add(-step), To: p.T})
	}
	for i := range out {
		out[i].Label = fmt.Sprintf("both windows above the factor from %s to %s", out[i].From.UTC().Format("Jan 2 15:04"), out[i].To.UTC().Format("Jan 2 15:04"))
	}
	return out
}
