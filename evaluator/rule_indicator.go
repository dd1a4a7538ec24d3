package evaluator

import (
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// indicatorRule raises an indicator's alert per group whose condition holds.
type indicatorRule struct {
	in  *rules.Indicator
	ctx alertContext
}

func (r *indicatorRule) key() ruleKey { return ruleKey{kindIndicator, r.in.Name} }
func (r *indicatorRule) timing() Timing {
	return Timing{For: r.in.PendingFor(), KeepFiringFor: r.in.KeepFiringFor}
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

func (r *indicatorRule) conditions(ev evaluation) ([]Condition, bool) {
	for _, ee := range ev.res.Errors {
		// Unknown this cycle: keep the alerts as they are; an absent
		// metric resolves them instead.
		if ee.Indicator == r.in.Name && ee.Absent == "" {
			return nil, false
		}
	}
	var conds []Condition
	for _, res := range ev.res.Indicators {
		if res.Indicator != r.in.Name || !res.Active {
			continue
		}
		group := res.Group()
		ls := r.labels(group)
		value := float64(res.Value)
		ann := indicatorAnnotations(r.in, group, value)
		explanation(ann, res.Diagnosis, res.TraceLookup)
		d := indicatorData{Labels: stringMap(ls), Indicator: r.in.Name, Value: value, Threshold: r.in.Threshold(),
			From: ev.res.Time.Add(-r.in.Lookback()), To: ev.res.Time, ExternalURL: r.ctx.externalURL}
		r.ctx.annotate(ann, r.in.Annotations, d, "indicator", r.in.Name)
		conds = append(conds, Condition{Labels: ls, Annotations: ann, Value: value})
	}
	return conds, true
}

// labels are the labels of the indicator's alert for one group.
func (r *indicatorRule) labels(group map[string]string) model.LabelSet {
	return r.ctx.labels(labelSet(r.in.AlertLabels(group)))
}
