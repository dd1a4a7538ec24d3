package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// chart is a time-series chart drawn as inline SVG on the server: real
// axes with times (UTC) and values with their unit, readable without
// JavaScript. Each point carries a <title>, which browsers show on hover.
type chart struct {
	Label    string
	From, To time.Time
	// Unit formats values: "%" (fractions shown as percent) or "×".
	Unit   string
	Series []series
	// Lines are horizontal references, e.g. a pair's factor.
	Lines []refLine
	// Spans are shaded intervals, e.g. where a pair burned.
	Spans []span
	// Floor and Ceil are values the value axis always includes.
	Floor, Ceil float64
}

type series struct {
	Name  string
	Class string
	Pts   []pt
}

// pt is one value at T; it is joined to the previous one only if they are
// at most Gap apart, so a time the store cannot answer shows as a gap.
type pt struct {
	T   time.Time
	V   float64
	Gap time.Duration
}

type refLine struct {
	V     float64
	Label string
}

type span struct {
	From, To time.Time
	Label    string
}

const (
	chartW, chartH                = 720.0, 200.0
	padL, padR, padTop, padBottom = 56.0, 24.0, 10.0, 34.0
)

func (c chart) SVG() template.HTML {
	lo, hi := c.Floor, c.Ceil
	for _, s := range c.Series {
		for _, p := range s.Pts {
			lo, hi = math.Min(lo, p.V), math.Max(hi, p.V)
		}
	}
	for _, l := range c.Lines {
		lo, hi = math.Min(lo, l.V), math.Max(hi, l.V)
	}
	if hi <= lo {
		hi = lo + 1
	}
	vticks := niceTicks(lo, hi, 5)
	lo, hi = math.Min(lo, vticks[0]), math.Max(hi, vticks[len(vticks)-1])
	span := c.To.Sub(c.From)
	if span <= 0 {
		span = time.Minute
	}
	x := func(t time.Time) float64 {
		return padL + (chartW-padL-padR)*float64(t.Sub(c.From))/float64(span)
	}
	y := func(v float64) float64 {
		return chartH - padBottom - (chartH-padTop-padBottom)*(v-lo)/(hi-lo)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, chartW, chartH, html.EscapeString(c.Label))
	fmt.Fprintf(&b, `<rect class="plot" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, padL, padTop, chartW-padL-padR, chartH-padTop-padBottom)
	for _, s := range c.Spans {
		x0, x1 := math.Max(padL, x(s.From)), math.Min(chartW-padR, x(s.To))
		if x1 <= x0 {
			x1 = x0 + 1
		}
		fmt.Fprintf(&b, `<rect class="span" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
			x0, padTop, x1-x0, chartH-padTop-padBottom, html.EscapeString(s.Label))
	}
	for _, v := range vticks {
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y(v), y(v))
		fmt.Fprintf(&b, `<text class="ytick" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, padL-4, y(v)+3, html.EscapeString(c.format(v, vticks)))
	}
	step, layout := timeTicks(span)
	for t := c.From.UTC().Truncate(step); !t.After(c.To); t = t.Add(step) {
		if t.Before(c.From) {
			continue
		}
		fmt.Fprintf(&b, `<line class="tick" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, x(t), x(t), chartH-padBottom, chartH-padBottom+4)
		fmt.Fprintf(&b, `<text class="xtick" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x(t), chartH-padBottom+15, t.UTC().Format(layout))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">UTC</text>`, chartW-padR, chartH-4)
	for _, l := range c.Lines {
		fmt.Fprintf(&b, `<line class="factor" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y(l.V), y(l.V))
		fmt.Fprintf(&b, `<text class="factorlabel" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, chartW-padR-2, y(l.V)-3, html.EscapeString(l.Label))
	}
	for _, s := range c.Series {
		var path []string
		for i, p := range s.Pts {
			cmd := "L"
			if i == 0 || p.T.Sub(s.Pts[i-1].T) > p.Gap {
				cmd = "M"
			}
			path = append(path, fmt.Sprintf("%s%.1f,%.1f", cmd, x(p.T), y(p.V)))
		}
		if len(path) > 0 {
			fmt.Fprintf(&b, `<path class="line %s" d="%s"><title>%s</title></path>`, s.Class, strings.Join(path, " "), html.EscapeString(s.Name))
		}
		for _, p := range s.Pts {
			fmt.Fprintf(&b, `<circle class="pt %s" cx="%.1f" cy="%.1f" r="2.5"><title>%s %s: %s</title></circle>`,
				s.Class, x(p.T), y(p.V), html.EscapeString(s.Name), p.T.UTC().Format("2006-01-02 15:04"), html.EscapeString(c.format(p.V, nil)))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text above is escaped
}

// format writes v with the chart's unit, with as many digits as the ticks
// need to be told apart.
func (c chart) format(v float64, ticks []float64) string {
	digits := 3
	if len(ticks) > 1 {
		d := math.Abs(ticks[1] - ticks[0])
		if c.Unit == "%" {
			d *= 100
		}
		digits = max(0, int(math.Ceil(-math.Log10(d)+1e-9)))
	}
	switch c.Unit {
	case "%":
		if ticks == nil {
			return strconv.FormatFloat(v*100, 'f', 2, 64) + "%"
		}
		return strconv.FormatFloat(v*100, 'f', digits, 64) + "%"
	case "×":
		if ticks == nil {
			return strconv.FormatFloat(v, 'g', 4, 64) + "×"
		}
		return strconv.FormatFloat(v, 'f', digits, 64) + "×"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// niceTicks returns about n round values (1, 2 or 5 times a power of ten)
// covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	// Multiples of step, rounded to its decimals: 3 × 0.2 is 0.6, not
	// 0.6000000000000001.
	scale := math.Pow(10, math.Max(0, 1-math.Floor(math.Log10(step))))
	var out []float64
	for k := math.Floor(lo / step); k*step <= hi+step*1e-9; k++ {
		out = append(out, math.Round(k*step*scale)/scale)
	}
	if out[len(out)-1] < hi {
		out = append(out, out[len(out)-1]+step)
	}
	return out
}

// timeTicks picks a tick interval giving 4 to 8 ticks over span, and how to
// write the times: with the date once ticks are a day or more apart or the
// span crosses days.
func timeTicks(span time.Duration) (time.Duration, string) {
	for _, s := range []time.Duration{
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
		3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour,
	} {
		if span/s <= 8 {
			switch {
			case s >= 24*time.Hour:
				return s, "Jan 2"
			case span > 24*time.Hour:
				return s, "Jan 2 15:04"
			}
			return s, "15:04"
		}
	}
	return 14 * 24 * time.Hour, "Jan 2"
}
