package evaluator

import (
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/eventstore"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// SLOs returns the SLOs the engine evaluates, as configured.
func (e *Engine) SLOs() []*rules.SLO { return e.ev.slos }

// WindowHistory returns one SLO group's events over window at times from
// from to to at step, from its event store: what the burn rate of that
// window was, back as far as the store can tell (see eventstore.Series).
// Nil when the SLO has no store (an SLI the store does not count).
func (e *Engine) WindowHistory(slo string, group map[string]string, window time.Duration, from, to time.Time, step time.Duration) []eventstore.Point {
	var out []eventstore.Point
	e.ev.readEvents(slo, func(st *eventstore.Store) {
		out = st.Series(labelSet(group), window, from, to, step)
	})
	return out
}

// PeriodHistory returns one SLO group's events from the start of its
// current period (the rolling window back from the store's newest time, or
// the calendar period) up to each step: how the budget was spent. start is
// that period's start; zero when the SLO has no store.
func (e *Engine) PeriodHistory(slo string, group map[string]string, step time.Duration) (start time.Time, pts []eventstore.Point) {
	var s *rules.SLO
	for _, c := range e.ev.slos {
		if c.Name == slo {
			s = c
		}
	}
	if s == nil {
		return time.Time{}, nil
	}
	e.ev.readEvents(slo, func(st *eventstore.Store) {
		through := st.Through()
		start, _ = s.Period(through)
		pts = st.Cumulative(labelSet(group), start, through, step)
	})
	return start, pts
}

// readEvents runs read over the SLO's store while no cycle feeds it.
func (ev *Evaluator) readEvents(slo string, read func(*eventstore.Store)) {
	if ev.events == nil {
		return
	}
	ev.events.mu.Lock()
	defer ev.events.mu.Unlock()
	if ss := ev.events.stores[slo]; ss != nil && ss.st != nil {
		read(ss.st)
	}
}
