// Package dispatch groups, deduplicates and durably delivers alerts for
// notifiers that, unlike Alertmanager, cannot do that themselves (Slack,
// webhooks). It is Alertmanager's dispatch, dedup and retry stages in one
// loop, with an outbox on disk in place of the notification log:
//
//   - Send puts alerts into aggregation groups keyed by the group_by labels.
//     A group flushes group_wait after it appears, then every group_interval.
//   - A flush notifies only when the group's set of firing alerts grew, when
//     an alert resolved (with SendResolved), when every alert resolved, or
//     when repeat_interval has passed: the engine's resends every minute are
//     not repeated to the receiver.
//   - Each notification goes to a bounded outbox on disk and is delivered by
//     one worker, oldest first, retried with backoff until it succeeds or is
//     refused for good. A restart picks up the outbox and the groups where
//     they were.
//
// Each attempt carries the notification's notify.Meta on its context, which
// the Slack and webhook notifiers read.
package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// Defaults for the zero fields of Options; the intervals are
// Alertmanager's.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
	DefaultOutboxCapacity = 1000
	DefaultBackoff        = time.Second
	DefaultMaxBackoff     = time.Minute
)

// maxRetryAfter caps a receiver's Retry-After, which is honoured in full up
// to here, past MaxBackoff: a receiver that asks for a pause gets it, but a
// broken header must not park the outbox for a day.
const maxRetryAfter = time.Hour

// Options configures a Dispatcher. Zero fields take the defaults above.
type Options struct {
	// Name is the notifier's name from the config; it labels logs and
	// metrics.
	Name string
	// GroupBy lists the labels that split alerts into groups; alerts that
	// lack a label are grouped as if it were empty. Empty: one group for
	// everything. ["..."]: every label set is its own group.
	GroupBy []string
	// GroupWait is how long a new group collects alerts before its first
	// notification; GroupInterval how long it waits before notifying of a
	// change; RepeatInterval how long before notifying again of no change.
	GroupWait      time.Duration
	GroupInterval  time.Duration
	RepeatInterval time.Duration
	// SendResolved includes resolved alerts in notifications. Without it a
	// group is notified only while something fires.
	SendResolved bool
	// OutboxDir holds the outbox and the groups, so that neither is lost in
	// a restart. Empty keeps both in memory only. One directory must serve
	// one running Dispatcher at a time.
	OutboxDir string
	// OutboxCapacity bounds the notifications waiting for delivery; when
	// full, the oldest is dropped.
	OutboxCapacity int
	// Backoff is the delay before the first retry of a notification; it
	// doubles, with jitter, up to MaxBackoff. A receiver's Retry-After
	// (a *notify.StatusError's) is waited for in full.
	Backoff    time.Duration
	MaxBackoff time.Duration
	Logger     *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now and After are the clock, for tests.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// OnStateLost, when set, is called once by the first Run, from its
	// goroutine and before it delivers anything, if it found files in
	// OutboxDir damaged or unreadable and discarded some of what they held:
	// notifications, groups, or what the groups last notified. err wraps
	// ErrStateLost and says what was lost; StateLost returns it later. The
	// daemon raises an alert of its own from it. It must not block.
	OnStateLost func(err error)
}

// WithGrouping returns o with the grouping settings of a notifier's
// config entry; send_resolved left out means true. A group_by that lists
// "..." among labels groups by all of them, as "..." alone does: the
// entry's check accepts it, and so must the Dispatcher built from it.
func (o Options) WithGrouping(g notify.Grouping) Options {
	o.GroupBy = g.GroupBy
	if slices.Contains(g.GroupBy, groupAll) {
		o.GroupBy = []string{groupAll}
	}
	o.GroupWait = time.Duration(g.GroupWait)
	o.GroupInterval = time.Duration(g.GroupInterval)
	o.RepeatInterval = time.Duration(g.RepeatInterval)
	o.SendResolved = g.SendsResolved()
	return o
}

