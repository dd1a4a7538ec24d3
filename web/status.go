// Package web serves the sentinel's status UI: an overview of the SLOs
// and leading indicators, and a page per SLO and group with its budget and
// burn rates over the event store's history (so it shows days and survives
// restarts), its alert timeline, diagnosis and traces. Pages are rendered
// on the server with inline SVG charts: readable without JavaScript.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/diagnosis"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/eventstore"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

//go:embed templates/*.html
var files embed.FS

// Source is what the pages read; the daemon's engine provides it.
type Source interface {
	Last() *evaluator.Report
	// History is the engine's recent reports, kept in memory: the
	// indicators' recent values.
	History() []*evaluator.Report
	Alerts() []*evaluator.Alert
	Ready() bool
	SLOs() []*rules.SLO
	// WindowHistory and PeriodHistory read an SLO group's event store.
	WindowHistory(slo string, group map[string]string, window time.Duration, from, to time.Time, step time.Duration) []eventstore.Point
	PeriodHistory(slo string, group map[string]string, step time.Duration) (time.Time, []eventstore.Point)
}

// Links are the other tools a page links to; empty ones are left out.
type Links struct {
	Prometheus   string
	Alertmanager string
	Grafana      string
}

// Page renders the status pages.
type Page struct {
	overview, slo *template.Template
}

// NewPage parses the embedded templates.
func NewPage() (*Page, error) {
	funcs := template.FuncMap{
		"pct": func(p *float64) string {
			if p == nil {
				return "–"
			}
			return fmt.Sprintf("%.1f%%", *p*100)
		},
		"burn": func(p *float64) string {
			if p == nil {
				return "–"
			}
			return rules.FormatFigure(*p) + "×"
		},
		"figure":   rules.FormatFigure,
		"barWidth": func(p *float64) float64 { return math.Max(0, math.Min(100, deref(p)*100)) },
		"labels":   evaluator.GroupString,
		"utc":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" },
		"dur":      func(d time.Duration) string { return rules.Duration(d.Round(time.Second)).String() },
		"seconds":  func(v float64) string { return fmt.Sprintf("%.3gs", v) },
		"value": func(p *float64, unit string) string {
			if p == nil {
				return "–"
			}
			return diagnosis.FormatValue(*p, unit)
		},
	}
	parse := func(name string) (*template.Template, error) {
		t, err := template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/parts.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("status page template %s: %w", name, err)
		}
		return t, nil
	}
	o, err := parse("overview.html")
	if err != nil {
		return nil, err
	}
	s, err := parse("slo.html")
	if err != nil {
		return nil, err
	}
	return &Page{overview: o, slo: s}, nil
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// header is what every page shows at its top.
type header struct {
	Title   string
	Version string
	Ready   bool
	Time    time.Time
	Links   Links
}

func newHeader(src Source, version, title string, links Links) header {
	h := header{Title: title, Version: version, Ready: src.Ready(), Links: links}
	if last := src.Last(); last != nil {
		h.Time = last.Time
	}
	return h
}

type sloRow struct {
	evaluator.SLOResult
	URL        string
	Exhaustion string
	Pairs      []evaluator.FiringPair
}

type indicatorView struct {
	Name   string
	Groups []evaluator.IndicatorStatus
	Chart  template.HTML
}

type alertView struct {
	Name, State, Labels, Summary string
	Since                        time.Time
	state                        evaluator.AlertState
}

type overviewData struct {
	header
	SLOs       []sloRow
	Indicators []indicatorView
	Errors     []evaluator.EvalError
	Alerts     []alertView
}

// Render writes the overview: every SLO group, the indicators, the
// problems and the active alerts.
func (p *Page) Render(w io.Writer, src Source, version string, links Links) error {
	d := overviewData{header: newHeader(src, version, "vllm-sentinel", links)}
	if last := src.Last(); last != nil {
		d.Errors = last.Errors
		for _, r := range last.SLOs {
			d.SLOs = append(d.SLOs, newSLORow(r))
		}
		d.Indicators = indicatorViews(last, src.History())
	}
	d.Alerts = alertViews(src.Alerts(), nil)
	return p.overview.ExecuteTemplate(w, "layout", d)
}

func newSLORow(r evaluator.SLOResult) sloRow {
	r.Windows = slices.Clone(r.Windows)
	sort.SliceStable(r.Windows, func(i, j int) bool { return r.Windows[i].Window < r.Windows[j].Window })
	pairs := slices.Clone(r.Firing)
	sort.SliceStable(pairs, func(i, j int) bool {
		if pairs[i].LongWindow != pairs[j].LongWindow {
			return pairs[i].LongWindow < pairs[j].LongWindow
		}
		return pairs[i].ShortWindow < pairs[j].ShortWindow
	})
	return sloRow{SLOResult: r, URL: sloURL(r.SLO, r.Labels, ""), Exhaustion: exhaustionText(r), Pairs: pairs}
}

