package evaluator

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// sloRule raises one SLOBurnRate alert per group and firing window pair.
type sloRule struct {
	slo *rules.SLO
	ctx alertContext
}

func (r *sloRule) key() ruleKey   { return ruleKey{kindSLO, r.slo.Name} }
func (r *sloRule) timing() Timing { return Timing{} }

func (r *sloRule) conditions(ev evaluation) ([]Condition, bool) {
	for _, se := range ev.res.Errors {
		// An absent metric is an answer (no data: the pairs do not fire,
		// SentinelNoData does). A failed evaluation is not; see rule. Nor
		// is an absence the dead servers explain: a page of an incident
		// in which the servers died stays as it was.
		if se.SLO == r.slo.Name && (se.Absent == "" || ev.res.AllTargetsDown) {
			return nil, false
		}
	}
	var conds []Condition
	for i := range ev.res.SLOs {
		res := &ev.res.SLOs[i]
		if res.SLO != r.slo.Name {
			continue
		}
		for _, f := range res.Firing {
			conds = append(conds, r.burnCondition(ev.res.Time, res, f))
		}
	}
	return conds, true
}

// burnData is what SLO annotation templates see.
type burnData struct {
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

func (r *sloRule) burnCondition(ts time.Time, res *SLOResult, f FiringPair) Condition {
	w := f.Window()
	ls := labelSet(r.slo.BurnAlertLabels(w))
	// The group's labels are the alert's identity: they win over the
	// SLO's own labels of the same name.
	for k, v := range res.Labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	ls = r.ctx.labels(ls)

	d := burnData{
		Labels: stringMap(ls), SLO: res.SLO, Description: r.slo.Description, Objective: res.Objective,
		LongWindow: f.LongWindow.String(), ShortWindow: f.ShortWindow.String(), Factor: f.Factor,
		BurnRate: f.LongBurnRate, ShortBurnRate: f.ShortBurnRate,
		From: ts.Add(-f.LongWindow.D()), To: ts, ExternalURL: r.ctx.externalURL,
	}
	if long := res.Window(f.LongWindow.D()); long != nil && long.ErrorRatio != nil {
		d.ErrorRatio = *long.ErrorRatio
	}
	budget, exh := "unknown", "not at the current rate"
	if res.BudgetRemaining != nil {
		d.BudgetRemaining = *res.BudgetRemaining
		budget = pct(*res.BudgetRemaining)
	}
	if res.Exhaustion != nil {
		d.Exhaustion = res.Exhaustion.String()
		exh = "in " + d.Exhaustion
		if time.Duration(*res.Exhaustion) == 0 {
			exh = "already"
		}
	}
	burn := rules.FormatFigure(f.LongBurnRate)
	ann := model.LabelSet{
		"summary": model.LabelValue(r.slo.BurnSummary(w, fmtGroup(res.Labels), burn)),
		"description": model.LabelValue(fmt.Sprintf(
			"%s: %s of events were bad over the last %s against an objective of %g%%. Burn rate %s over %s and %s over %s (fires above %s). Error budget left: %s; exhausted %s.%s",
			res.SLO, pct(d.ErrorRatio), d.LongWindow, res.Objective, burn, d.LongWindow, rules.FormatFigure(f.ShortBurnRate), d.ShortWindow, rules.FormatFigure(f.Factor), budget, exh, approxNote(res))),
		// Figures on their own, for receivers that show them as fields (Slack).
		"burn_rate":          model.LabelValue(burn),
		"error_ratio":        model.LabelValue(pct(d.ErrorRatio)),
		"budget_left":        model.LabelValue(budget),
		"time_to_exhaustion": model.LabelValue(strings.TrimPrefix(exh, "in ")),
	}
	explanation(ann, res.Diagnosis, res.TraceLookup)
	r.ctx.annotate(ann, r.slo.Annotations, d, "slo", res.SLO)
	return Condition{Labels: ls, Annotations: ann, Value: f.LongBurnRate, KeepFiringFor: r.slo.KeepFiringFor(w)}
}

func approxNote(r *SLOResult) string {
	if r.Approximate {
		return " Note: " + r.Note + "."
	}
	return ""
}
