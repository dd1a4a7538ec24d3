package eventstore

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// A window's history is exact wherever the store answers it, and the store
// answers each window as far back as slots fine enough for it reach: the
// 1h window over all 4 days (1h slots on the hour), the 5m window only over
// the 12 hours of 5m slots.
func TestSeriesIsExactWhereTheStoreAnswers(t *testing.T) {
	step := 30 * time.Second
	s := New("ttft", Tiers(step, 28*24*time.Hour))
	end := t0.Add(4 * 24 * time.Hour).Add(90 * time.Second) // through is off the grids
	evs := feed(t, s, t0, end, step, rand.New(rand.NewPCG(3, 4)))
	ls := model.LabelSet{"model_name": "b"}

	for _, tc := range []struct {
		window, step time.Duration
		from         time.Time
		// oldest is how far back the store can answer the window.
		oldest time.Duration
		points int
	}{
		{time.Hour, time.Hour, end.Add(-3 * 24 * time.Hour), 3 * 24 * time.Hour, 3*24 + 1},
		{5 * time.Minute, 5 * time.Minute, end.Add(-24 * time.Hour), 12 * time.Hour, 0},
		{6 * time.Hour, 10 * time.Minute, end.Add(-24 * time.Hour), 0, 0},
	} {
		pts := s.Series(ls, tc.window, tc.from, end, tc.step)
		if len(pts) == 0 {
			t.Fatalf("%s window: no points", tc.window)
		}
		if tc.points > 0 && len(pts) != tc.points {
			t.Errorf("%s window at %s steps: %d points, want %d", tc.window, tc.step, len(pts), tc.points)
		}
		if last := pts[len(pts)-1]; !last.T.Equal(end) {
			t.Errorf("%s window: last point at %s, want the store's end %s", tc.window, last.T, end)
		}
		if tc.oldest > 0 {
			if first := end.Sub(pts[0].T); first > tc.oldest+tc.step {
				t.Errorf("%s window: answered %s back, the store keeps fine enough slots for %s", tc.window, first, tc.oldest)
			}
			if first := end.Sub(pts[0].T); first < tc.oldest-time.Hour {
				t.Errorf("%s window: answered only %s back, want about %s", tc.window, first, tc.oldest)
			}
		}
		for i, p := range pts {
			if i > 0 && !p.T.After(pts[i-1].T) {
				t.Fatalf("%s window: points out of order at %d", tc.window, i)
			}
			bad, total := exact(evs, 1, p.T.Add(-tc.window), p.T)
			// A window whose start cuts a slot counts it by overlap, the
			// store's one approximation (see Tiers): within a slot's events.
			tol := 1e-6
			if a := p.T.Add(-tc.window); !a.Equal(a.Truncate(p.Width)) {
				tol = 0.01
			}
			if !near(p.Bad, bad, tol) || !near(p.Total, total, tol) {
				t.Errorf("%s window ending %s (from %s slots): %g of %g, want %g of %g", tc.window, p.T.Format(time.RFC3339), p.Width, p.Bad, p.Total, bad, total)
			}
		}
	}
	if pts := s.Series(model.LabelSet{"model_name": "nobody"}, time.Hour, t0, end, time.Hour); pts != nil {
		t.Errorf("unknown group: %d points", len(pts))
	}
	if pts := s.Series(ls, time.Hour, end.Add(time.Hour), end.Add(2*time.Hour), time.Hour); len(pts) != 0 {
		t.Errorf("after the store's end: %d points", len(pts))
	}
}

// A burn-down from the period's start sums [start, t) for each t, ending
// with what Sum gives for the whole period so far.
func TestCumulativeEndsAtThePeriodSum(t *testing.T) {
	step := 30 * time.Second
	s := New("ttft", Tiers(step, 7*24*time.Hour))
	end := t0.Add(5*24*time.Hour + 17*time.Minute)
	evs := feed(t, s, t0, end, step, rand.New(rand.NewPCG(5, 6)))
	ls := model.LabelSet{"model_name": "a"}
	start := t0.Add(24*time.Hour + 90*time.Minute) // inside a 6h slot
	pts := s.Cumulative(ls, start, end, 5*time.Hour)
	if want := 4*4 + 1; len(pts) != want {
		t.Fatalf("%d points, want %d", len(pts), want)
	}
	cutBad, cutTotal := exact(evs, 0, start.Truncate(6*time.Hour), start.Truncate(6*time.Hour).Add(6*time.Hour))
	prev := 0.0
	for _, p := range pts {
		if p.Width != 6*time.Hour {
			t.Fatalf("read from %s slots, want the 6h slots that hold the start", p.Width)
		}
		// The slot the start cuts counts by overlap: off by at most a part
		// of its events.
		bad, total := exact(evs, 0, start, p.T)
		if math.Abs(p.Bad-bad) > cutBad || math.Abs(p.Total-total) > cutTotal {
			t.Errorf("[start, %s): %g of %g, want %g of %g", p.T.Format(time.RFC3339), p.Bad, p.Total, bad, total)
		}
		if p.Bad < prev {
			t.Errorf("bad events fell at %s", p.T)
		}
		prev = p.Bad
	}
	groups, ok := s.Sum(start, end)
	if !ok {
		t.Fatal("the store does not hold the period")
	}
	for _, g := range groups {
		if g.Labels.Equal(ls) {
			if last := pts[len(pts)-1]; !near(last.Bad, g.Bad, 1e-6) || !near(last.Total, g.Total, 1e-6) {
				t.Errorf("last point %g of %g, Sum %g of %g", last.Bad, last.Total, g.Bad, g.Total)
			}
		}
	}
}