// Dispatcher groups alerts for one notifier and delivers the notifications
// through an outbox. Send may be called at any time; Run does the work.
type Dispatcher struct {
	n        notify.Notifier
	o        Options
	grouping grouping
	backoff  notify.Backoff
	logger   *slog.Logger
	m        *metrics
	store    *store // nil without OutboxDir

	running atomic.Bool
	wake    chan struct{}
	// syncs carries Sync's requests to the loop.
	syncs chan chan struct{}

	mu         sync.Mutex
	inbox      []*notify.Alert
	inboxIndex map[model.Fingerprint]int
	outboxLen  int
	// idle is set while the inbox and the outbox are empty: Flush waits on
	// it.
	idle notify.Idle
	// stateLost is what load discarded; see StateLost.
	stateLost error

	// Owned by the Run goroutine.
	loaded  bool
	groups  map[string]*group
	outbox  []*notification
	nextSeq uint64
	dirty   bool
}

var _ notify.Sender = (*Dispatcher)(nil)

// New checks the options and creates OutboxDir. What the directory holds
// from an earlier run is read when Run starts, not here, so that a
// Dispatcher built for a new config can be made while the old one still
// runs on the same directory.
func New(n notify.Notifier, o Options) (*Dispatcher, error) {
	if o.Name == "" {
		return nil, errors.New("dispatch: a notifier name is required")
	}
	if n == nil {
		return nil, fmt.Errorf("dispatch %s: no notifier", o.Name)
	}
	o = withDefaults(o)
	if o.GroupWait < 0 || o.GroupInterval < 0 || o.RepeatInterval < 0 || o.OutboxCapacity < 0 {
		return nil, fmt.Errorf("dispatch %s: intervals and capacity must not be negative", o.Name)
	}
	backoff, err := notify.Backoff{Initial: o.Backoff, Max: o.MaxBackoff}.Resolve(
		notify.Backoff{Initial: DefaultBackoff, Max: DefaultMaxBackoff, MaxRetryAfter: maxRetryAfter})
	if err != nil {
		return nil, fmt.Errorf("dispatch %s: %w", o.Name, err)
	}
	gr, err := newGrouping(o.GroupBy)
	if err != nil {
		return nil, fmt.Errorf("dispatch %s: %w", o.Name, err)
	}
	m, err := newMetrics(o.Name, o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("dispatch %s: %w", o.Name, err)
	}
	d := &Dispatcher{
		n:          n,
		o:          o,
		grouping:   gr,
		backoff:    backoff,
		logger:     notify.NotifierLogger(o.Logger, o.Name),
		m:          m,
		wake:       make(chan struct{}, 1),
		syncs:      make(chan chan struct{}),
		inboxIndex: map[model.Fingerprint]int{},
		groups:     map[string]*group{},
		nextSeq:    1,
	}
	if o.OutboxDir != "" {
		if d.store, err = newStore(o.OutboxDir); err != nil {
			return nil, fmt.Errorf("dispatch %s: %w", o.Name, err)
		}
	}
	return d, nil
}

// withDefaults fills the Alertmanager-like intervals, the capacity and
// the clock; the backoffs are notify.Backoff.Resolve's.
func withDefaults(o Options) Options {
	o.GroupWait = cmp.Or(o.GroupWait, DefaultGroupWait)
	o.GroupInterval = cmp.Or(o.GroupInterval, DefaultGroupInterval)
	o.RepeatInterval = cmp.Or(o.RepeatInterval, DefaultRepeatInterval)
	o.OutboxCapacity = cmp.Or(o.OutboxCapacity, DefaultOutboxCapacity)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	return o
}

func newGrouping(by []string) (grouping, error) {
	var gr grouping
	for _, l := range by {
		switch {
		case l == groupAll && len(by) > 1:
			return gr, errors.New(`group_by: "..." groups by all labels and cannot be combined with other labels`)
		case l == groupAll:
			gr.all = true
		case l == "":
			return gr, errors.New("group_by: empty label name")
		case !model.LegacyValidation.IsValidLabelName(l):
			// As a config entry's check refuses it (notify.Grouping).
			return gr, fmt.Errorf("group_by: invalid label name %q", l)
		default:
			gr.labels = append(gr.labels, model.LabelName(l))
		}
	}
	slices.Sort(gr.labels)
	gr.labels = slices.Compact(gr.labels)
	return gr, nil
}

