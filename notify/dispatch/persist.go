package dispatch

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrStateLost is wrapped by the error OnStateLost and StateLost report:
// the outbox or the groups on disk were damaged, and part of them was
// discarded. Notifications may have been lost, or may be repeated.
var ErrStateLost = errors.New("notification state lost")

// save writes the groups if they changed.
func (d *Dispatcher) save() {
	if !d.dirty {
		return
	}
	d.dirty = false
	d.m.groups.Set(float64(len(d.groups)))
	if d.store == nil {
		return
	}
	sf := &stateFile{Version: fileVersion, GroupBy: d.grouping.key(), Groups: make([]*groupState, 0, len(d.groups))}
	for _, g := range d.groups {
		gs := &groupState{Labels: g.labels, Next: g.next, Flushed: g.flushed, Last: toSentState(g.last)}
		for _, a := range g.alerts {
			gs.Alerts = append(gs.Alerts, a)
		}
		sf.Groups = append(sf.Groups, gs)
	}
	if err := d.store.saveState(sf); err != nil {
		d.m.writeFailures.Inc()
		d.logger.Error("cannot save alert groups; a restart may repeat or miss a notification", "err", err)
	}
}

// load reads the outbox and the groups a previous run left. Nothing in it
// is fatal: a damaged file is moved aside, what could be read of it is
// kept, and the loss is logged, counted and reported as state lost.
func (d *Dispatcher) load(now time.Time) {
	if d.store == nil {
		return
	}
	var lost []error
	pending, bad, err := d.store.loadOutbox(now)
	if err != nil {
		d.logger.Error("cannot read the outbox; starting without it, and notifications made from now on may not survive a restart", "err", err)
		lost = append(lost, err)
	}
	for _, dm := range bad {
		d.damaged(dm)
		lost = append(lost, dm)
	}
	for _, n := range pending {
		n.nextAttempt = now
	}
	if len(pending) > 0 {
		d.outbox = append(pending, d.outbox...)
		d.nextSeq = max(d.nextSeq, pending[len(pending)-1].Seq+1)
		d.logger.Info("delivering notifications left from the last run", "notifications", len(pending))
	}
	d.m.outboxLength.Set(float64(len(d.outbox)))
	lost = append(lost, d.loadGroups(now)...)
	if len(lost) > 0 {
		// One line: it becomes an alert's annotation.
		msgs := make([]string, len(lost))
		for i, err := range lost {
			msgs[i] = err.Error()
		}
		d.lostState(fmt.Errorf("dispatch %s: %w: %s", d.o.Name, ErrStateLost, strings.Join(msgs, "; ")))
	}
}

// loadGroups reads the groups and returns what was lost of them.
func (d *Dispatcher) loadGroups(now time.Time) []error {
	sf, dm, err := d.store.loadState(now)
	if err != nil {
		d.logger.Error("cannot read the alert groups; starting without them, firing alerts may be notified again", "err", err)
		return []error{err}
	}
	var lost []error
	if dm != nil {
		d.damaged(*dm)
		lost = append(lost, *dm)
		// What was kept replaces the damaged file.
		d.dirty = true
	}
	switch {
	case sf == nil:
		return lost
	case !slices.Equal(sf.GroupBy, d.grouping.key()):
		d.logger.Info("group_by changed; starting with new groups, firing alerts will be notified again", "was", sf.GroupBy, "now", d.grouping.key())
		d.dirty = true
		return lost
	}
	// No flush is further off than a group_wait or a group_interval, and
	// nothing was notified after now: a clock that ran ahead, or a damaged
	// time, must not park a group.
	latest := now.Add(max(d.o.GroupWait, d.o.GroupInterval))
	for _, gs := range sf.Groups {
		last, _ := gs.Last.sent() // clean dropped what does not parse
		g := newGroup(gs.Labels, gs.Next)
		if g.next.After(latest) {
			g.next = latest
		}
		if last != nil && last.at.After(now) {
			last.at = now
		}
		g.flushed, g.last = gs.Flushed, last
		for _, a := range gs.Alerts {
			g.alerts[a.Fingerprint()] = a
		}
		if len(g.alerts) > 0 {
			d.groups[g.key] = g
		}
	}
	d.m.groups.Set(float64(len(d.groups)))
	return lost
}

// damaged logs and counts a file that load found damaged.
func (d *Dispatcher) damaged(dm damage) {
	d.m.corrupt(dm.kind).Inc()
	if dm.lost > 0 {
		d.m.droppedCorrupt.Add(float64(dm.lost))
	}
	msg := "damaged outbox file moved aside; its notification is lost"
	switch {
	case dm.kind == kindGroups && dm.kept:
		msg = "damaged alert groups file moved aside; the groups that could be read are kept, the others' firing alerts may be notified again"
	case dm.kind == kindGroups:
		msg = "unreadable alert groups file moved aside; firing alerts may be notified again"
	case dm.kept:
		msg = "damaged outbox file moved aside; what could be read of its notification is kept"
	}
	d.logger.Error(msg, "file", dm.path, "moved_to", dm.movedTo, "alerts_lost", dm.lost, "err", dm.err)
}

// lostState records that load discarded state and tells OnStateLost.
func (d *Dispatcher) lostState(err error) {
	d.mu.Lock()
	d.stateLost = err
	d.mu.Unlock()
	if d.o.OnStateLost != nil {
		d.o.OnStateLost(err)
	}
}

// StateLost returns what the first Run found damaged or unreadable in
// OutboxDir and discarded, wrapping ErrStateLost; nil when nothing was, or
// before the first Run has read the directory. OnStateLost is told the
// same, as soon as it is known.
func (d *Dispatcher) StateLost() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stateLost
}
