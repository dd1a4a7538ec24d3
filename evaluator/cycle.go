package evaluator

import (
	"context"
	"math"
	"sort"
	"time"

	"github.com/prometheus/common/model"
)

// Report is what one cycle did: the evaluation, the state of each
// indicator's alert, the alerts that changed state and those that were due.
// The log, backtest, eval and the web all read it.
type Report struct {
	Time       time.Time         `json:"time"`
	SLOs       []SLOResult       `json:"slos"`
	Indicators []IndicatorStatus `json:"indicators"`
	// Errors are SLOs and indicators that could not be evaluated this
	// time; the others were.
	Errors []EvalError `json:"errors,omitempty"`
	// Transitions are the alerts that changed state in this cycle.
	Transitions []Transition `json:"-"`
	// Due are the alerts the cycle handed to the sender (or would have,
	// with sending off).
	Due []*model.Alert `json:"-"`
	// ProbeError is set when Prometheus did not answer the cycle's probe.
	ProbeError error `json:"-"`
	// TraceLookupsFailed counts the cycle's trace lookups that failed.
	TraceLookupsFailed int `json:"-"`
}

// IndicatorStatus is an indicator's value for one group and where its alert
// is in its lifecycle (inactive, pending, firing).
type IndicatorStatus struct {
	IndicatorResult
	State string `json:"state"`
}

// Healthy reports whether Prometheus answered every query of the cycle; an
// absent metric is a finding about vLLM, not a failure of the sentinel.
func (r *Report) Healthy() bool {
	if r.ProbeError != nil {
		return false
	}
	for _, e := range r.Errors {
		if e.Unavailable {
			return false
		}
	}
	return true
}

// Transition is an alert changing state.
type Transition struct {
	Time      time.Time      `json:"time"`
	Alertname string         `json:"alertname"`
	Labels    model.LabelSet `json:"labels"`
	// To is pending, firing, resolved, or inactive: a pending alert whose
	// condition stopped before it fired.
	To    string `json:"to"`
	Value Float  `json:"value"`
	// Summary is the alert's summary annotation.
	Summary string `json:"-"`
	// FiredAt is when a resolved alert had fired.
	FiredAt time.Time `json:"-"`
}

// Cycle evaluates at ts, updates every alert, saves state and sends what is
// due. It returns what it did.
func (e *Engine) Cycle(ctx context.Context, ts time.Time) *Report {
	start := e.opts.Now()
	res, probeErr := e.ev.Eval(ctx, ts)
	rep := e.apply(res, probeErr, e.rules, true)
	if e.store != nil {
		e.save(ts)
	}
	if err := e.ev.SaveEvents(ts, false); err != nil {
		e.opts.Logger.Error("saving the event store failed; a restart catches up from the last save", "err", err)
		e.metrics.stateSaveFailures.Inc()
	}
	if len(rep.Due) > 0 && e.sender != nil {
		e.sender.Send(rep.Due...)
	}
	e.logTransitions(rep.Transitions)
	e.metrics.observeCycle(e.opts.Now().Sub(start), rep)
	return rep
}

// apply updates the alerts of rules from one evaluation and reports the
// cycle. With live set, the report becomes the engine's latest and what is
// due is marked sent; a warm-up applies past evaluations without either.
func (e *Engine) apply(res *Result, probeErr error, rules []rule, live bool) *Report {
	ev := evaluation{res: res, probeErr: probeErr}
	e.mu.Lock()
	defer e.mu.Unlock()
	before := e.states()
	for _, r := range rules {
		if conds, ok := r.conditions(ev); ok {
			e.set(r).Update(res.Time, conds)
		}
	}
	if live {
		e.resolveOrphans(res.Time)
	}
	rep := &Report{Time: res.Time, SLOs: res.SLOs, Errors: res.Errors, ProbeError: probeErr,
		Indicators: e.indicatorStatus(res), Transitions: e.transitions(res.Time, before),
		TraceLookupsFailed: res.TraceLookupsFailed}
	if !live {
		return rep
	}
	rep.Due = e.due(res.Time)
	e.last = rep
	e.history = append(e.history, rep)
	if len(e.history) > historyLen {
		e.history = e.history[len(e.history)-historyLen:]
	}
	if rep.Healthy() {
		e.ready = true
	}
	return rep
}

// resolveOrphans updates the alerts of rules no longer configured as if
// their condition no longer held: firing ones resolve (and the resolve is
// sent and repeated as any other), and the set goes once it is empty.
func (e *Engine) resolveOrphans(ts time.Time) {
	for k, s := range e.sets {
		if e.configured(k) {
			continue
		}
		// A removed rule's alerts resolve now: no damping keeps them.
		s.Timing = Timing{}
		for _, a := range s.Active {
			a.KeepFiringFor = 0
		}
		s.Update(ts, nil)
		if len(s.Active) == 0 {
			delete(e.sets, k)
		}
	}
}

// indicatorStatus pairs each indicator result with its alert's state.
func (e *Engine) indicatorStatus(res *Result) []IndicatorStatus {
	out := make([]IndicatorStatus, 0, len(res.Indicators))
	for _, ir := range res.Indicators {
		st := IndicatorStatus{IndicatorResult: ir, State: StateInactive.String()}
		if math.IsNaN(float64(ir.Value)) {
			// A percentile of no requests: nothing to judge, not "inactive".
			st.State = StateNoData
		}
		if r := e.indicators[ir.Indicator]; r != nil {
			if s := e.sets[r.key()]; s != nil {
				if a := s.Active[r.labels(ir.Group()).Fingerprint()]; a != nil {
					st.State = a.State.String()
				}
			}
		}
		out = append(out, st)
	}
	return out
}