// key is the grouping as stored with the groups, so that a change of
// group_by starts afresh instead of misreading old groups.
func (gr grouping) key() []string {
	if gr.all {
		return []string{groupAll}
	}
	out := make([]string, len(gr.labels))
	for i, l := range gr.labels {
		out[i] = string(l)
	}
	return out
}

// Send queues alerts for grouping and returns at once. The alerts are
// copied, so the caller may reuse them; nil alerts are skipped. Of several
// sends of one alert before the loop takes them in, the last counts.
func (d *Dispatcher) Send(alerts ...*notify.Alert) {
	d.mu.Lock()
	n := 0
	for _, a := range alerts {
		if a == nil {
			continue
		}
		cp := *a
		cp.Labels = a.Labels.Clone()
		cp.Annotations = a.Annotations.Clone()
		fp := cp.Fingerprint()
		if i, ok := d.inboxIndex[fp]; ok {
			d.inbox[i] = &cp
		} else {
			d.inboxIndex[fp] = len(d.inbox)
			d.inbox = append(d.inbox, &cp)
		}
		n++
	}
	if n > 0 {
		d.updateIdleLocked()
	}
	d.mu.Unlock()
	if n > 0 {
		d.poke()
	}
}

func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run groups, flushes and delivers until ctx ends. The first Run reads what
// OutboxDir holds and delivers the pending notifications before new ones.
// A notification being delivered when ctx ends stays in the outbox. Run
// must not be called again before it has returned.
func (d *Dispatcher) Run(ctx context.Context) {
	if !d.running.CompareAndSwap(false, true) {
		panic("dispatch: Dispatcher.Run called while already running")
	}
	defer d.running.Store(false)
	if !d.loaded {
		d.load(d.o.Now())
		d.loaded = true
	}
	var synced chan struct{}
	for {
		d.step(ctx)
		if synced != nil {
			close(synced)
			synced = nil
		}
		if ctx.Err() != nil {
			break
		}
		var timer <-chan time.Time
		if next, ok := d.nextDeadline(); ok {
			timer = d.o.After(max(next.Sub(d.o.Now()), 0))
		}
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-timer:
		case synced = <-d.syncs:
		}
	}
	// What was sent last is kept with the groups for the next Run.
	d.ingest(d.o.Now())
	d.save()
	kept, lost := 0, 0
	for _, n := range d.outbox {
		if n.persisted {
			kept++
		} else {
			lost++
		}
	}
	if kept > 0 {
		d.logger.Warn("stopped with notifications not yet delivered; they stay in the outbox for the next start", "notifications", kept, "dir", d.o.OutboxDir)
	}
	if lost > 0 {
		d.logger.Warn("stopped with notifications not yet delivered that could not be written to disk; they are lost when the process ends", "notifications", lost)
	}
}

// Flush waits until every alert sent before the call has been grouped and
// every notification made so far has been delivered or dropped. Groups
// still in group_wait or group_interval are not hurried: they are kept on
// disk and flush on time, after a restart too. Flush needs Run to be
// running; when ctx ends first the error says what was left and wraps
// ctx.Err().
func (d *Dispatcher) Flush(ctx context.Context) error {
	d.mu.Lock()
	idle := d.idle.Done()
	d.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		d.mu.Lock()
		n, in := d.outboxLen, len(d.inbox)
		d.mu.Unlock()
		return fmt.Errorf("dispatch %s: flush: %d notifications not delivered, %d alerts not grouped: %w", d.o.Name, n, in, ctx.Err())
	}
}

