package evaluator

import (
	"errors"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// Sender takes the alerts due at a cycle. It must not block: delivery,
// retries and queues are the notifier's business.
type Sender interface {
	Send(alerts ...*model.Alert)
}

// AlertSLOBurnRate is the alertname of SLO burn-rate alerts.
const AlertSLOBurnRate = rules.AlertSLOBurnRate

// DefaultOutageTolerance is how long the sentinel may be down and still
// resume a pending alert's "for" where it left off, as Prometheus's
// --rules.alert.for-outage-tolerance.
const DefaultOutageTolerance = time.Hour

// EngineOptions configure an Engine; zero values get defaults.
type EngineOptions struct {
	Interval       time.Duration
	ResendInterval time.Duration
	ExternalLabels map[string]string
	ExternalURL    string
	// StateDir keeps alert state across restarts; empty disables it.
	StateDir        string
	OutageTolerance time.Duration
	Logger          *slog.Logger
	Registerer      prometheus.Registerer
	// Now is the clock of the live loop only; a cycle gets its time passed in.
	Now func() time.Time
}

// Engine turns evaluations into alerts. Its cycle (cycle.go) evaluates,
// updates every rule's alerts, persists and sends; its schedule
// (schedule.go) runs the cycle every interval; the methods here restore
// state and serve what the web and the CLI read.
type Engine struct {
	ev    *Evaluator
	rules []rule
	// byKey and indicators index rules, built once with them.
	byKey      map[ruleKey]rule
	indicators map[string]*indicatorRule
	sender     Sender
	opts       EngineOptions
	store      *Store
	metrics    *engineMetrics

	mu   sync.Mutex // guards sets, last, history and ready
	sets map[ruleKey]*AlertSet
	last *Report
	// history keeps recent reports for the status page's burn charts.
	history []*Report
	// ready is set after the first cycle whose queries all succeeded.
	ready bool
	// lost is the state the sentinel had to discard, by what it was.
	lost map[string]stateLoss
}

// stateLoss is state discarded because it could not be read.
type stateLoss struct {
	at  time.Time
	err error
}

// StateLostFor is how long SentinelStateLost fires after state was
// discarded: long enough to be seen, and to cover the pages that may have
// been forgotten with it.
const StateLostFor = time.Hour

// NewEngine builds an engine. It does not read state; call Restore.
func NewEngine(ev *Evaluator, sender Sender, opts EngineOptions) (*Engine, error) {
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.ResendInterval <= 0 {
		opts.ResendInterval = DefaultResendInterval
	}
	if opts.OutageTolerance <= 0 {
		opts.OutageTolerance = DefaultOutageTolerance
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{ev: ev, sender: sender, opts: opts, sets: map[ruleKey]*AlertSet{}, lost: map[string]stateLoss{}}
	ctx := alertContext{externalLabels: opts.ExternalLabels, externalURL: opts.ExternalURL, logger: opts.Logger}
	var sloNames []string
	for _, s := range ev.slos {
		e.rules = append(e.rules, &sloRule{slo: s, ctx: ctx})
		sloNames = append(sloNames, s.Name)
	}
	for _, in := range ev.indicators {
		e.rules = append(e.rules, &indicatorRule{in: in, ctx: ctx})
	}
	e.rules = append(e.rules, metaRules(ctx, opts.Interval, sloNames, e.losses)...)
	e.byKey, e.indicators = map[ruleKey]rule{}, map[string]*indicatorRule{}
	for _, r := range e.rules {
		e.byKey[r.key()] = r
		if ir, ok := r.(*indicatorRule); ok {
			e.indicators[ir.in.Name] = ir
		}
	}
	if opts.StateDir != "" {
		st, err := NewStore(opts.StateDir)
		if err != nil {
			return nil, err
		}
		e.store = st
	}
	e.metrics = newEngineMetrics(opts.Registerer)
	return e, nil
}

// set returns the alert set of r, creating it.
func (e *Engine) set(r rule) *AlertSet {
	s, ok := e.sets[r.key()]
	if !ok {
		s = NewAlertSet(r.timing())
		e.sets[r.key()] = s
	}
	s.Timing = r.timing()
	return s
}

// Restore loads persisted alert state at ts. A damaged file is moved aside
// and reported, and SentinelStateLost fires: the engine then starts empty
// rather than not at all, since a sentinel that does not start pages no one.
// The error is for what stops the start: a state directory it cannot read.
func (e *Engine) Restore(ts time.Time) error {
	if e.store == nil {
		return nil
	}
	sf, err := e.store.Load(ts)
	if err != nil && !errors.Is(err, ErrCorruptState) {
		return err
	}
	if err != nil {
		e.StateLost("alerts", ts, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	downSince := sf.SavedAt
	if downSince.IsZero() {
		downSince = ts
	}
	n := 0
	for key, alerts := range sf.Rules {
		s := NewAlertSet(Timing{})
		s.Restore(ts, alerts, downSince, e.opts.OutageTolerance)
		e.sets[key] = s
		n += len(s.Active)
	}
	e.restoreLosses()
	e.noteOrphans()
	if n > 0 {
		e.opts.Logger.Info("alert state restored", "alerts", n, "saved_at", sf.SavedAt, "file", e.store.Path())
	}
	return nil
}

// restoreLosses takes back the losses a restored SentinelStateLost still
// reports, so that it fires for its hour across a restart rather than
// resolve at the first cycle. The caller holds mu.
func (e *Engine) restoreLosses() {
	s := e.sets[ruleKey{kindMeta, "state_lost"}]
	if s == nil {
		return
	}
	for _, a := range s.Active {
		what := string(a.Labels["state"])
		at, err := time.Parse(time.RFC3339Nano, string(a.Annotations["lost_at"]))
		if a.State == StateInactive || what == "" || err != nil {
			continue
		}
		if _, known := e.lost[what]; !known {
			e.lost[what] = stateLoss{at: at, err: errors.New(string(a.Annotations["cause"]))}
		}
	}
}

// StateLost records that state named what (the alert state, a notifier's
// outbox) was discarded at ts: it is logged loudly and SentinelStateLost
// fires for StateLostFor.
func (e *Engine) StateLost(what string, ts time.Time, err error) {
	e.opts.Logger.Error("state could not be read and was discarded; starting without it", "state", what, "err", err)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lost[what] = stateLoss{at: ts, err: err}
}

// losses are the discards still to be alerted on at ts; the caller holds mu.
func (e *Engine) losses(ts time.Time) map[string]stateLoss {
	out := map[string]stateLoss{}
	for what, l := range e.lost {
		if ts.Sub(l.at) < StateLostFor {
			out[what] = l
		}
	}
	return out
}

// noteOrphans logs the alert sets of rules the configuration no longer
// has. They are not dropped: each cycle resolves them (see apply), so that
// receivers hear the resolve instead of waiting for endsAt.
func (e *Engine) noteOrphans() {
	for k, s := range e.sets {
		if !e.configured(k) && len(s.Active) > 0 {
			e.opts.Logger.Info("rule no longer configured: its alerts resolve", "rule", k.String(), "alerts", len(s.Active))
		}
	}
}

func (e *Engine) configured(k ruleKey) bool {
	_, ok := e.byKey[k]
	return ok
}

// CopyState takes over the alert state of the engine this one replaces on a
// reload, so a reload neither re-pages nor forgets.
func (e *Engine) CopyState(old *Engine) {
	old.mu.Lock()
	defer old.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, s := range old.sets {
		cp := NewAlertSet(s.Timing)
		for fp, a := range s.Active {
			ac := *a
			cp.Active[fp] = &ac
		}
		e.sets[k] = cp
	}
	e.noteOrphans()
	e.ready = old.ready
	maps.Copy(e.lost, old.lost)
	e.history = append([]*Report(nil), old.history...)
	e.last = old.last
	e.ev.AdoptEvents(old.ev)
}

// Ready reports whether a cycle has completed with every query answered.
func (e *Engine) Ready() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ready
}

// historyLen bounds the reports kept for charts: two hours at 30s.
const historyLen = 240

// History returns the recent reports, oldest first.
func (e *Engine) History() []*Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*Report(nil), e.history...)
}

// Last returns the latest report, or nil before the first cycle.
func (e *Engine) Last() *Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// Alerts returns a copy of every alert the engine holds.
func (e *Engine) Alerts() []*Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.alerts()
}

func (e *Engine) alerts() []*Alert {
	var out []*Alert
	for _, s := range e.sets {
		out = append(out, s.Snapshot()...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Labels.Before(out[j].Labels) })
	return out
}
