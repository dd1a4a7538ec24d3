package evaluator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/eventstore"
	"github.com/vllm-sentinel/vllm-sentinel/internal/atomicfile"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// EventOptions turn on the event store: each SLO's events are read once,
// step by step, and every window is a sum over the store.
type EventOptions struct {
	// Step is the finest slot: the evaluation interval.
	Step time.Duration
	// Ranges serves the range queries of catch-up and backfill.
	Ranges RangeQuerier
	// Dir keeps the stores across restarts; empty keeps them in memory.
	Dir string
	// BackfillChunks bounds the backfill range queries of one SLO in one
	// evaluation, so a first start never holds up a cycle for long; 0 is
	// no bound (eval and backtest build the whole store at once).
	BackfillChunks int
	// SaveEvery is how often the stores are written (default 5m); the
	// catch-up after a restart reads what was not saved.
	SaveEvery time.Duration
}

// GCPercent is the garbage collector's target the daemon runs with unless
// GOGC is set: the event stores' slots live as long as the daemon, and
// Go's default of 100 would let the heap grow to twice them between
// collections. At 1,000 groups x 10 SLOs it keeps RSS near 120 MB for a
// few more milliseconds of CPU a cycle.
const GCPercent = 50

// chunkSteps bounds the steps of one backfill range query: ten days at 1h
// steps, sixty at 6h.
const chunkSteps = 240

// boundsTTL is how long a latency SLI's discovered bucket bounds are used
// before they are read again: discovery reads one sample of every bucket
// series, more than the cycle's own deltas.
const boundsTTL = 5 * time.Minute

// markErrorSeries notes when a ratio SLI's errors side last had a series.
const markErrorSeries = "errors_series"

// eventStores holds the event store of every SLO that has one.
type eventStores struct {
	opts   EventOptions
	logger *slog.Logger

	mu     sync.Mutex
	stores map[string]*sloStore
	// slis caches each latency SLI's resolution, with when it was made.
	slis map[string]cachedSLI
	// swept is set once the temporary files of interrupted saves are gone.
	swept bool
}

type cachedSLI struct {
	q  *sli
	at time.Time
}

// sloStore is one SLO's store with what its feeding needs.
type sloStore struct {
	st      *eventstore.Store
	dirty   bool
	savedAt time.Time
}

func newEventStores(opts EventOptions, logger *slog.Logger) *eventStores {
	if opts.SaveEvery <= 0 {
		opts.SaveEvery = 5 * time.Minute
	}
	return &eventStores{opts: opts, logger: logger, stores: map[string]*sloStore{}, slis: map[string]cachedSLI{}}
}

// resolved returns the SLO's SLI as resolve made it within boundsTTL of ts,
// or resolves it again.
func (es *eventStores) resolved(slo string, ts time.Time, resolve func() (*sli, error)) (*sli, error) {
	es.mu.Lock()
	c, ok := es.slis[slo]
	es.mu.Unlock()
	if ok && !ts.Before(c.at) && ts.Sub(c.at) < boundsTTL {
		return c.q, nil
	}
	q, err := resolve()
	if err != nil {
		return nil, err
	}
	es.mu.Lock()
	es.slis[slo] = cachedSLI{q: q, at: ts}
	es.mu.Unlock()
	return q, nil
}

// storeID names what an SLO's store counts: a change to any of it (the
// metric, threshold, SLI, selector, grouping, layout) starts a new store.
func storeID(s *rules.SLO, q *sli, tiers []eventstore.Tier) string {
	parts := []string{"slo=" + s.Name, "metric=" + q.family, "query=" + q.identity}
	for _, t := range tiers {
		parts = append(parts, fmt.Sprintf("tier=%s/%s", t.Width, t.Span))
	}
	return strings.Join(parts, " ")
}

// retention is how far back an SLO's windows reach: the longest window or
// calendar period (the store's tiers add a slot).
func retention(s *rules.SLO) time.Duration {
	r := s.PeriodLength()
	if s.Calendar != "" {
		r = s.Calendar.Longest()
	}
	for _, w := range s.QueryWindows() {
		r = max(r, w)
	}
	return r
}

// store returns the SLO's store for q, reading it from disk at first use
// and starting a new one when the SLO changed.
func (es *eventStores) store(s *rules.SLO, q *sli, now time.Time) *sloStore {
	tiers := eventstore.Tiers(es.opts.Step, retention(s))
	id := storeID(s, q, tiers)
	ss := es.stores[s.Name]
	if ss == nil {
		ss = &sloStore{st: es.load(s.Name, id, now)}
		es.stores[s.Name] = ss
	}
	if ss.st == nil || ss.st.ID() != id {
		if ss.st != nil {
			es.logger.Info("SLO changed: rebuilding its event store from Prometheus", "slo", s.Name)
		}
		ss.st = eventstore.New(id, tiers)
		ss.dirty = true
	}
	return ss
}

