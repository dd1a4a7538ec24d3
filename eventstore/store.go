// Package eventstore keeps an SLO's good and total event counts per group
// in time slots, so that every window — 5m to 90d, calendar months — is a
// sum over memory rather than a query that re-reads the window's samples.
//
// A store has tiers of slots, finest first: the finest is the evaluation
// step and holds the last hour, 5m slots hold the last day, 1h slots the
// rest of the retention. Every addition goes to each tier whose slot is at
// least as wide as the interval it covers; a window is summed from the
// finest tier that still holds its start. A slot cut by the window's start
// counts in proportion to the overlap, as if its events were spread evenly:
// that is the store's only approximation (see Tiers).
package eventstore

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"
)

// Tier is one resolution of a store: slots of Width, kept for Span.
type Tier struct {
	Width time.Duration
	Span  time.Duration
}

// slots is how many slots the tier's ring has: its span and the slot being
// filled.
func (t Tier) slots() int { return int(t.Span/t.Width) + 1 }

// Tiers returns the layout for a store fed every fine and kept for
// retention: fine slots for the last hour (windows up to 1h), 5m slots for
// the last 12 hours (2h, 6h), 1h slots for the last 3 days (1d, 3d) and 6h
// slots for the rest (28d, 90d, calendar periods). A window's start falls
// inside a slot of the tier it is summed from; with events spread evenly
// in that slot the sum is exact, and at worst it is off by the events of
// that one slot. At a thousand groups the slots are most of the daemon's
// memory: 452 slots, 3.6 kB, per group of a 28d SLO.
func Tiers(fine, retention time.Duration) []Tier {
	const (
		fineSpan   = time.Hour
		mediumSpan = 12 * time.Hour
		hourSpan   = 3 * 24 * time.Hour
	)
	if fine <= 0 {
		fine = 30 * time.Second
	}
	var out []Tier
	if fine < 5*time.Minute {
		out = append(out, Tier{Width: fine, Span: fineSpan.Truncate(fine) + fine})
	}
	if fine <= 5*time.Minute {
		out = append(out, Tier{Width: 5 * time.Minute, Span: mediumSpan})
	}
	if retention <= hourSpan {
		return append(out, Tier{Width: time.Hour, Span: max(retention, mediumSpan).Truncate(time.Hour) + time.Hour})
	}
	return append(out, Tier{Width: time.Hour, Span: hourSpan + time.Hour},
		Tier{Width: 6 * time.Hour, Span: retention.Truncate(6*time.Hour) + 6*time.Hour})
}

// Store holds the events of one SLO. It is not safe for concurrent use;
// its owner evaluates one cycle at a time.
type Store struct {
	id    string
	tiers []Tier
	// through is the end of the newest interval added: the store holds
	// every event up to it.
	through time.Time
	// from is, per tier, the start of the oldest interval the tier holds
	// at its own resolution; zero before any.
	from      []time.Time
	groups    map[model.Fingerprint]*group
	maxGroups int
	// marks are times the owner notes beside the counts (when a ratio
	// SLI's errors side last had a series), kept with them.
	marks map[string]time.Time
	// refused counts the groups not kept because the store was full.
	refused int
}

// group is one group's rings, one per tier.
type group struct {
	labels model.LabelSet
	rings  []ring
	// seen is the end of the newest interval added for the group, events
	// or not: a group whose series exist without traffic is kept (and
	// reported as no data); one not seen for the whole retention is dropped.
	seen time.Time
}

// ring is one tier of one group: slot k (the interval [k·w, (k+1)·w)) is at
// index k mod len. newest is the newest slot number written.
type ring struct {
	newest     int64
	bad, total []float32
}

// DefaultMaxGroups bounds the groups of one store: each costs about 9 kB
// for a 28d SLO at a 30s step, so a selector that groups by request ID
// cannot fill the memory.
const DefaultMaxGroups = 20000

// New returns an empty store. id names what it counts (the SLO and its
// SLI): a store read back under another id is not the SLO's any more.
func New(id string, tiers []Tier) *Store {
	return &Store{id: id, tiers: tiers, from: make([]time.Time, len(tiers)), groups: map[model.Fingerprint]*group{}, maxGroups: DefaultMaxGroups, marks: map[string]time.Time{}}
}

// Mark notes that name happened at t; the newest time is kept.
func (s *Store) Mark(name string, t time.Time) {
	if t.After(s.marks[name]) {
		s.marks[name] = t
	}
}

