package web

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNiceTicksCoverTheRangeInRoundSteps(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   []float64
	}{
		{0, 1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{-1.64, 1, []float64{-2, -1, 0, 1}},
		{0, 16.1, []float64{0, 5, 10, 15, 20}},
		{0, 0.06, []float64{0, 0.02, 0.04, 0.06}}, {0.1, 0.7, []float64{0, 0.2, 0.4, 0.6, 0.8}},
	} {
		if got := niceTicks(tc.lo, tc.hi, 5); !slices.Equal(got, tc.want) {
			t.Errorf("niceTicks(%g, %g) = %v, want %v", tc.lo, tc.hi, got, tc.want)
		}
	}
}

// Time ticks are round times in UTC, with the date once the span crosses
// days; value ticks carry the unit; a point the store did not answer is a
// gap, not a line across it.
func TestChartAxesAndGaps(t *testing.T) {
	from := time.Date(2026, 3, 2, 22, 10, 0, 0, time.UTC)
	to := from.Add(3 * 24 * time.Hour)
	c := chart{Label: "burn", From: from, To: to, Unit: "×", Ceil: 2, Lines: []refLine{{V: 1.5, Label: "factor 1.50×"}},
		Series: []series{{Name: "1h", Class: "long", Pts: []pt{
			{T: from.Add(time.Hour), V: 1, Gap: time.Hour}, {T: from.Add(2 * time.Hour), V: 2, Gap: time.Hour},
			{T: from.Add(10 * time.Hour), V: 0.5, Gap: time.Hour},
		}}}}
	svg := string(c.SVG())
	ticks := regexp.MustCompile(`class="xtick"[^>]*>([^<]*)<`).FindAllStringSubmatch(svg, -1)
	if len(ticks) < 4 || len(ticks) > 9 {
		t.Fatalf("%d time ticks over 3 days", len(ticks))
	}
	for _, m := range ticks {
		if !regexp.MustCompile(`^Mar \d+ (00|12):00$`).MatchString(m[1]) {
			t.Errorf("time tick %q is not a round UTC time with its date", m[1])
		}
	}
	for _, want := range []string{`>0.0×<`, `>2.0×<`, `factor 1.50×`, `>UTC<`, "1h 2026-03-02 23:10: 1×"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if d := regexp.MustCompile(`<path class="line long" d="([^"]*)"`).FindStringSubmatch(svg); d == nil || strings.Count(d[1], "M") != 2 {
		t.Errorf("the 8h hole in the series is not a gap: %v", d)
	}
}
