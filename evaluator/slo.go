package evaluator

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// ThresholdError says a latency threshold is not a bucket bound of the
// histogram that Prometheus has.
type ThresholdError struct {
	Metric    string
	Threshold float64
	Below     string // nearest bound below, "" if none
	Above     string // nearest bound above, "" if none
}

func (e *ThresholdError) Error() string {
	near := "no bounds"
	switch {
	case e.Below != "" && e.Above != "":
		near = fmt.Sprintf("nearest bounds %s and %s", e.Below, e.Above)
	case e.Below != "":
		near = "nearest bound " + e.Below
	case e.Above != "":
		near = "nearest bound " + e.Above
	}
	return fmt.Sprintf("threshold %s is not a bucket bound of %s (%s); pick a bound, or set threshold_mode: interpolate to estimate inside the bucket",
		strconv.FormatFloat(e.Threshold, 'g', -1, 64), e.Metric, near)
}

// AbsentError means the SLI's metric has no series in Prometheus: absent,
// which is never read as zero.
type AbsentError struct {
	Metric string
	Time   time.Time
}

func (e *AbsentError) Error() string {
	return fmt.Sprintf("metric %s has no series at %s (absent, not zero: check vllm.selector and metric_names)", e.Metric, e.Time.UTC().Format(time.RFC3339))
}

// bound is one le value as Prometheus stores it, parsed.
type bound struct {
	text string
	val  float64
}

// thresholdBounds picks the le strings a latency SLI needs: those equal to the
// threshold (1, 1.0 and 1e0 are one bound; several can coexist after a vLLM
// upgrade), or for interpolation the nearest below and above, plus +Inf.
func thresholdBounds(family string, les []string, threshold float64, interpolate bool) (need []string, lower, upper float64, err error) {
	var bs []bound
	for _, le := range les {
		v, perr := strconv.ParseFloat(le, 64)
		if perr != nil {
			continue
		}
		bs = append(bs, bound{le, v})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].val < bs[j].val })
	var inf []string
	var exact []string
	below, above := -1, -1
	for i, b := range bs {
		switch {
		case math.IsInf(b.val, 1):
			inf = append(inf, b.text)
		case sameBound(b.val, threshold):
			exact = append(exact, b.text)
		case b.val < threshold:
			below = i
		case above < 0:
			above = i
		}
	}
	if len(inf) == 0 {
		return nil, 0, 0, fmt.Errorf("%s has no le=\"+Inf\" bucket: not a classic histogram", family)
	}
	if len(exact) > 0 {
		return append(exact, inf...), threshold, threshold, nil
	}
	if !interpolate {
		te := &ThresholdError{Metric: family, Threshold: threshold}
		if below >= 0 {
			te.Below = bs[below].text
		}
		if above >= 0 {
			te.Above = bs[above].text
		}
		return nil, 0, 0, te
	}
	if above < 0 {
		return nil, 0, 0, fmt.Errorf("threshold %g is above the highest finite bound of %s: cannot interpolate", threshold, family)
	}
	// Several spellings of one bound are all kept; values of one group are
	// summed per parsed bound.
	for _, b := range bs {
		if (below >= 0 && b.val == bs[below].val) || b.val == bs[above].val {
			need = append(need, b.text)
		}
	}
	if below >= 0 {
		lower = bs[below].val
	}
	return append(need, inf...), lower, bs[above].val, nil
}

