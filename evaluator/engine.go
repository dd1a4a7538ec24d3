package evaluator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
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

// Alert names of the alerts the sentinel raises about itself and its SLOs.
const (
	AlertSLOBurnRate       = "SLOBurnRate"
	AlertWatchdog          = "SentinelWatchdog"
	AlertPrometheusDown    = "SentinelPrometheusDown"
	AlertNoData            = "SentinelNoData"
	AlertEvaluationFailing = "SentinelEvaluationFailing"
)

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

// Engine turns evaluations into alerts: it runs the cycle (evaluate, update
// alert state, persist, send) and the schedule.
type Engine struct {
	ev      *Evaluator
	sender  Sender
	opts    EngineOptions
	store   *Store
	metrics *engineMetrics
	tmpls   map[string]map[string]*template.Template
	// indicatorTmpls are the parsed annotation templates of indicators.
	indicatorTmpls map[string]map[string]*template.Template

	mu   sync.Mutex // guards sets, last and history
	sets map[string]*AlertSet
	last *Result
	// history keeps recent results for the status page's burn charts.
	history []*Result
	// ready is set after the first cycle whose queries all succeeded.
	ready bool
}

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
	e := &Engine{ev: ev, sender: sender, opts: opts, sets: map[string]*AlertSet{},
		tmpls: map[string]map[string]*template.Template{}, indicatorTmpls: map[string]map[string]*template.Template{}}
	for _, s := range ev.slos {
		ts, err := parseAnnotations("SLO", s.Name, s.Annotations)
		if err != nil {
			return nil, err
		}
		e.tmpls[s.Name] = ts
	}
	for _, in := range ev.indicators {
		ts, err := parseAnnotations("indicator", in.Name, in.Annotations)
		if err != nil {
			return nil, err
		}
		e.indicatorTmpls[in.Name] = ts
	}
	if opts.StateDir != "" {
		st, err := NewStore(opts.StateDir)
		if err != nil {
			return nil, err
		}
		e.store = st
	}
	e.metrics = newEngineMetrics(opts.Registerer, e)
	return e, nil
}

// parseAnnotations parses a rule's annotation values as templates once, at
// construction, so a cycle only executes them.
func parseAnnotations(kind, name string, annotations map[string]string) (map[string]*template.Template, error) {
	ts := map[string]*template.Template{}
	for k, v := range annotations {
		t, err := rules.ParseTemplate(name+"/"+k, v)
		if err != nil {
			return nil, fmt.Errorf("%s %q annotation %s: %w", kind, name, k, err)
		}
		ts[k] = t
	}
	return ts, nil
}

// set returns the alert set of a rule, creating it with t.
func (e *Engine) set(key string, t Timing) *AlertSet {
	s, ok := e.sets[key]
	if !ok {
		s = NewAlertSet(t)
		e.sets[key] = s
	}
	s.Timing = t
	return s
}