func (es *eventStores) path(slo string) string {
	return filepath.Join(es.opts.Dir, "events", url.PathEscape(slo)+".events")
}

// load reads an SLO's saved store. A missing one is no store; one that
// cannot be read is moved aside (never misread, never lost) and rebuilt.
func (es *eventStores) load(slo, id string, now time.Time) *eventstore.Store {
	if es.opts.Dir == "" {
		return nil
	}
	p := es.path(slo)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		// Unreadable is not damaged: it is not moved aside.
		es.logger.Error("event store cannot be read; rebuilding it from Prometheus", "slo", slo, "path", p, "err", err)
		return nil
	}
	st, err := eventstore.Decode(b)
	if err != nil {
		aside := fmt.Sprintf("%s.corrupt-%d", p, now.Unix())
		if rerr := os.Rename(p, aside); rerr != nil {
			es.logger.Error("unreadable event store could not be moved aside; rebuilding it from Prometheus", "slo", slo, "path", p, "err", err, "rename_err", rerr)
		} else {
			es.logger.Warn("unreadable event store moved aside; rebuilding it from Prometheus", "slo", slo, "path", p, "moved_to", aside, "err", err)
		}
		return nil
	}
	if st.ID() != id {
		es.logger.Info("SLO changed since its event store was saved: rebuilding it", "slo", slo)
		return nil
	}
	return st
}

// Save writes the stores changed since their last save, if SaveEvery has
// passed (or always, with force). A failure is logged: the next start
// catches up from the last good file.
func (es *eventStores) Save(now time.Time, force bool) error {
	if es.opts.Dir == "" {
		return nil
	}
	es.mu.Lock()
	defer es.mu.Unlock()
	if !es.swept {
		// At the first save, not at start: on a reload the engine this one
		// replaces may still be saving until its schedule has ended.
		_ = atomicfile.RemoveTemps(filepath.Join(es.opts.Dir, "events"))
		es.swept = true
	}
	var errs []error
	for name, ss := range es.stores {
		if !ss.dirty || (!force && now.Sub(ss.savedAt) < es.opts.SaveEvery) {
			continue
		}
		ss.st.Prune()
		var buf bytes.Buffer
		err := ss.st.Encode(&buf)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(es.path(name)), 0o750)
		}
		if err == nil {
			err = atomicfile.WriteFile(es.path(name), buf.Bytes(), 0o640)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("save event store of SLO %s: %w", name, err))
			continue
		}
		ss.dirty, ss.savedAt = false, now
	}
	return errors.Join(errs...)
}

// adopt takes over the stores of old whose SLO is still configured: a
// reload keeps them in memory, saved or not. A changed SLO's store is
// replaced at its first use, a removed SLO's is let go.
func (es *eventStores) adopt(old *eventStores, slos []*rules.SLO) {
	if old == nil {
		return
	}
	old.mu.Lock()
	defer old.mu.Unlock()
	es.mu.Lock()
	defer es.mu.Unlock()
	configured := map[string]bool{}
	for _, s := range slos {
		configured[s.Name] = true
	}
	for name, ss := range old.stores {
		if _, ok := es.stores[name]; !ok && ss.st != nil && configured[name] {
			// The identity is checked at first use, when the new SLO's
			// query is known; a changed SLO starts afresh there.
			es.stores[name] = &sloStore{st: ss.st, dirty: ss.dirty, savedAt: ss.savedAt}
		}
	}
}

// windows feeds the SLO's store up to ts and sums each window from it. A
// window the store does not hold yet (its backfill is under way) is
// warming.
func (es *eventStores) windows(ctx context.Context, e *sloEval, q *sli, ts time.Time, ws []time.Duration) ([]*windowData, error) {
	es.mu.Lock()
	defer es.mu.Unlock()
	ss := es.store(e.slo, q, ts)
	f := &filler{es: es, e: e, q: q, ss: ss, now: ts}
	if err := f.forward(ctx); err != nil {
		return nil, err
	}
	if err := f.backfill(ctx); err != nil {
		// History comes later; the windows the store holds are right now.
		es.logger.Warn("event store backfill failed; retrying next cycle", "slo", e.slo.Name, "err", err)
	}
	errorsSeen := ss.st.Marked(markErrorSeries)
	out := make([]*windowData, len(ws))
	for i, w := range ws {
		wd := &windowData{window: w, groups: map[model.Fingerprint]*groupCounts{}}
		out[i] = wd
		if w <= 0 {
			continue
		}
		groups, ok := ss.st.Sum(ts.Add(-w), ts)
		if !ok {
			wd.warming = true
			continue
		}
		for _, g := range groups {
			wd.groups[g.Fingerprint] = &groupCounts{labels: g.Labels, bad: g.Bad, total: g.Total}
		}
		wd.errorSeries = !errorsSeen.IsZero() && errorsSeen.After(ts.Add(-w))
	}
	return out, nil
}