func sameBound(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// windowData is one window's events per group.
type windowData struct {
	window time.Duration
	groups map[model.Fingerprint]*groupCounts
	// errorSeries is set when a ratio SLI's errors side had any series.
	errorSeries bool
	// warming is a window the event store does not hold yet.
	warming bool
}

func warming(data []*windowData) bool {
	for _, wd := range data {
		if wd.warming {
			return true
		}
	}
	return false
}

// InvalidDataError is an answer whose numbers cannot be event counts: NaN
// or infinite values, negative counts, more bad events than events. It is
// never read as healthy: the SLO is not evaluated, and says why.
type InvalidDataError struct {
	Window time.Duration
	Group  model.LabelSet
	What   string
}

func (e *InvalidDataError) Error() string {
	return fmt.Sprintf("invalid counts over %s for %s: %s (not a finite, non-negative count of events)", rules.Duration(e.Window), e.Group, e.What)
}

// check refuses counts that are not counts. increase() extrapolates each
// series on its own, so bad may stray a little above total, and a count a
// hair below zero; more than that is a broken answer.
func (wd *windowData) check() error {
	fps := make([]model.Fingerprint, 0, len(wd.groups))
	for fp := range wd.groups {
		fps = append(fps, fp)
	}
	slices.Sort(fps)
	for _, fp := range fps {
		g := wd.groups[fp]
		slack := 1 + 0.01*math.Abs(g.total)
		var what string
		switch {
		case !finite(g.bad) || !finite(g.total):
			what = fmt.Sprintf("bad %g of %g", g.bad, g.total)
		case g.total < -slack || g.bad < -slack:
			what = fmt.Sprintf("negative count: bad %g of %g", g.bad, g.total)
		case g.bad > g.total+slack:
			what = fmt.Sprintf("more bad events (%g) than events (%g)", g.bad, g.total)
		default:
			continue
		}
		return &InvalidDataError{Window: wd.window, Group: g.labels, What: what}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

type groupCounts struct {
	labels model.LabelSet
	bad    float64
	total  float64
}

func (g *groupCounts) errorRatio() (float64, bool) {
	if g == nil || g.total <= 0 {
		return 0, false
	}
	// increase() extrapolates each series on its own, so a ratio can stray
	// a hair outside [0, 1].
	return math.Min(1, math.Max(0, g.bad/g.total)), true
}

// sloEval evaluates one SLO at one time.
type sloEval struct {
	q      Querier
	promql *rules.PromQL
	slo    *rules.SLO
	names  func(string) string
	// native reports a histogram that exists as a native histogram only.
	native func(string) bool
	// parallel bounds concurrent queries of one SLO.
	parallel int
	// events, when set, holds the SLO's events: windows are sums over it.
	events *eventStores
}

// sli is an SLO's SLI resolved against Prometheus: how to query its events
// over a span, and how to read an answer into counts.
type sli struct {
	family       string
	native       bool
	interpolated bool
	// identity is what the queries count, for the event store's id.
	identity string
	// incremental says the events can be read step by step: build has a
	// delta form.
	incremental bool
	build       func(rules.Count) (string, error)
	count       func(w time.Duration, vec model.Vector) *windowData
}

// resolve finds how to count the SLO's events at ts: for a classic latency
// SLI, the bucket bounds of its threshold (read again every boundsTTL when
// an event store caches them).
func (e *sloEval) resolve(ctx context.Context, ts time.Time) (*sli, error) {
	s := e.slo
	switch {
	case s.Latency != nil && e.native != nil && e.native(s.Latency.Metric):
		// A native histogram has no le series to check the threshold
		// against: histogram_fraction reads it, exactly at a bucket bound
		// and interpolated inside a bucket, and every output says so.
		family := e.names(s.Latency.Metric)
		inside, err := nativeThreshold(ctx, e.q, e.promql.NativeBuckets(family, s.Selector, s.GroupBy), family, s.Latency.Threshold, s.Latency.Interpolate, ts)
		if err != nil {
			return nil, err
		}
		return &sli{family: family, native: true, interpolated: inside, build: func(c rules.Count) (string, error) {
			if c.Delta {
				return "", rules.ErrNotIncremental
			}
			return e.promql.NativeLatencyParts(family, s.Selector, s.GroupBy, s.Latency.Threshold, c.Span), nil
		}, count: ratioCounts}, nil
	case s.Latency != nil:
		family := e.names(s.Latency.Metric)
		v, err := e.q.Query(ctx, e.promql.BucketBounds(family, s.Selector), ts)
		if err != nil {
			return nil, err
		}
		les := labelValues(v, "le")
		if len(les) == 0 {
			return nil, &AbsentError{Metric: family + "_bucket", Time: ts}
		}
		need, lower, upper, err := thresholdBounds(family, les, s.Latency.Threshold, s.Latency.Interpolate)
		if err != nil {
			return nil, err
		}
		return &sli{
			family: family, interpolated: lower != upper,
			identity: fmt.Sprintf("latency threshold=%g interpolate=%t %s", s.Latency.Threshold, s.Latency.Interpolate, e.promql.BucketCounts(family, s.Selector, nil, s.GroupBy, rules.Increase(time.Minute))),
			build: func(c rules.Count) (string, error) {
				return e.promql.BucketCounts(family, s.Selector, need, s.GroupBy, c), nil
			},
			count: func(w time.Duration, vec model.Vector) *windowData {
				return latencyCounts(w, vec, s.Latency.Threshold, lower, upper)
			},
		}, nil
	case s.Ratio != nil:
		build := func(c rules.Count) (string, error) {
			return e.promql.RatioCounts(s.Ratio.Errors, s.Ratio.Total, s.Selector, s.GroupBy, c, e.names)
		}
		id, err := build(rules.Increase(time.Minute))
		if err != nil {
			return nil, err
		}
		return &sli{identity: "ratio " + id, build: build, count: ratioCounts}, nil
	}
	return nil, fmt.Errorf("SLO %q has no SLI", s.Name)
}

// withDeltas notes whether q's events can be read step by step, once, as
// it is resolved.
func withDeltas(q *sli) *sli {
	_, err := q.build(rules.Delta(time.Minute))
	q.incremental = err == nil
	return q
}

func (e *sloEval) run(ctx context.Context, ts time.Time) ([]SLOResult, error) {
	s := e.slo
	periodStart, periodLen := s.Period(ts)
	budgetWindow := ts.Sub(periodStart).Truncate(time.Second)
	windows := s.QueryWindows()

	q, err := e.sli(ctx, ts)
	if err != nil {
		return nil, err
	}
	all := append(append([]time.Duration(nil), windows...), budgetWindow)
	var data []*windowData
	if e.events != nil && q.incremental {
		data, err = e.events.windows(ctx, e, q, ts, all)
	} else {
		data, err = e.queryWindows(ctx, ts, all, func(w time.Duration) (string, error) { return q.build(rules.Increase(w)) }, q.count)
	}
	if err != nil {
		return nil, err
	}
	if (s.Ratio != nil || q.native) && noSeries(data) && !warming(data) {
		// A counter that exists reports 0 without traffic; no series at
		// all in any window means the metric is absent (a typo, a rename,
		// a selector that matches nothing), never "healthy".
		metric := q.family
		if s.Ratio != nil {
			metric = s.Ratio.Total.String()
		}
		return nil, &AbsentError{Metric: metric, Time: ts}
	}
	results := assemble(s, q.family, q.interpolated, data[:len(windows)], data[len(windows)], periodLen)
	if len(results) == 0 && warming(data) {
		// No group in any window the store holds yet: the SLO is warming,
		// not gone from every output.
		r := SLOResult{SLO: s.Name, Labels: map[string]string{}, Objective: s.Objective.Percent(), Metric: q.family, Firing: []FiringPair{}, State: StateWarming,
			Warning: warmingWarning, Budget: WindowResult{Window: rules.Duration(budgetWindow), Warming: true}}
		for _, wd := range data[:len(windows)] {
			r.Windows = append(r.Windows, WindowResult{Window: rules.Duration(wd.window), Warming: wd.warming})
		}
		results = []SLOResult{r}
	}
	if q.native {
		for i := range results {
			results[i].Note = nativeNote(q.interpolated)
		}
	}
	if s.Ratio != nil && !errorSeries(data) && !warming(data) {
		// Events but not one series on the errors side in any window, the
		// whole budget period included: a label typo, or a vLLM that never
		// writes that value, would read as a perfect record for ever.
		why := explainNoSeries(ctx, e.q, e.promql.SelectorProbes(s.Ratio.Errors, s.Selector, e.names), ts)
		for i := range results {
			if results[i].State == StateOK {
				results[i].State = StateErrorsAbsent
				results[i].Warning = "the errors selector matches no series: " + why
			}
		}
	}
	return results, nil
}

// sli resolves the SLI, through the event store's cache when there is one.
func (e *sloEval) sli(ctx context.Context, ts time.Time) (*sli, error) {
	if e.events == nil {
		return e.resolve(ctx, ts)
	}
	resolve := func() (*sli, error) {
		q, err := e.resolve(ctx, ts)
		if err != nil {
			return nil, err
		}
		return withDeltas(q), nil
	}
	if e.slo.Latency == nil {
		return resolve()
	}
	return e.events.resolved(e.slo.Name, ts, resolve)
}

// queryWindows runs each window's query, at most e.parallel at a time, and
// counts its events with count. The first failure cancels the others: one
// error, reported once, is what a reader needs.
func (e *sloEval) queryWindows(ctx context.Context, ts time.Time, windows []time.Duration, build func(time.Duration) (string, error),
	count func(time.Duration, model.Vector) *windowData) ([]*windowData, error) {
	data := make([]*windowData, len(windows))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once     sync.Once
		firstErr error
	)
	fail := func(err error) {
		once.Do(func() { firstErr = err; cancel() })
	}
	sem := make(chan struct{}, max(1, e.parallel))
	var wg sync.WaitGroup
	for i, w := range windows {
		if w <= 0 {
			data[i] = &windowData{window: w, groups: map[model.Fingerprint]*groupCounts{}}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			q, err := build(w)
			if err != nil {
				fail(err)
				return
			}
			v, err := e.q.Query(ctx, q, ts)
			if err != nil {
				fail(err)
				return
			}
			vec, ok := v.(model.Vector)
			if !ok {
				fail(&QueryError{Query: q, Err: fmt.Errorf("result is %s, want a vector", valueType(v))})
				return
			}
			data[i] = count(w, vec)
			if err := data[i].check(); err != nil {
				fail(&QueryError{Query: q, Err: err})
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return data, ctx.Err()
}

func errorSeries(data []*windowData) bool {
	for _, wd := range data {
		if wd.errorSeries {
			return true
		}
	}
	return false
}

func noSeries(data []*windowData) bool {
	for _, wd := range data {
		if len(wd.groups) > 0 {
			return false
		}
	}
	return true
}

func labelValues(v model.Value, name model.LabelName) []string {
	vec, ok := v.(model.Vector)
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range vec {
		if l, ok := s.Metric[name]; ok && !seen[string(l)] {
			seen[string(l)] = true
			out = append(out, string(l))
		}
	}
	return out
}

// dropLe and dropPart are the labels of a sample that are not its group's.
var (
	dropLe   = map[model.LabelName]struct{}{model.MetricNameLabel: {}, "le": {}}
	dropPart = map[model.LabelName]struct{}{model.MetricNameLabel: {}, rules.PartLabel: {}}
)

// groupFP is the fingerprint of m's group — its labels without drop — as
// groupOf(m).Fingerprint() would be, without copying the labels.
func groupFP(m model.Metric, drop map[model.LabelName]struct{}) model.Fingerprint {
	return model.Fingerprint(model.SignatureWithoutLabels(m, drop))
}

func groupOf(m model.Metric, drop ...model.LabelName) model.LabelSet {
	ls := model.LabelSet(m).Clone()
	delete(ls, model.MetricNameLabel)
	for _, d := range drop {
		delete(ls, d)
	}
	return ls
}

// latencyCounts reads per-group bucket increases. Buckets of one parsed
// bound are summed (spellings that coexist after an upgrade count once each
// as separate series, which is what they are).
func latencyCounts(w time.Duration, vec model.Vector, threshold, lower, upper float64) *windowData {
	wd := &windowData{window: w, groups: map[model.Fingerprint]*groupCounts{}}
	type acc struct{ lo, up, inf float64 }
	accs := map[model.Fingerprint]*acc{}
	for _, smp := range vec {
		fp := groupFP(smp.Metric, dropLe)
		g := wd.groups[fp]
		if g == nil {
			g = &groupCounts{labels: groupOf(smp.Metric, "le")}
			wd.groups[fp] = g
			accs[fp] = &acc{}
		}
		le, err := strconv.ParseFloat(string(smp.Metric["le"]), 64)
		if err != nil {
			continue
		}
		v := float64(smp.Value)
		a := accs[fp]
		switch {
		case math.IsInf(le, 1):
			a.inf += v
		case sameBound(le, upper):
			a.up += v
		case sameBound(le, lower):
			a.lo += v
		}
	}
	for fp, g := range wd.groups {
		a := accs[fp]
		g.total = a.inf
		good := a.up
		if lower != upper {
			// Linear interpolation inside (lower, upper]: an estimate, flagged
			// as such in every output.
			good = a.lo + (a.up-a.lo)*(threshold-lower)/(upper-lower)
		}
		g.bad = g.total - good
	}
	return wd
}

func ratioCounts(w time.Duration, vec model.Vector) *windowData {
	wd := &windowData{window: w, groups: map[model.Fingerprint]*groupCounts{}}
	for _, smp := range vec {
		fp := groupFP(smp.Metric, dropPart)
		g := wd.groups[fp]
		if g == nil {
			g = &groupCounts{labels: groupOf(smp.Metric, rules.PartLabel)}
			wd.groups[fp] = g
		}
		switch string(smp.Metric[rules.PartLabel]) {
		case rules.PartErrors:
			wd.errorSeries = true
			g.bad += float64(smp.Value)
		case rules.PartTotal:
			g.total += float64(smp.Value)
		}
	}
	return wd
}

func ptr[T any](v T) *T { return &v }

// assemble turns window data into one result per group.
func assemble(s *rules.SLO, family string, interpolated bool, windows []*windowData, budget *windowData, periodLen time.Duration) []SLOResult {
	groups := map[model.Fingerprint]model.LabelSet{}
	for _, wd := range append(append([]*windowData(nil), windows...), budget) {
		for fp, g := range wd.groups {
			groups[fp] = g.labels
		}
	}
	fps := make([]model.Fingerprint, 0, len(groups))
	for fp := range groups {
		fps = append(fps, fp)
	}
	// One key per group: LabelSet.Before sorts the names at every compare,
	// which at a thousand groups costs more than the evaluation itself.
	keys := make(map[model.Fingerprint]string, len(groups))
	for fp, ls := range groups {
		keys[fp] = ls.String()
	}
	sort.Slice(fps, func(i, j int) bool { return keys[fps[i]] < keys[fps[j]] })

	budgetFrac := s.Objective.Budget()
	out := make([]SLOResult, 0, len(fps))
	for _, fp := range fps {
		r := SLOResult{
			SLO:         s.Name,
			Labels:      map[string]string{},
			Objective:   s.Objective.Percent(),
			Metric:      family,
			Approximate: interpolated,
			Firing:      []FiringPair{},
		}
		if interpolated {
			r.Note = "threshold interpolated inside a histogram bucket: error ratios are estimates"
		}
		for k, v := range groups[fp] {
			r.Labels[string(k)] = string(v)
		}
		window := func(wd *windowData) WindowResult {
			res := WindowResult{Window: rules.Duration(wd.window), Warming: wd.warming}
			g := wd.groups[fp]
			if g != nil {
				res.Events = g.total
			}
			if er, ok := g.errorRatio(); ok {
				res.ErrorRatio = ptr(er)
				res.BurnRate = ptr(er / budgetFrac)
				res.ErrorRatioLowerBound = ptr(rules.WilsonLower(er*g.total, g.total, s.Z))
			}
			return res
		}
		for _, wd := range windows {
			r.Windows = append(r.Windows, window(wd))
		}
		r.Budget = window(budget)
		for _, w := range s.Windows {
			long, short := r.Window(w.Long), r.Window(w.Short)
			if long == nil || short == nil || long.BurnRate == nil || short.BurnRate == nil {
				continue
			}
			// min_events is a floor on both windows (the short one's share
			// of it); the confidence bound does the rest, so that a few
			// events, one of them bad, do not page while a total outage
			// at low traffic still does.
			if long.Events < s.MinEvents || short.Events < math.Max(1, s.MinEvents*float64(w.Short)/float64(w.Long)) {
				continue
			}
			threshold := w.Factor * budgetFrac
			if *long.BurnRate > w.Factor && *short.BurnRate > w.Factor &&
				*long.ErrorRatioLowerBound > threshold && *short.ErrorRatioLowerBound > threshold {
				r.Firing = append(r.Firing, FiringPair{
					LongWindow: rules.Duration(w.Long), ShortWindow: rules.Duration(w.Short),
					Severity: w.Severity, Tier: w.Tier, Factor: w.Factor,
					LongBurnRate: *long.BurnRate, ShortBurnRate: *short.BurnRate,
				})
			}
		}
		if r.Budget.ErrorRatio != nil {
			r.BudgetRemaining = ptr(1 - *r.Budget.ErrorRatio/budgetFrac)
			if h := r.Window(time.Hour); h != nil && h.BurnRate != nil {
				r.Exhaustion = exhaustion(*r.BudgetRemaining, *h.BurnRate, periodLen)
			}
		}
		switch {
		case len(r.Firing) > 0:
			r.State = StateBurning
		case r.Budget.Warming || anyWarming(r.Windows):
			r.State = StateWarming
			r.Warning = warmingWarning
		case r.Budget.Events == 0 && allEmpty(r.Windows):
			r.State = StateNoData
		default:
			r.State = StateOK
		}
		out = append(out, r)
	}
	return out
}

// warmingWarning says why a warming SLO has no numbers yet.
const warmingWarning = "the event store is still reading this SLO's history from Prometheus: its long windows are not known yet"

func anyWarming(ws []WindowResult) bool {
	for _, w := range ws {
		if w.Warming {
			return true
		}
	}
	return false
}

func allEmpty(ws []WindowResult) bool {
	for _, w := range ws {
		if w.Events > 0 {
			return false
		}
	}
	return true
}

// exhaustion forecasts when the budget runs out if the current burn rate
// holds: burning at rate b uses b/period of the budget per unit of time.
func exhaustion(remaining, burn float64, period time.Duration) *Duration {
	if remaining <= 0 {
		return ptr(Duration(0))
	}
	if burn <= 0 {
		return nil
	}
	d := remaining / burn * float64(period)
	if d > float64(math.MaxInt64) {
		return nil
	}
	return ptr(Duration(time.Duration(d)))
}