// Marked is the newest time name was marked; zero if never.
func (s *Store) Marked(name string) time.Time { return s.marks[name] }

// ID is what the store counts.
func (s *Store) ID() string { return s.id }

// Tiers is the store's layout.
func (s *Store) Tiers() []Tier { return s.tiers }

// Through is the end of the newest interval added; zero for an empty store.
func (s *Store) Through() time.Time { return s.through }

// Refused is how many groups were not kept because the store was full.
func (s *Store) Refused() int { return s.refused }

// Add records bad and total events of group ls over [from, to). Each tier
// whose slots are at least as wide as the interval takes it, split across
// the slots it spans in proportion to time. An interval older than a tier's
// span is not kept by that tier.
func (s *Store) Add(ls model.LabelSet, from, to time.Time, bad, total float64) error {
	if !to.After(from) {
		return fmt.Errorf("event interval [%s, %s) is empty", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	if !finite(bad) || !finite(total) || bad < 0 || total < 0 {
		return fmt.Errorf("events of %s over [%s, %s): bad %g of %g is not a count", ls, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), bad, total)
	}
	fp := ls.Fingerprint()
	g := s.groups[fp]
	if g == nil {
		if len(s.groups) >= s.maxGroups {
			s.refused++
			return fmt.Errorf("store %s is full (%d groups): events of %s are not kept; group by fewer labels", s.id, s.maxGroups, ls)
		}
		g = &group{labels: ls.Clone(), rings: newRings(s.tiers)}
		s.groups[fp] = g
	}
	if to.After(g.seen) {
		g.seen = to
	}
	for i, t := range s.tiers {
		if to.Sub(from) > t.Width {
			continue
		}
		g.rings[i].add(t.Width, from, to, bad, total)
	}
	return nil
}

// Extend says that the store now holds every event of [from, through):
// through moves forward, and each tier that took intervals of this
// resolution (res) is covered back to from.
func (s *Store) Extend(from, through time.Time, res time.Duration) {
	if through.After(s.through) {
		s.through = through
	}
	for i, t := range s.tiers {
		if res <= t.Width && (s.from[i].IsZero() || from.Before(s.from[i])) {
			s.from[i] = from
		}
	}
}

// CoveredAt is the oldest time from which the finest tier whose slots are
// at least res wide holds every event: where a backfill at resolution res
// has reached.
func (s *Store) CoveredAt(res time.Duration) time.Time {
	for i, t := range s.tiers {
		if t.Width >= res {
			return s.start(i)
		}
	}
	return time.Time{}
}

// start is where tier i's data begins: its coverage, or the oldest slot it
// still keeps.
func (s *Store) start(i int) time.Time {
	if s.from[i].IsZero() {
		return time.Time{}
	}
	t := s.tiers[i]
	kept := time.Unix(0, (s.through.UnixNano()/int64(t.Width)-int64(t.slots())+1)*int64(t.Width))
	if kept.After(s.from[i]) {
		return kept
	}
	return s.from[i]
}

// Group is one group's events over a window.
type Group struct {
	Labels model.LabelSet
	// Fingerprint is Labels.Fingerprint(), kept by the store.
	Fingerprint model.Fingerprint
	Bad, Total  float64
}

// resolution is how much finer than a window its slots must be: a slot cut
// by the window's start can be off by its own events, at most a tenth of
// the window's time. The finest tier serves every window.
const resolution = 10

// Sum returns every group's events over [from, to), in no particular
// order. ok is false when the
// store does not hold the whole window at a fine enough resolution: its
// start is older than the data, or its end newer. A window is then warming,
// never empty.
func (s *Store) Sum(from, to time.Time) (groups []Group, ok bool) {
	tier := -1
	for i, t := range s.tiers {
		if i > 0 && t.Width > to.Sub(from)/resolution {
			break
		}
		if st := s.start(i); !st.IsZero() && !from.Before(st) {
			tier = i
			break
		}
	}
	if tier < 0 || to.After(s.through) || !to.After(from) {
		return nil, false
	}
	w := s.tiers[tier].Width
	for fp, g := range s.groups {
		if !g.seen.After(from) {
			continue // nothing of the group in the window, as in a query's answer
		}
		bad, total := g.rings[tier].sum(w, from, to, s.from[tier], s.through)
		groups = append(groups, Group{Labels: g.labels, Fingerprint: fp, Bad: bad, Total: total})
	}
	return groups, true
}

// Prune drops the groups not seen over the whole retention: series gone
// for good (a model retired, a pod replaced) no longer take memory.
func (s *Store) Prune() int {
	horizon := s.through.Add(-s.tiers[len(s.tiers)-1].Span)
	n := 0
	for fp, g := range s.groups {
		if g.seen.Before(horizon) {
			delete(s.groups, fp)
			n++
		}
	}
	return n
}

// Len is the number of groups kept.
func (s *Store) Len() int { return len(s.groups) }

// Bytes is the memory the slots of the store take.
func (s *Store) Bytes() int {
	per := 0
	for _, t := range s.tiers {
		per += 8 * t.slots()
	}
	return per * len(s.groups)
}

// newRings makes a group's rings in one allocation: at thousands of groups
// the slots are most of the daemon's memory.
func newRings(tiers []Tier) []ring {
	n := 0
	for _, t := range tiers {
		n += t.slots()
	}
	buf := make([]float32, 2*n)
	rings := make([]ring, len(tiers))
	for i, t := range tiers {
		k := t.slots()
		rings[i] = ring{newest: math.MinInt64, bad: buf[:k:k], total: buf[k : 2*k : 2*k]}
		buf = buf[2*k:]
	}
	return rings
}

func slotOf(t time.Time, w time.Duration) int64 {
	ns := t.UnixNano()
	k := ns / int64(w)
	if ns%int64(w) < 0 {
		k--
	}
	return k
}

func slotStart(k int64, w time.Duration) time.Time { return time.Unix(0, k*int64(w)) }

// advance makes slot k the newest, clearing the slots it reuses.
func (r *ring) advance(k int64) {
	n := int64(len(r.bad))
	if r.newest == math.MinInt64 || k-r.newest >= n {
		clear(r.bad)
		clear(r.total)
		r.newest = k
		return
	}
	for j := r.newest + 1; j <= k; j++ {
		i := mod(j, n)
		r.bad[i], r.total[i] = 0, 0
	}
	r.newest = k
}

func (r *ring) add(w time.Duration, from, to time.Time, bad, total float64) {
	n := int64(len(r.bad))
	last := slotOf(to.Add(-1), w)
	if last > r.newest {
		r.advance(last)
	}
	span := float64(to.Sub(from))
	for k := slotOf(from, w); k <= last; k++ {
		if k <= r.newest-n {
			continue // older than the ring keeps
		}
		f := overlap(slotStart(k, w), slotStart(k+1, w), from, to) / span
		i := mod(k, n)
		r.bad[i] += float32(bad * f)
		r.total[i] += float32(total * f)
	}
}

// sum adds up the slots over [from, to). A slot's events lie within the
// part of it the store holds, [held, through): the slot being filled holds
// events only up to through, the oldest one only from where its tier's
// data begins. A slot the window cuts counts by its overlap with that held
// part, so the newest events of an incident count in full in every window.
func (r *ring) sum(w time.Duration, from, to, held, through time.Time) (bad, total float64) {
	if r.newest == math.MinInt64 {
		return 0, 0
	}
	// Nanoseconds, not time.Time: this loop runs for every slot of every
	// window of every group, each cycle.
	n, wn := int64(len(r.bad)), int64(w)
	a, b := from.UnixNano(), to.UnixNano()
	h0, h1 := held.UnixNano(), through.UnixNano()
	first, last := floorDiv(a, wn), floorDiv(b-1, wn)
	for k := max(first, r.newest-n+1); k <= min(last, r.newest); k++ {
		i := mod(k, n)
		sb, st := float64(r.bad[i]), float64(r.total[i])
		if k == first || k == last {
			lo, hi := max(k*wn, h0), min((k+1)*wn, h1)
			if hi <= lo {
				continue
			}
			f := math.Min(1, float64(max(0, min(hi, b)-max(lo, a)))/float64(hi-lo))
			sb, st = sb*f, st*f
		}
		bad += sb
		total += st
	}
	return bad, total
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// overlap is the length of [a, b) ∩ [c, d) in nanoseconds.
func overlap(a, b, c, d time.Time) float64 {
	lo, hi := a, b
	if c.After(lo) {
		lo = c
	}
	if d.Before(hi) {
		hi = d
	}
	if !hi.After(lo) {
		return 0
	}
	return float64(hi.Sub(lo))
}

func mod(k, n int64) int64 {
	m := k % n
	if m < 0 {
		m += n
	}
	return m
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