// Sync waits until the loop has taken in every alert sent before the call
// and done all that is due at the clock's current time: flushed the due
// groups and made the due delivery attempts. It needs Run to be running,
// and is meant for tests that drive Options.Now by hand.
func (d *Dispatcher) Sync(ctx context.Context) error {
	c := make(chan struct{})
	select {
	case d.syncs <- c:
	case <-ctx.Done():
		return fmt.Errorf("dispatch %s: sync: %w", d.o.Name, ctx.Err())
	}
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("dispatch %s: sync: %w", d.o.Name, ctx.Err())
	}
}

// step does everything due now: takes in sent alerts, flushes due groups,
// saves the groups, and delivers due notifications one attempt at a time
// so that alerts sent meanwhile are taken in between.
func (d *Dispatcher) step(ctx context.Context) {
	for ctx.Err() == nil {
		now := d.o.Now()
		d.ingest(now)
		d.flushDue(now)
		d.save()
		if !d.deliverDue(ctx, now) {
			break
		}
	}
	d.mu.Lock()
	d.outboxLen = len(d.outbox)
	d.updateIdleLocked()
	d.mu.Unlock()
}

func (d *Dispatcher) updateIdleLocked() {
	d.idle.Set(len(d.inbox) == 0 && d.outboxLen == 0)
}

