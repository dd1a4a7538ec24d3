package evaluator

import (
	"log/slog"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// ruleKind tells apart the alert sets of SLOs, indicators and the
// sentinel's own alerts.
type ruleKind string

const (
	kindSLO       ruleKind = "slo"
	kindIndicator ruleKind = "indicator"
	kindMeta      ruleKind = "meta"
)

// ruleKey names the alert set of one rule. It is written as "slo:ttft" in
// the state file, so that a file stays readable and keys stay stable.
type ruleKey struct {
	kind ruleKind
	name string
}

func (k ruleKey) String() string { return string(k.kind) + ":" + k.name }

// MarshalText implements encoding.TextMarshaler for the state file.
func (k ruleKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads what MarshalText writes. A key of no known kind is
// kept, and then pruned as a rule no longer configured.
func (k *ruleKey) UnmarshalText(b []byte) error {
	kind, name, _ := strings.Cut(string(b), ":")
	*k = ruleKey{kind: ruleKind(kind), name: name}
	return nil
}

// evaluation is what rules read at one cycle: the evaluator's result and
// the error of its probe of Prometheus (nil when Prometheus answered).
type evaluation struct {
	res      *Result
	probeErr error
}

// rule turns an evaluation into the conditions of its alerts. One type per
// kind of rule owns its labels and annotations.
type rule interface {
	key() ruleKey
	timing() Timing
	// conditions are the alerts whose condition holds. ok is false when
	// the rule could not be evaluated this time: its alerts then stay as
	// they are, rather than resolve because Prometheus blinked.
	conditions(ev evaluation) (conds []Condition, ok bool)
}

// hasHistory reports whether a rule's state at t depends on evaluations
// before t, so that a one-off evaluation must replay them first.
func hasHistory(r rule) bool {
	t := r.timing()
	return r.key().kind != kindMeta && (t.For > 0 || t.KeepFiringFor > 0)
}

// alertContext is what every alert of an engine carries: the external
// labels and URL, and where template and other failures are logged.
type alertContext struct {
	externalLabels map[string]string
	externalURL    string
	logger         *slog.Logger
}

// annotate expands a rule's annotation templates into ann. A template that
// fails says so in its annotation rather than hide the alert.
func (c alertContext) annotate(ann model.LabelSet, tmpls map[string]*rules.Template, data any, attrs ...any) {
	for k, t := range tmpls {
		v, err := t.Expand(data)
		if err != nil {
			c.logger.Warn("annotation template failed", append(attrs, "annotation", k, "err", err)...)
			v = err.Error()
		}
		ann[model.LabelName(k)] = model.LabelValue(v)
	}
}

// labels adds the external labels to ls where it does not set them itself.
func (c alertContext) labels(ls model.LabelSet) model.LabelSet {
	for k, v := range c.externalLabels {
		if _, ok := ls[model.LabelName(k)]; !ok {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
	}
	return ls
}

// labelSet turns a group's label map into a label set.
func labelSet(m map[string]string) model.LabelSet {
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

// stringMap is what annotation templates see of a label set.
func stringMap(ls model.LabelSet) map[string]string {
	out := make(map[string]string, len(ls))
	for k, v := range ls {
		out[string(k)] = string(v)
	}
	return out
}