// filler adds an SLO's events from Prometheus to its store.
type filler struct {
	es  *eventStores
	e   *sloEval
	q   *sli
	ss  *sloStore
	now time.Time
}

// segment is (from, to] read at one resolution.
type segment struct {
	from, to time.Time
	res      time.Duration
}

// segments splits (from, to] so that each tier is fed at its own resolution
// over what it keeps: the newest hour at the step, the newest 12h at 5m,
// 3 days at 1h, the rest at 6h. Oldest first.
func (f *filler) segments(from, to time.Time) []segment {
	tiers := f.ss.st.Tiers()
	var out []segment
	hi := to
	for i := 0; i < len(tiers) && hi.After(from); i++ {
		lo := from
		if i+1 < len(tiers) {
			// The boundary is on the next tier's grid, a slot early, so
			// that tier i's resolution covers all the slots it keeps.
			next := tiers[i+1].Width
			b := f.now.Add(-(tiers[i].Span - tiers[i].Width)).Truncate(next).Add(-next)
			if b.After(lo) {
				lo = b
			}
		}
		if hi.After(lo) {
			out = append(out, segment{from: lo, to: hi, res: tiers[i].Width})
			hi = lo
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// forward catches the store up to now: after a restart only the gap it
// missed, on a first start the newest 12 hours, so that short windows are
// right at once and long ones warm up behind them.
func (f *filler) forward(ctx context.Context) error {
	st := f.ss.st
	through := st.Through()
	limit := f.now.Add(-st.Tiers()[len(st.Tiers())-1].Span)
	if !through.IsZero() && through.Before(limit) {
		f.es.logger.Info("event store older than the SLO's window: rebuilding it", "slo", f.e.slo.Name, "through", through)
		f.ss.st = eventstore.New(st.ID(), st.Tiers())
		through = time.Time{}
	}
	if through.IsZero() {
		// The two finest tiers now (the pages' windows); the coarser ones
		// are the backfill's.
		segs := f.segments(f.now.Add(-retention(f.e.slo)), f.now)
		through = segs[max(0, len(segs)-2)].from
	}
	if !f.now.After(through) {
		return nil
	}
	for _, sg := range f.segments(through, f.now) {
		if err := f.read(ctx, sg, false); err != nil {
			return err
		}
	}
	return nil
}

// backfill reads history older than the store holds, newest first, at most
// BackfillChunks range queries per evaluation.
func (f *filler) backfill(ctx context.Context) error {
	st := f.ss.st
	target := f.now.Add(-retention(f.e.slo))
	coarsest := st.Tiers()[len(st.Tiers())-1].Width
	covered := st.CoveredAt(coarsest)
	if covered.IsZero() || !covered.After(target) {
		return nil
	}
	budget := f.es.opts.BackfillChunks
	segs := f.segments(target, covered)
	for i := len(segs) - 1; i >= 0; i-- {
		sg := segs[i]
		for sg.to.After(sg.from) {
			if budget == 0 && f.es.opts.BackfillChunks > 0 {
				f.es.logger.Info("event store backfill under way", "slo", f.e.slo.Name, "covered_from", st.CoveredAt(coarsest), "target", target)
				return nil
			}
			lo := sg.to.Add(-time.Duration(chunkSteps) * sg.res)
			if lo.Before(sg.from) {
				lo = sg.from
			}
			if err := f.read(ctx, segment{from: lo, to: sg.to, res: sg.res}, true); err != nil {
				return err
			}
			budget--
			sg.to = lo
		}
	}
	if f.es.opts.BackfillChunks > 0 {
		f.es.logger.Info("event store backfill complete", "slo", f.e.slo.Name, "from", target)
	}
	return nil
}

// read adds the events of one segment: range queries at its resolution
// over the whole steps it holds, and a delta for the part left at either
// end. Each sample is read once.
func (f *filler) read(ctx context.Context, sg segment, backward bool) error {
	lo := sg.from.Add(sg.res - 1).Truncate(sg.res)
	hi := sg.to.Truncate(sg.res)
	if !hi.After(lo) {
		return f.delta(ctx, sg.from, sg.to, sg.res)
	}
	parts := []func() error{
		func() error { return f.delta(ctx, sg.from, lo, sg.res) },
		func() error { return f.steps(ctx, lo, hi, sg.res) },
		func() error { return f.delta(ctx, hi, sg.to, sg.res) },
	}
	if backward {
		parts[0], parts[2] = parts[2], parts[0]
	}
	for _, p := range parts {
		if err := p(); err != nil {
			return err
		}
	}
	return nil
}

// delta adds (from, to], shorter than a step, with one instant query: a
// delta for a part of a fine step, an increase() for a longer one, which
// bridges the restarts and replaced series inside it.
func (f *filler) delta(ctx context.Context, from, to time.Time, res time.Duration) error {
	if !to.After(from) {
		return nil
	}
	count := rules.Delta(to.Sub(from))
	if to.Sub(from) > 5*time.Minute {
		count = rules.Increase(to.Sub(from))
	}
	query, err := f.q.build(count)
	if err != nil {
		return err
	}
	return f.instant(ctx, query, from, to, res)
}

// instant adds (from, to] from one instant query at to.
func (f *filler) instant(ctx context.Context, query string, from, to time.Time, res time.Duration) error {
	vec, err := vector(ctx, f.e.q, query, to)
	if err != nil {
		return err
	}
	if err := f.add(query, from, to, vec); err != nil {
		return err
	}
	f.ss.st.Extend(from, to, res)
	return nil
}

// steps adds (from, to] at step res, both on its grid: the fine step as
// deltas, coarser ones as increase(), which bridges a counter reset inside
// the step.
func (f *filler) steps(ctx context.Context, from, to time.Time, res time.Duration) error {
	count := rules.Increase(res)
	if res == f.ss.st.Tiers()[0].Width && res < 5*time.Minute {
		count = rules.Delta(res)
	}
	query, err := f.q.build(count)
	if err != nil {
		return err
	}
	if to.Sub(from) == res {
		return f.instant(ctx, query, from, to, res)
	}
	if f.es.opts.Ranges == nil {
		return fmt.Errorf("event store of SLO %s: no range querier to read %s of history", f.e.slo.Name, to.Sub(from))
	}
	for lo := from; lo.Before(to); {
		hi := lo.Add(time.Duration(chunkSteps) * res)
		if hi.After(to) {
			hi = to
		}
		v, err := f.es.opts.Ranges.QueryRange(ctx, query, v1.Range{Start: lo.Add(res), End: hi, Step: res})
		if err != nil {
			return err
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return &QueryError{Query: query, Err: fmt.Errorf("range result is %s, want a matrix", valueType(v))}
		}
		at := map[int64]model.Vector{}
		for _, ss := range m {
			for _, p := range ss.Values {
				at[int64(p.Timestamp)] = append(at[int64(p.Timestamp)], &model.Sample{Metric: ss.Metric, Value: p.Value, Timestamp: p.Timestamp})
			}
		}
		// Every step is counted and checked before any is kept: a chunk
		// that fails is read again whole, never added twice.
		var counted []*windowData
		for t := lo.Add(res); !t.After(hi); t = t.Add(res) {
			wd, err := f.count(query, res, at[t.UnixMilli()])
			if err != nil {
				return err
			}
			delete(at, t.UnixMilli())
			counted = append(counted, wd)
		}
		if len(at) > 0 {
			// A backend that moves the steps would otherwise read as
			// steps without events.
			return &QueryError{Query: query, Err: fmt.Errorf("range answer has points at %d timestamps off the %s grid from %s", len(at), res, lo.Add(res).UTC().Format(time.RFC3339))}
		}
		for i, wd := range counted {
			t := lo.Add(time.Duration(i+1) * res)
			f.put(wd, t.Add(-res), t)
		}
		f.ss.st.Extend(lo, hi, res)
		lo = hi
	}
	return nil
}

// add counts one step's answer and keeps it.
func (f *filler) add(query string, from, to time.Time, vec model.Vector) error {
	wd, err := f.count(query, to.Sub(from), vec)
	if err != nil {
		return err
	}
	f.put(wd, from, to)
	return nil
}

// count reads one step's answer into counts, refusing what are no counts.
func (f *filler) count(query string, span time.Duration, vec model.Vector) (*windowData, error) {
	wd := f.q.count(span, vec)
	if err := wd.check(); err != nil {
		return nil, &QueryError{Query: query, Err: err}
	}
	return wd, nil
}

// put adds one step's counts per group.
func (f *filler) put(wd *windowData, from, to time.Time) {
	if wd.errorSeries {
		f.ss.st.Mark(markErrorSeries, to)
	}
	var refused error
	for _, g := range wd.groups {
		// increase() extrapolates each series on its own; check allowed
		// that much slack, the store keeps counts.
		total := math.Max(0, g.total)
		bad := math.Min(total, math.Max(0, g.bad))
		if err := f.ss.st.Add(g.labels, from, to, bad, total); err != nil && refused == nil {
			refused = err
		}
	}
	if refused != nil {
		// One line per step, not per group: a full store refuses thousands.
		f.es.logger.Warn("events not kept", "slo", f.e.slo.Name, "refused_groups", f.ss.st.Refused(), "err", refused)
	}
	f.ss.dirty = true
}