// nextDeadline is the earliest time something becomes due: a group flush
// or the retry of the oldest notification.
func (d *Dispatcher) nextDeadline() (time.Time, bool) {
	var next time.Time
	for _, g := range d.groups {
		if next.IsZero() || g.next.Before(next) {
			next = g.next
		}
	}
	if len(d.outbox) > 0 {
		if at := d.outbox[0].nextAttempt; next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// ingest puts the sent alerts into their groups.
func (d *Dispatcher) ingest(now time.Time) {
	d.mu.Lock()
	in := d.inbox
	d.inbox = nil
	clear(d.inboxIndex)
	d.mu.Unlock()
	for _, a := range in {
		d.insert(a, now)
	}
}

func (d *Dispatcher) insert(a *notify.Alert, now time.Time) {
	labels := d.grouping.labelsOf(a.Labels)
	key := groupKey(labels)
	g := d.groups[key]
	fp := a.Fingerprint()
	if notify.Resolved(a, now) {
		// The engine repeats a resolve for a while after it happened. Once
		// the group has notified it (and let the alert go), or if the
		// receiver never heard of the alert firing, there is nothing to
		// add.
		if g == nil {
			return
		}
		if _, held := g.alerts[fp]; !held && (g.last == nil || !g.last.firing[fp]) {
			return
		}
	}
	if g == nil {
		g = newGroup(labels, now.Add(d.o.GroupWait))
		d.groups[key] = g
	}
	g.alerts[fp] = a
	// An alert that has fired for longer than group_wait (the sentinel
	// restarted without its groups) need not wait again.
	if !g.flushed && a.StartsAt.Add(d.o.GroupWait).Before(now) && now.Before(g.next) {
		g.next = now
	}
	d.dirty = true
}

// flushDue flushes the groups whose time has come, in key order so that
// the outbox order does not depend on map iteration.
func (d *Dispatcher) flushDue(now time.Time) {
	var due []*group
	for _, g := range d.groups {
		if !g.next.After(now) {
			due = append(due, g)
		}
	}
	slices.SortFunc(due, func(a, b *group) int { return strings.Compare(a.key, b.key) })
	for _, g := range due {
		d.flush(g, now)
	}
}

func (d *Dispatcher) flush(g *group, now time.Time) {
	alerts := g.sorted(now)
	firing := map[model.Fingerprint]bool{}
	resolved := map[model.Fingerprint]bool{}
	for _, a := range alerts {
		if notify.Resolved(a, now) {
			resolved[a.Fingerprint()] = true
		} else {
			firing[a.Fingerprint()] = true
		}
	}
	if needsUpdate(g.last, firing, resolved, d.o.SendResolved, d.o.RepeatInterval, now) {
		payload := alerts
		if !d.o.SendResolved {
			payload = slices.DeleteFunc(slices.Clone(alerts), func(a *notify.Alert) bool { return notify.Resolved(a, now) })
		}
		if len(payload) > 0 {
			d.enqueue(&notification{
				Version:     fileVersion,
				ID:          notify.NewID(),
				GroupKey:    g.key,
				GroupLabels: g.labels,
				Created:     now,
				Alerts:      payload,
			}, now)
		}
		// Recorded even when nothing was sent (all resolved, resolves not
		// sent), so that the group is not notified again of no change.
		g.last = &sent{firing: firing, resolved: resolved, at: now}
	}
	// Resolved alerts have been told (or need not be): let them go, and the
	// group with them once it is empty.
	for fp := range resolved {
		delete(g.alerts, fp)
	}
	g.flushed = true
	g.next = now.Add(d.o.GroupInterval)
	if len(g.alerts) == 0 {
		delete(d.groups, g.key)
	}
	d.dirty = true
}

// enqueue appends n to the outbox, writing it to disk first, and drops the
// oldest notifications beyond capacity.
func (d *Dispatcher) enqueue(n *notification, now time.Time) {
	n.Seq = d.nextSeq
	d.nextSeq++
	n.nextAttempt = now
	if d.store != nil {
		if err := d.store.writeNotification(n); err != nil {
			d.m.writeFailures.Inc()
			d.logger.Error("cannot write notification to the outbox; keeping it in memory only", "id", n.ID, "err", err)
		} else {
			n.persisted = true
		}
	}
	d.outbox = append(d.outbox, n)
	for len(d.outbox) > d.o.OutboxCapacity {
		old := d.outbox[0]
		d.outbox[0] = nil
		d.outbox = d.outbox[1:]
		d.remove(old)
		d.m.droppedFull.Add(float64(len(old.Alerts)))
		d.logger.Warn("outbox full, dropped the oldest notification", "id", old.ID, "group", old.GroupKey,
			"alerts", len(old.Alerts), "created", old.Created, "capacity", d.o.OutboxCapacity)
	}
	d.m.outboxLength.Set(float64(len(d.outbox)))
}

// deliverDue makes one attempt at the oldest notification if it is due,
// and reports whether it did.
func (d *Dispatcher) deliverDue(ctx context.Context, now time.Time) bool {
	if len(d.outbox) == 0 || d.outbox[0].nextAttempt.After(now) {
		return false
	}
	n := d.outbox[0]
	n.attempts++
	actx := notify.WithMeta(ctx, notify.Meta{ID: n.ID, GroupKey: n.GroupKey, GroupLabels: n.GroupLabels, Created: n.Created, Attempt: n.attempts})
	retry, err := d.n.Notify(actx, n.Alerts...)
	log := d.logger.With("id", n.ID, "group", n.GroupKey, "alerts", len(n.Alerts), "attempt", n.attempts)
	switch {
	case err == nil:
		d.pop()
		if n.attempts > 1 {
			log.Info("notification delivered after retries", "delayed", d.o.Now().Sub(n.Created))
		}
	case ctx.Err() != nil:
		// Shutting down: the notification stays for the next Run.
		n.attempts--
		return false
	case !retry:
		d.pop()
		d.m.droppedPermanent.Add(float64(len(n.Alerts)))
		log.Error("notification refused, dropping it", "err", err)
	default:
		wait := d.backoff.Delay(n.attempts, err)
		n.nextAttempt = d.o.Now().Add(wait)
		log.Warn("notification failed, will retry", "retry_in", wait, "err", err)
	}
	return true
}

func (d *Dispatcher) pop() {
	n := d.outbox[0]
	d.outbox[0] = nil
	d.outbox = d.outbox[1:]
	if len(d.outbox) == 0 {
		d.outbox = nil
	}
	d.remove(n)
	d.m.outboxLength.Set(float64(len(d.outbox)))
}

func (d *Dispatcher) remove(n *notification) {
	if d.store == nil || !n.persisted {
		return
	}
	if err := d.store.removeNotification(n); err != nil {
		d.m.writeFailures.Inc()
		d.logger.Error("cannot remove a finished notification from the outbox; it will be sent again after a restart", "id", n.ID, "err", err)
	}
}
