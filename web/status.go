// Package web renders the sentinel's status page: SLOs with their budgets
// and burn-rate charts, leading indicators, and active alerts, from the
// engine's recent evaluations.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
)

//go:embed status.html
var files embed.FS

// Source is what the page reads; the daemon's engine provides it.
type Source interface {
	Last() *evaluator.Report
	History() []*evaluator.Report
	Alerts() []*evaluator.Alert
	Ready() bool
}

// Page renders the status page.
type Page struct {
	tmpl *template.Template
}

// NewPage parses the embedded template.
func NewPage() (*Page, error) {
	t, err := template.New("status.html").Funcs(template.FuncMap{
		"pct": func(p *float64) string {
			if p == nil {
				return "–"
			}
			return fmt.Sprintf("%.1f%%", *p*100)
		},
		"num": func(p *float64) string {
			if p == nil {
				return "–"
			}
			return fmt.Sprintf("%.2f", *p)
		},
		"barWidth": func(p *float64) float64 {
			if p == nil {
				return 0
			}
			return math.Max(0, math.Min(100, *p*100))
		},
		"since": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return model.Duration(time.Since(t).Round(time.Second)).String()
		},
		"labels": evaluator.GroupString,
	}).ParseFS(files, "status.html")
	if err != nil {
		return nil, fmt.Errorf("status page template: %w", err)
	}
	return &Page{tmpl: t}, nil
}

type sloView struct {
	evaluator.SLOResult
	Chart template.HTML
}

type alertView struct {
	Name, State, Labels, Summary string
	Since                        time.Time
	state                        evaluator.AlertState
}

type pageData struct {
	Version    string
	Ready      bool
	Time       time.Time
	SLOs       []sloView
	Indicators []evaluator.IndicatorStatus
	Errors     []evaluator.EvalError
	Alerts     []alertView
}

// Render writes the page for src.
func (p *Page) Render(w io.Writer, src Source, version string) error {
	d := pageData{Version: version, Ready: src.Ready()}
	if last := src.Last(); last != nil {
		d.Time = last.Time
		for _, in := range last.Indicators {
			// The indicator has its own column.
			in.Labels = in.Group()
			d.Indicators = append(d.Indicators, in)
		}
		d.Errors = last.Errors
		hist := src.History()
		for _, r := range last.SLOs {
			d.SLOs = append(d.SLOs, sloView{SLOResult: r, Chart: burnChart(hist, r)})
		}
	}
	for _, a := range src.Alerts() {
		if a.State == evaluator.StateInactive {
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
		d.Alerts = append(d.Alerts, alertView{Name: string(a.Labels[model.AlertNameLabel]), State: a.State.String(),
			Labels: evaluator.GroupString(ls), Summary: string(a.Annotations["summary"]), Since: since, state: a.State})
	}
	// Firing first, then pending.
	sort.SliceStable(d.Alerts, func(i, j int) bool { return d.Alerts[i].state > d.Alerts[j].state })
	return p.tmpl.Execute(w, d)
}

// burnChart draws the 1h and 5m burn rates of one SLO group over the kept
// history as an inline SVG, with the page factor as a dashed line.
func burnChart(hist []*evaluator.Report, cur evaluator.SLOResult) template.HTML {
	const width, height = 320.0, 60.0
	key := evaluator.GroupString(cur.Labels)
	series := map[time.Duration][]float64{time.Hour: nil, 5 * time.Minute: nil}
	for _, res := range hist {
		for _, r := range res.SLOs {
			if r.SLO != cur.SLO || evaluator.GroupString(r.Labels) != key {
				continue
			}
			for w := range series {
				v := math.NaN()
				if wr := r.Window(w); wr != nil && wr.BurnRate != nil {
					v = *wr.BurnRate
				}
				series[w] = append(series[w], v)
			}
		}
	}
	top := 1.0
	for _, vs := range series {
		for _, v := range vs {
			if !math.IsNaN(v) {
				top = math.Max(top, v)
			}
		}
	}
	var factor float64
	for _, f := range cur.Firing {
		factor = math.Max(factor, f.Factor)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="burn rate">`, width, height, width, height)
	y := func(v float64) float64 { return height - 2 - (height-4)*v/top }
	if factor > 0 && factor <= top {
		fmt.Fprintf(&b, `<line x1="0" x2="%.0f" y1="%.1f" y2="%.1f" class="factor"/>`, width, y(factor), y(factor))
	}
	for w, class := range map[time.Duration]string{time.Hour: "long", 5 * time.Minute: "short"} {
		vs := series[w]
		if len(vs) < 2 {
			continue
		}
		var pts []string
		for i, v := range vs {
			if math.IsNaN(v) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", width*float64(i)/float64(len(vs)-1), y(v)))
		}
		fmt.Fprintf(&b, `<polyline points="%s" class="%s"/>`, strings.Join(pts, " "), class)
	}
	fmt.Fprintf(&b, `<text x="2" y="10">max %.1f</text></svg>`, top)
	return template.HTML(b.String()) // built from numbers only
}
