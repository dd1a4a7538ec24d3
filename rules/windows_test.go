package rules

import (
	"testing"
	"time"
)

func TestDefaultWindowsPinned(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		window  time.Duration
		factors []float64
	}{
		{30 * day, []float64{14.4, 6, 3, 1}},
		{28 * day, []float64{13.44, 5.6, 2.8, 0.9333333333333333}},
		{2 * day, []float64{0.96, 0.4, 0.2}},
	} {
		ws := DefaultWindows(tc.window, "critical", "warning")
		if len(ws) != len(tc.factors) {
			t.Fatalf("%v: %d windows, want %d", tc.window, len(ws), len(tc.factors))
		}
		for i, w := range ws {
			if w.Factor != tc.factors[i] {
				t.Errorf("%v pair %s: factor %v, want %v", tc.window, w, w.Factor, tc.factors[i])
			}
		}
	}
	ws := DefaultWindows(30*day, "critical", "warning")
	want := []struct {
		name, sev string
		tier      Tier
	}{
		{"1h/5m", "critical", TierPage},
		{"6h/30m", "critical", TierPage},
		{"1d/2h", "warning", TierTicket},
		{"3d/6h", "warning", TierTicket},
	}
	for i, w := range ws {
		if w.String() != want[i].name || w.Severity != want[i].sev || w.Tier != want[i].tier {
			t.Errorf("pair %d: %s %s %s, want %+v", i, w, w.Severity, w.Tier, want[i])
		}
	}
}