// Restore loads persisted alert state at ts. A corrupt file is moved aside
// and reported; the engine then starts empty rather than not at all.
func (e *Engine) Restore(ts time.Time) error {
	if e.store == nil {
		return nil
	}
	sf, err := e.store.Load(ts)
	if err != nil && !errors.Is(err, ErrCorruptState) {
		return err
	}
	if err != nil {
		e.opts.Logger.Error("alert state could not be restored", "err", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	downSince := sf.SavedAt
	if downSince.IsZero() {
		downSince = ts
	}
	n := 0
	for key, alerts := range sf.Rules {
		s := e.set(key, Timing{})
		s.Restore(ts, alerts, downSince, e.opts.OutageTolerance)
		n += len(s.Active)
	}
	e.prune()
	if n > 0 {
		e.opts.Logger.Info("alert state restored", "alerts", n, "saved_at", sf.SavedAt, "file", e.store.Path())
	}
	return err
}

// ruleKeys are the alert sets this engine's configuration evaluates.
func (e *Engine) ruleKeys() map[string]bool {
	keys := map[string]bool{"meta:watchdog": true, "meta:prometheus_down": true, "meta:nodata": true, "meta:failing": true}
	for _, s := range e.ev.slos {
		keys["slo:"+s.Name] = true
	}
	for _, in := range e.ev.indicators {
		keys["indicator:"+in.Name] = true
	}
	return keys
}

// prune drops the alerts of rules the configuration no longer has: nothing
// would ever update them, and re-sending them would keep them firing for
// ever. Alertmanager lets them expire at their endsAt.
func (e *Engine) prune() {
	keys := e.ruleKeys()
	for k, s := range e.sets {
		if !keys[k] {
			e.opts.Logger.Info("dropping the alerts of a rule no longer configured", "rule", k, "alerts", len(s.Active))
			delete(e.sets, k)
		}
	}
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
	e.prune()
	e.ready = old.ready
	e.history = append([]*Result(nil), old.history...)
	e.last = old.last
}

// Cycle evaluates at ts, updates every alert, saves state and sends what is
// due. It returns the evaluation.
func (e *Engine) Cycle(ctx context.Context, ts time.Time) *Result {
	start := e.opts.Now()
	res := e.ev.Eval(ctx, ts)
	// Name detection queries Prometheus every cycle, so its outcome says
	// whether Prometheus answers, even with no SLO configured.
	probeErr := res.detectErr

	e.mu.Lock()
	before := e.states()
	e.updateSLOAlerts(res)
	e.updateIndicatorAlerts(res)
	e.updateMetaAlerts(ts, res, probeErr)
	e.logTransitions(before)
	due := e.due(ts)
	e.last = res
	e.history = append(e.history, res)
	if len(e.history) > historyLen {
		e.history = e.history[len(e.history)-historyLen:]
	}
	// Ready once Prometheus answered a whole cycle; an absent metric is a
	// finding about vLLM, not a failure of the sentinel.
	healthy := probeErr == nil
	for _, ee := range res.Errors {
		healthy = healthy && !ee.Unavailable
	}
	if healthy {
		e.ready = true
	}
	var snapshot *stateFile
	if e.store != nil {
		snapshot = &stateFile{SavedAt: ts, Rules: map[string][]*Alert{}}
		for k, s := range e.sets {
			if len(s.Active) > 0 {
				snapshot.Rules[k] = s.Snapshot()
			}
		}
	}
	e.mu.Unlock()

	if snapshot != nil {
		if err := e.store.Save(snapshot); err != nil {
			e.opts.Logger.Error("saving alert state failed", "err", err)
			e.metrics.stateSaveFailures.Inc()
		}
	}
	if len(due) > 0 && e.sender != nil {
		e.sender.Send(due...)
	}
	e.metrics.observeCycle(e.opts.Now().Sub(start), res, probeErr)
	return res
}

// states records every alert's state, to log what a cycle changed.
func (e *Engine) states() map[model.Fingerprint]AlertState {
	out := map[model.Fingerprint]AlertState{}
	for _, s := range e.sets {
		for fp, a := range s.Active {
			out[fp] = a.State
		}
	}
	return out
}

// logTransitions logs alerts that started firing or resolved this cycle:
// the resends in between would only be noise.
func (e *Engine) logTransitions(before map[model.Fingerprint]AlertState) {
	for _, s := range e.sets {
		for fp, a := range s.Active {
			was, ok := before[fp]
			if ok && was == a.State {
				continue
			}
			attrs := []any{"alertname", string(a.Labels[model.AlertNameLabel]), "labels", a.Labels.String(), "value", a.Value}
			switch {
			case a.State == StateFiring:
				e.opts.Logger.Info("alert firing", append(attrs, "summary", string(a.Annotations["summary"]))...)
			case a.State == StatePending:
				e.opts.Logger.Debug("alert pending", attrs...)
			case ok && a.State == StateInactive:
				e.opts.Logger.Info("alert resolved", append(attrs, "fired_at", a.FiredAt)...)
			}
		}
	}
}

func (e *Engine) due(ts time.Time) []*model.Alert {
	keys := make([]string, 0, len(e.sets))
	for k := range e.sets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	gen := strings.TrimSuffix(e.opts.ExternalURL, "/") + "/"
	var out []*model.Alert
	for _, k := range keys {
		out = append(out, e.sets[k].Due(ts, e.opts.ResendInterval, e.opts.Interval, gen)...)
	}
	return out
}

func (e *Engine) withExternal(ls model.LabelSet) model.LabelSet {
	for k, v := range e.opts.ExternalLabels {
		if _, ok := ls[model.LabelName(k)]; !ok {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
	}
	return ls
}

// alertData is what annotation templates see.
type alertData struct {
	Labels          map[string]string
	SLO             string
	Description     string
	Objective       float64
	LongWindow      string
	ShortWindow     string
	Factor          float64
	BurnRate        float64
	ShortBurnRate   float64
	ErrorRatio      float64
	BudgetRemaining float64
	Exhaustion      string
	// From and To bound the long window: a dashboard or trace link shows
	// the time that made the alert fire.
	From, To    time.Time
	ExternalURL string
}

func (e *Engine) updateSLOAlerts(res *Result) {
	conds := map[string][]Condition{}
	failed := map[string]bool{}
	for _, se := range res.Errors {
		// An absent metric is an answer (no data: the pairs do not fire,
		// SentinelNoData does). A failed evaluation is not: keep the alerts
		// as they are rather than resolve a page because Prometheus blinked;
		// SentinelPrometheusDown or SentinelEvaluationFailing says why.
		if se.SLO != "" && se.Absent == "" {
			failed[se.SLO] = true
		}
	}
	for _, r := range res.SLOs {
		for _, f := range r.Firing {
			conds[r.SLO] = append(conds[r.SLO], e.burnCondition(res.Time, &r, f))
		}
	}
	for _, s := range e.ev.slos {
		if failed[s.Name] {
			continue
		}
		e.set("slo:"+s.Name, Timing{}).Update(res.Time, conds[s.Name])
	}
}

// indicatorLabels are the labels of an indicator's alert for one group.
func (e *Engine) indicatorLabels(in *rules.Indicator, group map[string]string) model.LabelSet {
	ls := model.LabelSet{
		model.AlertNameLabel: model.LabelValue(in.Alertname),
		"indicator":          model.LabelValue(in.Name),
		"severity":           model.LabelValue(in.Severity),
	}
	for k, v := range group {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	for k, v := range in.Labels {
		if _, taken := ls[model.LabelName(k)]; !taken {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
	}
	return e.withExternal(ls)
}

// indicatorData is what indicator annotation templates see.
type indicatorData struct {
	Labels      map[string]string
	Indicator   string
	Value       float64
	Threshold   float64
	From, To    time.Time
	ExternalURL string
}

func (e *Engine) updateIndicatorAlerts(res *Result) {
	skip := map[string]bool{}
	for _, ee := range res.Errors {
		if ee.Indicator != "" && ee.Absent == "" {
			// Unknown this cycle: keep the alerts as they are (see
			// updateSLOAlerts); an absent metric resolves them instead.
			skip[ee.Indicator] = true
		}
	}
	byName := map[string][]int{}
	for i, r := range res.Indicators {
		byName[r.Indicator] = append(byName[r.Indicator], i)
	}
	for _, in := range e.ev.indicators {
		if skip[in.Name] {
			continue
		}
		set := e.set("indicator:"+in.Name, Timing{For: in.For, KeepFiringFor: in.KeepFiringFor})
		var conds []Condition
		for _, i := range byName[in.Name] {
			r := &res.Indicators[i]
			if !r.Active {
				continue
			}
			group := groupWithout(r.Labels, "indicator")
			ann := indicatorAnnotations(in, group, float64(r.Value))
			ls := e.indicatorLabels(in, group)
			d := indicatorData{Labels: map[string]string{}, Indicator: in.Name, Value: float64(r.Value), Threshold: in.Threshold(),
				From: res.Time.Add(-max(in.Window(), in.For)), To: res.Time, ExternalURL: e.opts.ExternalURL}
			for k, v := range ls {
				d.Labels[string(k)] = string(v)
			}
			for k, t := range e.indicatorTmpls[in.Name] {
				v, err := rules.ExpandTemplate(t, d)
				if err != nil {
					e.opts.Logger.Warn("annotation template failed", "indicator", in.Name, "annotation", k, "err", err)
					v = err.Error()
				}
				ann[model.LabelName(k)] = model.LabelValue(v)
			}
			conds = append(conds, Condition{Labels: ls, Annotations: ann, Value: float64(r.Value)})
		}
		set.Update(res.Time, conds)
		for _, i := range byName[in.Name] {
			r := &res.Indicators[i]
			if a := set.Active[e.indicatorLabels(in, groupWithout(r.Labels, "indicator")).Fingerprint()]; a != nil {
				r.State = a.State.String()
			}
		}
	}
}

func groupWithout(m map[string]string, drop string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if k != drop {
			out[k] = v
		}
	}
	return out
}

func (e *Engine) burnCondition(ts time.Time, r *SLOResult, f FiringPair) Condition {
	ls := model.LabelSet{
		model.AlertNameLabel: AlertSLOBurnRate,
		"slo":                model.LabelValue(r.SLO),
		"severity":           model.LabelValue(f.Severity),
		"slo_tier":           model.LabelValue(f.Tier),
		"long_window":        model.LabelValue(f.LongWindow.String()),
		"short_window":       model.LabelValue(f.ShortWindow.String()),
	}
	for k, v := range r.Labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	var slo *rules.SLO
	for _, s := range e.ev.slos {
		if s.Name == r.SLO {
			slo = s
		}
	}
	if slo != nil {
		for k, v := range slo.Labels {
			if _, taken := ls[model.LabelName(k)]; !taken {
				ls[model.LabelName(k)] = model.LabelValue(v)
			}
		}
	}
	ls = e.withExternal(ls)

	long := r.Window(f.LongWindow.D())
	d := alertData{
		Labels: map[string]string{}, SLO: r.SLO, Objective: r.Objective,
		LongWindow: f.LongWindow.String(), ShortWindow: f.ShortWindow.String(), Factor: f.Factor,
		BurnRate: f.LongBurnRate, ShortBurnRate: f.ShortBurnRate,
		From: ts.Add(-f.LongWindow.D()), To: ts, ExternalURL: e.opts.ExternalURL,
	}
	for k, v := range ls {
		d.Labels[string(k)] = string(v)
	}
	if slo != nil {
		d.Description = slo.Description
	}
	if long != nil && long.ErrorRatio != nil {
		d.ErrorRatio = *long.ErrorRatio
	}
	budget, exh := "unknown", "not at the current rate"
	if r.BudgetRemaining != nil {
		d.BudgetRemaining = *r.BudgetRemaining
		budget = pct(*r.BudgetRemaining)
	}
	if r.Exhaustion != nil {
		d.Exhaustion = r.Exhaustion.String()
		exh = "in " + d.Exhaustion
		if time.Duration(*r.Exhaustion) == 0 {
			exh = "already"
		}
	}
	group := fmtGroup(r.Labels)
	ann := model.LabelSet{
		"summary": model.LabelValue(fmt.Sprintf("SLO %s%s is burning its error budget %sx too fast over %s and %s",
			r.SLO, group, num(f.LongBurnRate), d.LongWindow, d.ShortWindow)),
		"description": model.LabelValue(fmt.Sprintf(
			"%s: %s of events were bad over the last %s against an objective of %g%%. Burn rate %s over %s and %s over %s (fires above %s). Error budget left: %s; exhausted %s.%s",
			r.SLO, pct(d.ErrorRatio), d.LongWindow, r.Objective, num(f.LongBurnRate), d.LongWindow, num(f.ShortBurnRate), d.ShortWindow, num(f.Factor), budget, exh, approxNote(r))),
	}
	// Figures on their own, for receivers that show them as fields (Slack).
	ann["burn_rate"] = model.LabelValue(num(f.LongBurnRate))
	ann["error_ratio"] = model.LabelValue(pct(d.ErrorRatio))
	ann["budget_left"] = model.LabelValue(budget)
	ann["time_to_exhaustion"] = model.LabelValue(strings.TrimPrefix(exh, "in "))
	for k, t := range e.tmpls[r.SLO] {
		v, err := rules.ExpandTemplate(t, d)
		if err != nil {
			e.opts.Logger.Warn("annotation template failed", "slo", r.SLO, "annotation", k, "err", err)
			v = err.Error()
		}
		ann[model.LabelName(k)] = model.LabelValue(v)
	}
	return Condition{Labels: ls, Annotations: ann, Value: f.LongBurnRate}
}

func approxNote(r *SLOResult) string {
	if r.Approximate {
		return " Note: " + r.Note + "."
	}
	return ""
}

func fmtGroup(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	return " (" + joinLabels(m, ", ") + ")"
}

func pct(v float64) string { return strconv.FormatFloat(v*100, 'f', 2, 64) + "%" }

func num(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func (e *Engine) updateMetaAlerts(ts time.Time, res *Result, probeErr error) {
	meta := func(name, severity string, extra model.LabelSet) model.LabelSet {
		ls := model.LabelSet{model.AlertNameLabel: model.LabelValue(name), "severity": model.LabelValue(severity)}
		for k, v := range extra {
			ls[k] = v
		}
		return e.withExternal(ls)
	}
	e.set("meta:watchdog", Timing{}).Update(ts, []Condition{{
		Labels: meta(AlertWatchdog, "none", nil),
		Annotations: model.LabelSet{
			"summary":     "vllm-sentinel is evaluating (dead man's switch)",
			"description": "This alert always fires while vllm-sentinel runs. Route it to a dead man's switch: its absence means the sentinel or its delivery is down.",
		},
	}})

	var down []Condition
	var reasons []string
	if probeErr != nil {
		reasons = append(reasons, probeErr.Error())
	}
	for _, se := range res.Errors {
		if se.Unavailable {
			reasons = append(reasons, se.Error)
		}
	}
	if len(reasons) > 0 {
		down = append(down, Condition{
			Labels: meta(AlertPrometheusDown, "critical", nil),
			Annotations: model.LabelSet{
				"summary":     "vllm-sentinel cannot query Prometheus: SLOs are not being evaluated",
				"description": model.LabelValue("Queries are failing, so burn-rate alerts cannot fire. First error: " + reasons[0]),
			},
		})
	}
	e.set("meta:prometheus_down", Timing{For: 2 * e.opts.Interval}).Update(ts, down)

	var nodata []Condition
	groups := map[string]int{}
	for _, r := range res.SLOs {
		if r.State != StateNoData {
			groups[r.SLO]++
		}
	}
	errs := map[string]EvalError{}
	for _, se := range res.Errors {
		if se.SLO != "" {
			errs[se.SLO] = se
		}
	}
	for _, s := range e.ev.slos {
		se, failed := errs[s.Name]
		if failed && se.Absent == "" {
			continue // a failing query is not missing data
		}
		if groups[s.Name] > 0 {
			continue
		}
		extra := model.LabelSet{"slo": model.LabelValue(s.Name)}
		what := "no events in any window"
		if se.Absent != "" {
			extra["metric"] = model.LabelValue(se.Absent)
			what = "metric " + se.Absent + " is absent"
		}
		nodata = append(nodata, Condition{
			Labels: meta(AlertNoData, "warning", extra),
			Annotations: model.LabelSet{
				"summary":     model.LabelValue(fmt.Sprintf("SLO %s has no data: %s", s.Name, what)),
				"description": "Without data the SLO cannot burn and cannot page. Check that Prometheus scrapes vLLM, vllm.selector, and vllm.metric_names.",
			},
		})
	}
	for _, ee := range res.Errors {
		if ee.Indicator == "" || ee.Absent == "" {
			continue
		}
		nodata = append(nodata, Condition{
			Labels: meta(AlertNoData, "warning", model.LabelSet{"indicator": model.LabelValue(ee.Indicator), "metric": model.LabelValue(ee.Absent)}),
			Annotations: model.LabelSet{
				"summary":     model.LabelValue(fmt.Sprintf("Indicator %s has no data: metric %s is absent", ee.Indicator, ee.Absent)),
				"description": "An absent metric is not zero: the indicator cannot warn. Check that Prometheus scrapes vLLM, vllm.selector, and vllm.metric_names.",
			},
		})
	}
	e.set("meta:nodata", Timing{For: 5 * e.opts.Interval}).Update(ts, nodata)

	var failing []Condition
	for _, ee := range res.Errors {
		if ee.Unavailable || ee.Absent != "" {
			continue // PrometheusDown and NoData cover these
		}
		extra, subject := model.LabelSet{"slo": model.LabelValue(ee.SLO)}, "SLO "+ee.SLO
		if ee.Indicator != "" {
			extra, subject = model.LabelSet{"indicator": model.LabelValue(ee.Indicator)}, "indicator "+ee.Indicator
		}
		failing = append(failing, Condition{
			Labels: meta(AlertEvaluationFailing, "warning", extra),
			Annotations: model.LabelSet{
				"summary":     model.LabelValue(fmt.Sprintf("vllm-sentinel cannot evaluate %s", subject)),
				"description": model.LabelValue("Its alerts are frozen until it evaluates again. Error: " + ee.Error),
			},
		})
	}
	e.set("meta:failing", Timing{For: 5 * e.opts.Interval}).Update(ts, failing)
}

// WarmUp evaluates the indicators at every interval before ts, back as far
// as WarmUpSpan, so that a one-off evaluation at ts reports pending and
// firing as the live loop would have. q serves those past times (a
// RangeCache over them costs one range query per indicator query).
func (e *Engine) WarmUp(ctx context.Context, q Querier, ts time.Time) {
	steps := int(e.WarmUpSpan() / e.opts.Interval)
	if steps == 0 {
		return
	}
	if err := e.ev.opts.Names.Detect(ctx, q, ts); err != nil {
		e.opts.Logger.Warn("metric name detection failed", "err", err)
	}
	for i := steps; i > 0; i-- {
		t := ts.Add(-time.Duration(i) * e.opts.Interval)
		res := &Result{Time: t, Indicators: []IndicatorResult{}}
		e.ev.evalIndicators(ctx, q, t, res)
		e.mu.Lock()
		e.updateIndicatorAlerts(res)
		e.mu.Unlock()
	}
}

// WarmUpSpan is how far back WarmUp evaluates.
func (e *Engine) WarmUpSpan() time.Duration {
	var span time.Duration
	for _, in := range e.ev.indicators {
		span = max(span, in.For+in.KeepFiringFor)
	}
	return span.Truncate(e.opts.Interval)
}

// Ready reports whether a cycle has completed with every query answered.
func (e *Engine) Ready() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ready
}

// historyLen bounds the results kept for charts: two hours at 30s.
const historyLen = 240

// History returns the recent evaluations, oldest first.
func (e *Engine) History() []*Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*Result(nil), e.history...)
}

// Last returns the latest evaluation, or nil before the first.
func (e *Engine) Last() *Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// Alerts returns a copy of every alert the engine holds.
func (e *Engine) Alerts() []*Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*Alert
	for _, s := range e.sets {
		out = append(out, s.Snapshot()...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Labels.Before(out[j].Labels) })
	return out
}

// Run evaluates every interval until ctx ends, at times aligned to the
// interval. Cycles never overlap: a slow cycle delays the next and the
// skipped slots are counted. The cycle in progress when ctx ends finishes
// first (with its own deadline), so its state is saved and sends queued.
func (e *Engine) Run(ctx context.Context) {
	interval := e.opts.Interval
	next := e.opts.Now().Truncate(interval).Add(interval)
	// Evaluate once at start so readiness and the watchdog need no wait.
	e.runCycle(ctx, e.opts.Now())
	for {
		wait := next.Sub(e.opts.Now())
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		// A timer and a cancelled context can both be ready; select picks
		// either, so check: after SIGTERM no new cycle starts.
		if ctx.Err() != nil {
			return
		}
		e.runCycle(ctx, next)
		now := e.opts.Now()
		next = next.Add(interval)
		if missed := now.Sub(next); missed >= 0 {
			skipped := int(missed/interval) + 1
			e.metrics.iterationsMissed.Add(float64(skipped))
			e.opts.Logger.Warn("evaluation took longer than the interval; slots skipped", "skipped", skipped, "interval", interval)
			next = next.Add(time.Duration(skipped) * interval)
		}
	}
}

func (e *Engine) runCycle(ctx context.Context, ts time.Time) {
	// The cycle is not cut short by shutdown: it gets its own deadline so
	// that SIGTERM "finishes the cycle".
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(e.opts.Interval, 10*time.Second))
	defer cancel()
	e.Cycle(cctx, ts)
}
