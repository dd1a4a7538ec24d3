package notify

import (
	"github.com/prometheus/common/model"
)

// Grouping is how a notifier that cannot group alerts itself (Slack, a
// webhook: they sit behind a Dispatcher) batches and repeats them. These
// are the settings of an Alertmanager route; the config types of such
// notifiers embed Grouping inline, so the keys sit in the entry itself.
// Zero durations take the Dispatcher's defaults.
type Grouping struct {
	// GroupBy lists the labels that split alerts into groups; "..." makes
	// every label set its own group.
	GroupBy        []string       `yaml:"group_by,omitempty"`
	GroupWait      model.Duration `yaml:"group_wait,omitempty"`
	GroupInterval  model.Duration `yaml:"group_interval,omitempty"`
	RepeatInterval model.Duration `yaml:"repeat_interval,omitempty"`
	// SendResolved is a pointer to tell "not set", which means true, from
	// false.
	SendResolved *bool `yaml:"send_resolved,omitempty"`
}

// groupAll is the group_by value that makes every label set its own group.
const groupAll = "..."

// SendsResolved says whether resolved alerts are notified: unless
// send_resolved is false.
func (g Grouping) SendsResolved() bool {
	return g.SendResolved == nil || *g.SendResolved
}

// ValidateGrouping reports group_by entries that are no label name, as
// *FieldErrors.
func (g Grouping) ValidateGrouping() []error {
	var errs []error
	for i, l := range g.GroupBy {
		if l != groupAll && !model.LegacyValidation.IsValidLabelName(l) {
			errs = append(errs, FieldErrorf([]any{"group_by", i}, "invalid label name %q", l))
		}
	}
	return errs
}

// GroupingKeysSet names the settings given, in the order of the struct,
// for notifiers that must refuse them. A zero duration counts as not
// given; an empty group_by list as given.
func (g Grouping) GroupingKeysSet() []string {
	var keys []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"group_by", g.GroupBy != nil}, {"group_wait", g.GroupWait != 0}, {"group_interval", g.GroupInterval != 0},
		{"repeat_interval", g.RepeatInterval != 0}, {"send_resolved", g.SendResolved != nil},
	} {
		if k.set {
			keys = append(keys, k.name)
		}
	}
	return keys
}
