package evaluator

import (
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/common/model"
)

// AlertState is where an alert is in its lifecycle. As in Prometheus, a
// resolved alert is Inactive with ResolvedAt set, kept for a while so that
// the resolve is sent more than once.
type AlertState int

// Alert states.
const (
	StateInactive AlertState = iota
	StatePending
	StateFiring
)

func (s AlertState) String() string {
	switch s {
	case StatePending:
		return "pending"
	case StateFiring:
		return "firing"
	default:
		return "inactive"
	}
}

// MarshalText writes the state by name.
func (s AlertState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state by name; anything else is an error, never a
// guess.
func (s *AlertState) UnmarshalText(b []byte) error {
	switch string(b) {
	case "pending":
		*s = StatePending
	case "firing":
		*s = StateFiring
	case "inactive":
		*s = StateInactive
	default:
		return fmt.Errorf("unknown alert state %q", b)
	}
	return nil
}

// Alert is one alert instance with its lifecycle timestamps.
type Alert struct {
	Labels      model.LabelSet `json:"labels"`
	Annotations model.LabelSet `json:"annotations"`
	State       AlertState     `json:"state"`
	Value       Float          `json:"value"`
	// ActiveAt is when the condition first held in this run of it.
	ActiveAt time.Time `json:"active_at"`
	// FiredAt is when it became firing: the startsAt sent to receivers.
	FiredAt time.Time `json:"fired_at,omitzero"`
	// LastSeenAt is the last time the condition held.
	LastSeenAt time.Time `json:"last_seen_at"`
	// KeepFiringSince is the first evaluation at which the condition no
	// longer held while firing; keep_firing_for counts from it, as in
	// Prometheus.
	KeepFiringSince time.Time `json:"keep_firing_since,omitzero"`
	// KeepFiringFor is this alert's own damping when its rule's differs
	// per alert (an SLO's pairs keep firing for their short window).
	KeepFiringFor time.Duration `json:"keep_firing_for,omitempty"`
	ResolvedAt    time.Time     `json:"resolved_at,omitzero"`
	LastSentAt    time.Time     `json:"last_sent_at,omitzero"`
}

// SentState is what receivers last heard of the alert, so that a change is
// sent at once. It follows from the times: a send since the alert fired
// told them firing, one since it resolved told them resolved.
func (a *Alert) SentState() AlertState {
	switch {
	case a.LastSentAt.IsZero():
		return StateInactive
	case a.State == StateInactive && !a.LastSentAt.Before(a.ResolvedAt):
		return StateInactive
	case !a.FiredAt.IsZero() && !a.LastSentAt.Before(a.FiredAt):
		return StateFiring
	}
	return StateInactive
}

// Condition is an alert whose expression holds at this evaluation.
type Condition struct {
	Labels      model.LabelSet
	Annotations model.LabelSet
	Value       float64
	// KeepFiringFor, when longer than the rule's, damps this alert: a
	// condition that stops and comes back within it stays one alert.
	KeepFiringFor time.Duration
}

// Timing is the lifecycle of one alerting rule.
type Timing struct {
	For           time.Duration
	KeepFiringFor time.Duration
}

// Lifecycle settings shared by every alert, as in Prometheus.
const (
	// ResolvedRetention is how long a resolve keeps being re-sent.
	ResolvedRetention = 15 * time.Minute
	// DefaultResendInterval re-sends firing alerts so Alertmanager never
	// lets them expire.
	DefaultResendInterval = time.Minute
)

// AlertSet holds the alerts of one rule. Update never reads the clock: the
// evaluation time is passed in.
type AlertSet struct {
	Timing Timing
	Active map[model.Fingerprint]*Alert
}

// NewAlertSet returns an empty set.
func NewAlertSet(t Timing) *AlertSet {
	return &AlertSet{Timing: t, Active: map[model.Fingerprint]*Alert{}}
}

// Update applies one evaluation at ts: conds are the alerts whose condition
// holds now.
func (s *AlertSet) Update(ts time.Time, conds []Condition) {
	seen := map[model.Fingerprint]bool{}
	for _, c := range conds {
		fp := c.Labels.Fingerprint()
		seen[fp] = true
		a, ok := s.Active[fp]
		if !ok || (a.State == StateInactive) {
			a = &Alert{Labels: c.Labels, State: StatePending, ActiveAt: ts}
			if ok {
				a.LastSentAt = s.Active[fp].LastSentAt
			}
			s.Active[fp] = a
		}
		a.Annotations = c.Annotations
		a.Value = Float(c.Value)
		a.KeepFiringFor = c.KeepFiringFor
		a.LastSeenAt = ts
		a.KeepFiringSince = time.Time{}
		if a.State == StatePending && ts.Sub(a.ActiveAt) >= s.Timing.For {
			a.State = StateFiring
			a.FiredAt = ts
		}
	}
	for fp, a := range s.Active {
		if seen[fp] {
			continue
		}
		switch a.State {
		case StatePending:
			delete(s.Active, fp)
		case StateFiring:
			if keep := max(s.Timing.KeepFiringFor, a.KeepFiringFor); keep > 0 {
				if a.KeepFiringSince.IsZero() {
					a.KeepFiringSince = ts
				}
				if ts.Sub(a.KeepFiringSince) < keep {
					continue
				}
			}
			a.State = StateInactive
			a.ResolvedAt = ts
		case StateInactive:
			if ts.Sub(a.ResolvedAt) > ResolvedRetention {
				delete(s.Active, fp)
			}
		}
	}
}

// Due returns the alerts to send at ts as receivers expect them, and marks
// them sent. Firing alerts go out when they first fire and every resend
// interval after, with endsAt far enough ahead to survive missed cycles;
// resolved alerts go out at once and are repeated until ResolvedRetention.
func (s *AlertSet) Due(ts time.Time, resend, evalInterval time.Duration, generatorURL string) []*model.Alert {
	var out []*model.Alert
	validFor := 4 * max(resend, evalInterval)
	for _, a := range s.sorted() {
		var send bool
		sent := a.SentState()
		switch a.State {
		case StateFiring:
			send = sent != StateFiring || ts.Sub(a.LastSentAt) >= resend
		case StateInactive:
			if a.ResolvedAt.IsZero() {
				continue
			}
			// A resolve nobody heard of a firing alert need not be sent.
			if sent != StateFiring && a.LastSentAt.IsZero() {
				continue
			}
			send = sent == StateFiring || ts.Sub(a.LastSentAt) >= resend
		default:
			continue
		}
		if !send {
			continue
		}
		ma := &model.Alert{
			Labels:       a.Labels.Clone(),
			Annotations:  a.Annotations.Clone(),
			StartsAt:     a.FiredAt,
			GeneratorURL: generatorURL,
		}
		if a.State == StateFiring {
			ma.EndsAt = ts.Add(validFor)
		} else {
			ma.EndsAt = a.ResolvedAt
		}
		a.LastSentAt = ts
		out = append(out, ma)
	}
	return out
}

func (s *AlertSet) sorted() []*Alert {
	out := make([]*Alert, 0, len(s.Active))
	for _, a := range s.Active {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Labels.Before(out[j].Labels) })
	return out
}

// Restore brings back alerts persisted before a restart at ts, as
// Prometheus restores its for-state: a pending alert keeps the time it had
// already been pending, shifted past the outage (which is not counted
// toward "for"), but only if the outage was shorter than outageTolerance; a
// firing alert keeps firing (and its FiredAt) so a restart neither re-pages
// nor resolves it; a resolved one keeps being re-sent until its retention
// ends.
func (s *AlertSet) Restore(ts time.Time, saved []*Alert, downSince time.Time, outageTolerance time.Duration) {
	outage := max(0, ts.Sub(downSince))
	for _, a := range saved {
		if a.State == StatePending && outage > outageTolerance {
			continue
		}
		if a.State == StateInactive && ts.Sub(a.ResolvedAt) > ResolvedRetention {
			continue
		}
		cp := *a
		if cp.State == StatePending {
			cp.ActiveAt = cp.ActiveAt.Add(outage)
		}
		s.Active[a.Labels.Fingerprint()] = &cp
	}
}

// Snapshot copies the alerts for persistence or display.
func (s *AlertSet) Snapshot() []*Alert {
	out := s.sorted()
	for i, a := range out {
		cp := *a
		out[i] = &cp
	}
	return out
}
