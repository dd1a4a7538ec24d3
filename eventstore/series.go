package eventstore

import (
	"time"

	"github.com/prometheus/common/model"
)

// Point is one group's events over the interval ending at T.
type Point struct {
	T          time.Time
	Bad, Total float64
	// Width is the slot width the sum was read from: the finest the store
	// still keeps at that age.
	Width time.Duration
}

// Series returns one group's sums over the window [t−window, t) for t from
// from to to at step (t on multiples of step), and at to itself when to is
// off the grid: the history of a window as the store can tell it, for
// charts. A t the store cannot answer is left out, rather than guessed:
// before its data, after through, or where the slots kept at that age are
// too coarse for the window (a 5m window a day ago, when only 1h slots
// reach back that far). A tier answers a window if its slots are at most a
// tenth of the window (as Sum asks), or if both ends of the window fall on
// its slot boundaries, where the sum is exact whatever the width.
func (s *Store) Series(ls model.LabelSet, window time.Duration, from, to time.Time, step time.Duration) []Point {
	if window <= 0 {
		return nil
	}
	return s.series(ls, from, to, step, func(t time.Time) time.Time { return t.Add(-window) })
}

// Cumulative returns one group's sums over [start, t) for t after start up
// to to, and at to: how the events of a period came in, for a budget
// burn-down. The sums are read from the finest tier that holds start, at
// step rounded up to a whole number of its slots, so that every t ends on a
// slot boundary; a start inside a slot counts that slot by overlap, as Sum
// does for the same period.
func (s *Store) Cumulative(ls model.LabelSet, start, to time.Time, step time.Duration) []Point {
	if to.After(s.through) {
		to = s.through
	}
	g := s.groups[ls.Fingerprint()]
	if g == nil || step <= 0 || !to.After(start) {
		return nil
	}
	tier := -1
	for i := range s.tiers {
		if st := s.start(i); !st.IsZero() && !start.Before(st) {
			tier = i
			break
		}
	}
	if tier < 0 {
		return nil
	}
	w := s.tiers[tier].Width
	step = (step + w - 1) / w * w
	var out []Point
	add := func(t time.Time) {
		bad, total := g.rings[tier].sum(w, start, t, s.from[tier], s.through)
		out = append(out, Point{T: t, Bad: bad, Total: total, Width: w})
	}
	t := start.Truncate(step).Add(step)
	for ; t.Before(to); t = t.Add(step) {
		add(t)
	}
	add(to)
	return out
}

func (s *Store) series(ls model.LabelSet, from, to time.Time, step time.Duration, startOf func(time.Time) time.Time) []Point {
	if to.After(s.through) {
		to = s.through
	}
	g := s.groups[ls.Fingerprint()]
	if g == nil || step <= 0 || to.Before(from) {
		return nil
	}
	var out []Point
	add := func(t time.Time) {
		if p, ok := s.sumGroup(g, startOf(t), t); ok {
			out = append(out, p)
		}
	}
	first := from.Truncate(step)
	if first.Before(from) {
		first = first.Add(step)
	}
	for t := first; !t.After(to); t = t.Add(step) {
		add(t)
	}
	if !to.Equal(to.Truncate(step)) {
		add(to)
	}
	return out
}

// sumGroup sums one group's events over [a, b) from the finest tier that
// holds a and answers the window; ok is false if none does.
func (s *Store) sumGroup(g *group, a, b time.Time) (Point, bool) {
	if !b.After(a) || b.After(s.through) {
		return Point{}, false
	}
	for i, t := range s.tiers {
		st := s.start(i)
		if st.IsZero() || a.Before(st) {
			continue
		}
		aligned := a.Equal(a.Truncate(t.Width)) && (b.Equal(b.Truncate(t.Width)) || b.Equal(s.through))
		if i > 0 && t.Width > b.Sub(a)/resolution && !aligned {
			return Point{}, false
		}
		bad, total := g.rings[i].sum(t.Width, a, b, s.from[i], s.through)
		return Point{T: b, Bad: bad, Total: total, Width: t.Width}, true
	}
	return Point{}, false
}
