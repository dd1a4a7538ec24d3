package dispatch

import (
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// groupAll is the group_by value that makes every label set its own group.
const groupAll = "..."

// grouping computes an alert's group from its labels, as group_by says.
type grouping struct {
	all    bool
	labels []model.LabelName
}

// labelsOf returns the group labels of ls: the group_by labels that ls has
// (a missing label does not split groups), or all of ls for "...".
func (gr grouping) labelsOf(ls model.LabelSet) model.LabelSet {
	if gr.all {
		return ls.Clone()
	}
	out := make(model.LabelSet, len(gr.labels))
	for _, n := range gr.labels {
		if v, ok := ls[n]; ok {
			out[n] = v
		}
	}
	return out
}

// groupKey names a group the way Alertmanager's root route does, so
// receivers that key on groupKey see the familiar shape.
func groupKey(groupLabels model.LabelSet) string {
	return "{}:" + groupLabels.String()
}

// sent is what the receiver last heard of a group: Alertmanager's
// notification log entry.
type sent struct {
	firing, resolved map[model.Fingerprint]bool
	at               time.Time
}

// group is an aggregation group: alerts with the same group labels, flushed
// together after group_wait and then every group_interval.
type group struct {
	key    string
	labels model.LabelSet
	alerts map[model.Fingerprint]*notify.Alert
	// next is when the group flushes next; flushed says whether it has
	// flushed before (the first flush waits group_wait).
	next    time.Time
	flushed bool
	last    *sent
}

func newGroup(labels model.LabelSet, next time.Time) *group {
	return &group{
		key:    groupKey(labels),
		labels: labels,
		alerts: map[model.Fingerprint]*notify.Alert{},
		next:   next,
	}
}

// sorted returns the alerts firing first, then by labels.
func (g *group) sorted(now time.Time) []*notify.Alert {
	out := make([]*notify.Alert, 0, len(g.alerts))
	for _, a := range g.alerts {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *notify.Alert) int {
		ra, rb := notify.Resolved(a, now), notify.Resolved(b, now)
		switch {
		case ra == rb && a.Labels.Equal(b.Labels):
			return 0
		case ra == rb && a.Labels.Before(b.Labels):
			return -1
		case ra == rb:
			return 1
		case rb:
			return -1
		}
		return 1
	})
	return out
}

// needsUpdate is Alertmanager's dedup decision (notify/dedup_stage.go): a
// group is notified when an alert started firing, when every alert has
// resolved (so receivers clear it), when an alert resolved and resolves are
// sent, or when repeat has passed since the last notification.
func needsUpdate(last *sent, firing, resolved map[model.Fingerprint]bool, sendResolved bool, repeat time.Duration, now time.Time) bool {
	if last == nil {
		// Nobody has heard of the group: nothing to say about alerts
		// that fired and resolved unseen.
		return len(firing) > 0
	}
	if !subset(firing, last.firing) {
		return true
	}
	if len(firing) == 0 {
		// All resolved: say so if the receiver knew of any firing.
		return len(last.firing) > 0
	}
	if sendResolved && !subset(resolved, last.resolved) {
		return true
	}
	return !now.Before(last.at.Add(repeat))
}

func subset(a, b map[model.Fingerprint]bool) bool {
	for fp := range a {
		if !b[fp] {
			return false
		}
	}
	return true
}