// exhaustionText is the forecast as a person reads it: an overspent
// budget is exhausted, not "exhausted in 0s".
func exhaustionText(r evaluator.SLOResult) string {
	switch {
	case r.Budget.Warming:
		return "warming"
	case r.BudgetRemaining != nil && *r.BudgetRemaining <= 0:
		return "exhausted"
	case r.Exhaustion != nil:
		return "in " + r.Exhaustion.String()
	case r.BudgetRemaining != nil:
		return "not at the current burn"
	}
	return "–"
}

// sloURL is the page of one SLO group: /slo/<name>?<label>=<value>…, with
// the chosen time range as range=. Query parameters sort, so a group has
// one URL.
func sloURL(name string, group map[string]string, rng string) string {
	q := url.Values{}
	for k, v := range group {
		q.Set(k, v)
	}
	if rng != "" {
		q.Set(rangeParam, rng)
	}
	u := "/slo/" + url.PathEscape(name)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// rangeParam names the page's time range. A group label of that name
// cannot be told from it: the SLO's group_by labels win.
const rangeParam = "range"

// alertViews lists the active alerts (firing first), only those whose
// labels include match when it is set.
func alertViews(alerts []*evaluator.Alert, match map[string]string) []alertView {
	var out []alertView
	for _, a := range alerts {
		if a.State == evaluator.StateInactive {
			continue
		}
		ok := true
		for k, v := range match {
			if string(a.Labels[model.LabelName(k)]) != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		ls := map[string]string{}
		for k, v := range a.Labels {
			if k != model.AlertNameLabel {
				ls[string(k)] = string(v)
			}
		}
		since := a.ActiveAt
		if a.State == evaluator.StateFiring {
			since = a.FiredAt
		}
		out = append(out, alertView{Name: string(a.Labels[model.AlertNameLabel]), State: a.State.String(),
			Labels: evaluator.GroupString(ls), Summary: string(a.Annotations["summary"]), Since: since, state: a.State})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].state > out[j].state })
	return out
}

// indicatorViews groups the indicators' results by indicator, each with a
// chart of its recent values per group from the engine's in-memory
// reports (the event store counts SLO events only).
func indicatorViews(last *evaluator.Report, hist []*evaluator.Report) []indicatorView {
	var out []indicatorView
	byName := map[string]int{}
	for _, in := range last.Indicators {
		in.Labels = in.Group()
		i, ok := byName[in.Indicator]
		if !ok {
			i = len(out)
			byName[in.Indicator] = i
			out = append(out, indicatorView{Name: in.Indicator})
		}
		out[i].Groups = append(out[i].Groups, in)
	}
	for i := range out {
		out[i].Chart = indicatorChart(out[i], hist)
	}
	return out
}

const maxIndicatorSeries = 6

func indicatorChart(v indicatorView, hist []*evaluator.Report) template.HTML {
	if len(hist) < 2 {
		return ""
	}
	c := chart{Label: v.Name + " recent values", From: hist[0].Time, To: hist[len(hist)-1].Time}
	gap := 3 * hist[len(hist)-1].Time.Sub(hist[len(hist)-2].Time)
	idx := map[string]int{}
	for _, g := range v.Groups {
		if len(c.Series) == maxIndicatorSeries {
			break
		}
		idx[evaluator.GroupString(g.Labels)] = len(c.Series)
		c.Series = append(c.Series, series{Name: evaluator.GroupString(g.Labels), Class: fmt.Sprintf("s%d", len(c.Series))})
	}
	for _, r := range hist {
		for _, in := range r.Indicators {
			if in.Indicator != v.Name {
				continue
			}
			i, ok := idx[evaluator.GroupString(in.Group())]
			if val := float64(in.Value); ok && !math.IsNaN(val) && !math.IsInf(val, 0) {
				c.Series[i].Pts = append(c.Series[i].Pts, pt{T: r.Time, V: val, Gap: gap})
			}
		}
	}
	if th := float64(v.Groups[0].Threshold); th != 0 && !math.IsNaN(th) && !math.IsInf(th, 0) {
		c.Lines = append(c.Lines, refLine{V: th, Label: "threshold " + rules.FormatFigure(th)})
	}
	return c.SVG()
}

// groupKey is a group's labels in one string, for comparing groups.
func groupKey(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q,", k, m[k])
	}
	return b.String()
}