// states records every alert as it is, to see what a cycle changed.
func (e *Engine) states() map[model.Fingerprint]Alert {
	out := map[model.Fingerprint]Alert{}
	for _, s := range e.sets {
		for fp, a := range s.Active {
			out[fp] = *a
		}
	}
	return out
}

// transitions lists the alerts whose state differs from before, in label
// order: pending, firing, resolved, or inactive for a pending alert whose
// condition stopped before its for ran out (an alert that was not known
// before and is inactive is no news). The last is news although the alert
// is gone: without it a replay would show one pending alert where
// Prometheus's ALERTS has several short ones.
func (e *Engine) transitions(ts time.Time, before map[model.Fingerprint]Alert) []Transition {
	var out []Transition
	for _, a := range e.alerts() {
		was, seen := before[a.Labels.Fingerprint()]
		delete(before, a.Labels.Fingerprint())
		if (seen && was.State == a.State) || (!seen && a.State == StateInactive) {
			continue
		}
		to := a.State.String()
		if a.State == StateInactive {
			to = "resolved"
		}
		out = append(out, Transition{Time: ts, Alertname: string(a.Labels[model.AlertNameLabel]), Labels: a.Labels, To: to,
			Value: a.Value, Summary: string(a.Annotations["summary"]), FiredAt: a.FiredAt})
	}
	for _, a := range before {
		if a.State == StatePending {
			out = append(out, Transition{Time: ts, Alertname: string(a.Labels[model.AlertNameLabel]), Labels: a.Labels, To: StateInactive.String(),
				Value: a.Value, Summary: string(a.Annotations["summary"])})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Labels.Before(out[j].Labels) })
	return out
}

// logTransitions logs alerts that started firing or resolved: the resends
// in between would only be noise.
func (e *Engine) logTransitions(trs []Transition) {
	for _, t := range trs {
		attrs := []any{"alertname", t.Alertname, "labels", t.Labels.String()}
		switch t.To {
		case "firing":
			e.opts.Logger.Info("alert firing", append(attrs, "value", t.Value, "summary", t.Summary)...)
		case "pending":
			e.opts.Logger.Debug("alert pending", append(attrs, "value", t.Value)...)
		case "resolved":
			// The value is the last one that held, not a value now: named so.
			e.opts.Logger.Info("alert resolved", append(attrs, "fired_at", t.FiredAt, "last_firing_value", t.Value)...)
		}
	}
}

// due collects what every set has to send at ts, in a stable order.
func (e *Engine) due(ts time.Time) []*model.Alert {
	gen := e.opts.ExternalURL
	if len(gen) == 0 || gen[len(gen)-1] != '/' {
		gen += "/"
	}
	var out []*model.Alert
	for _, r := range e.sortedKeys() {
		out = append(out, e.sets[r].Due(ts, e.opts.ResendInterval, e.opts.Interval, gen)...)
	}
	return out
}

func (e *Engine) sortedKeys() []ruleKey {
	keys := make([]ruleKey, 0, len(e.sets))
	for k := range e.sets {
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys
}

// save persists the alerts; a failure is logged and counted, never fatal.
func (e *Engine) save(ts time.Time) {
	e.mu.Lock()
	snapshot := &stateFile{SavedAt: ts, Rules: map[ruleKey][]*Alert{}}
	for k, s := range e.sets {
		if len(s.Active) > 0 {
			snapshot.Rules[k] = s.Snapshot()
		}
	}
	e.mu.Unlock()
	if err := e.store.Save(snapshot); err != nil {
		e.opts.Logger.Error("saving alert state failed", "err", err)
		e.metrics.stateSaveFailures.Inc()
	}
}

// WarmUp replays the evaluations at every interval before ts, back as far
// as WarmUpSpan, with sending off, so that a one-off evaluation at ts
// reports pending and firing as the live loop would have. Only rules whose
// state depends on earlier evaluations are replayed. q serves those past
// times (a RangeCache over them costs one range query per query).
func (e *Engine) WarmUp(ctx context.Context, q Querier, ts time.Time) {
	steps := int(e.WarmUpSpan() / e.opts.Interval)
	if steps == 0 {
		return
	}
	var replay []rule
	past := e.ev.over(q)
	past.slos, past.indicators = nil, nil
	for _, r := range e.rules {
		if !hasHistory(r) {
			continue
		}
		replay = append(replay, r)
		switch r := r.(type) {
		case *sloRule:
			past.slos = append(past.slos, r.slo)
		case *indicatorRule:
			past.indicators = append(past.indicators, r.in)
		}
	}
	for i := steps; i > 0; i-- {
		t := ts.Add(-time.Duration(i) * e.opts.Interval)
		res, probeErr := past.Eval(ctx, t)
		e.apply(res, probeErr, replay, false)
	}
}

// WarmUpSpan is how far back WarmUp evaluates.
func (e *Engine) WarmUpSpan() time.Duration {
	var span time.Duration
	for _, r := range e.rules {
		if hasHistory(r) {
			t := r.timing()
			span = max(span, t.For+t.KeepFiringFor)
		}
	}
	return span.Truncate(e.opts.Interval)
}
