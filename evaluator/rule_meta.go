package evaluator

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Alert names of the alerts the sentinel raises about itself and its SLOs.
const (
	AlertWatchdog          = "SentinelWatchdog"
	AlertPrometheusDown    = "SentinelPrometheusDown"
	AlertNoData            = "SentinelNoData"
	AlertEvaluationFailing = "SentinelEvaluationFailing"
	AlertStateLost         = "SentinelStateLost"
	AlertTargetDown        = "SentinelTargetDown"
)

// metaRule is one of the sentinel's alerts about its own work. Each is a
// function of the evaluation; they differ only in name, timing and that
// function.
type metaRule struct {
	name  string
	after time.Duration
	ctx   alertContext
	conds func(m *metaRule, ev evaluation) []Condition
}

func (r *metaRule) key() ruleKey   { return ruleKey{kindMeta, r.name} }
func (r *metaRule) timing() Timing { return Timing{For: r.after} }
func (r *metaRule) conditions(ev evaluation) ([]Condition, bool) {
	return r.conds(r, ev), true
}

// alert builds a meta alert's condition.
func (r *metaRule) alert(alertname, severity string, extra model.LabelSet, summary, description string) Condition {
	ls := model.LabelSet{model.AlertNameLabel: model.LabelValue(alertname), "severity": model.LabelValue(severity)}
	for k, v := range extra {
		ls[k] = v
	}
	return Condition{Labels: r.ctx.labels(ls), Annotations: model.LabelSet{
		"summary": model.LabelValue(summary), "description": model.LabelValue(description),
	}}
}

// metaRules are the sentinel's own alerts for an engine evaluating slos at
// interval.
func metaRules(ctx alertContext, interval time.Duration, slos []string, losses func(time.Time) map[string]stateLoss) []rule {
	return []rule{
		&metaRule{name: "state_lost", ctx: ctx, conds: func(m *metaRule, ev evaluation) []Condition {
			return stateLost(m, losses(ev.res.Time))
		}},
		&metaRule{name: "watchdog", ctx: ctx, conds: watchdog},
		&metaRule{name: "prometheus_down", after: 2 * interval, ctx: ctx, conds: prometheusDown},
		&metaRule{name: "nodata", after: 5 * interval, ctx: ctx, conds: func(m *metaRule, ev evaluation) []Condition {
			return noData(m, ev, slos)
		}},
		&metaRule{name: "failing", after: 5 * interval, ctx: ctx, conds: evaluationFailing},
		&metaRule{name: "target_down", after: 2 * interval, ctx: ctx, conds: targetDown},
	}
}

func watchdog(m *metaRule, _ evaluation) []Condition {
	return []Condition{m.alert(AlertWatchdog, "none", nil,
		"vllm-sentinel is evaluating (dead man's switch)",
		"This alert always fires while vllm-sentinel runs. Route it to a dead man's switch: its absence means the sentinel or its delivery is down.")}
}

func prometheusDown(m *metaRule, ev evaluation) []Condition {
	var reasons []string
	if ev.probeErr != nil {
		reasons = append(reasons, ev.probeErr.Error())
	}
	for _, se := range ev.res.Errors {
		if se.Unavailable {
			reasons = append(reasons, se.Error)
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	return []Condition{m.alert(AlertPrometheusDown, "critical", nil,
		"vllm-sentinel cannot query Prometheus: SLOs are not being evaluated",
		"Queries are failing, so burn-rate alerts cannot fire. First error: "+reasons[0])}
}

func noData(m *metaRule, ev evaluation, slos []string) []Condition {
	groups := map[string]int{}
	doubt := map[string]string{}
	for _, r := range ev.res.SLOs {
		switch r.State {
		case StateNoData:
		case StateErrorsAbsent:
			doubt[r.SLO] = r.Warning
		default:
			groups[r.SLO]++
		}
	}
	errs := map[string]EvalError{}
	for _, se := range ev.res.Errors {
		if se.SLO != "" {
			errs[se.SLO] = se
		}
	}
	var out []Condition
	// A dead vLLM server takes all its metrics with it: SentinelTargetDown
	// names it once, instead of an alert per metric it no longer serves.
	explained := ev.res.AllTargetsDown
	for _, name := range slos {
		se, failed := errs[name]
		if failed && se.Absent == "" {
			continue // a failing query is not missing data
		}
		if explained && se.Absent != "" {
			continue
		}
		if groups[name] > 0 {
			continue
		}
		extra := model.LabelSet{"slo": model.LabelValue(name)}
		what := "no events in any window"
		if w, ok := doubt[name]; ok {
			extra["side"] = "errors"
			what = w
		}
		if se.Absent != "" {
			extra["metric"] = model.LabelValue(se.Absent)
			what = "metric " + se.Absent + " is absent"
		}
		out = append(out, m.alert(AlertNoData, "warning", extra,
			fmt.Sprintf("SLO %s has no data: %s", name, what),
			"Without data the SLO cannot burn and cannot page. Check that Prometheus scrapes vLLM, vllm.selector, and vllm.metric_names."))
	}
	for _, ee := range ev.res.Errors {
		if ee.Indicator == "" || ee.Absent == "" || explained {
			continue
		}
		// One alert per indicator, whatever it lacks: the metrics are named in
		// its text, not joined into a label value.
		metrics := strings.Split(ee.Absent, ",")
		what := "metric " + metrics[0] + " is absent"
		if len(metrics) > 1 {
			what = "metrics " + strings.Join(metrics, " and ") + " are absent"
		}
		out = append(out, m.alert(AlertNoData, "warning", model.LabelSet{"indicator": model.LabelValue(ee.Indicator)},
			fmt.Sprintf("Indicator %s has no data: %s", ee.Indicator, what),
			"An absent metric is not zero: the indicator cannot warn. Check that Prometheus scrapes vLLM, vllm.selector, and vllm.metric_names."))
	}
	return out
}

func evaluationFailing(m *metaRule, ev evaluation) []Condition {
	var out []Condition
	for _, ee := range ev.res.Errors {
		if ee.Unavailable || ee.Absent != "" {
			continue // PrometheusDown and NoData cover these
		}
		extra, subject := model.LabelSet{"slo": model.LabelValue(ee.SLO)}, "SLO "+ee.SLO
		if ee.Indicator != "" {
			extra, subject = model.LabelSet{"indicator": model.LabelValue(ee.Indicator)}, "indicator "+ee.Indicator
		}
		out = append(out, m.alert(AlertEvaluationFailing, "warning", extra,
			"vllm-sentinel cannot evaluate "+subject,
			"Its alerts are frozen until it evaluates again. Error: "+ee.Error))
	}
	return out
}

func stateLost(m *metaRule, losses map[string]stateLoss) []Condition {
	var out []Condition
	for _, what := range slices.Sorted(maps.Keys(losses)) {
		l := losses[what]
		c := m.alert(AlertStateLost, "warning", model.LabelSet{"state": model.LabelValue(what)},
			fmt.Sprintf("vllm-sentinel discarded its %s state: it could not be read", what),
			fmt.Sprintf("The damaged file was moved aside and the sentinel started without it at %s, so alerts that were firing or notifications not yet delivered may be forgotten: check the receivers. Cause: %v",
				l.at.UTC().Format(time.RFC3339), l.err))
		// The loss outlives a restart through the alert itself.
		c.Annotations["cause"] = model.LabelValue(l.err.Error())
		c.Annotations["lost_at"] = model.LabelValue(l.at.UTC().Format(time.RFC3339Nano))
		out = append(out, c)
	}
	return out
}

func targetDown(m *metaRule, ev evaluation) []Condition {
	var out []Condition
	for _, t := range ev.res.TargetsDown {
		out = append(out, m.alert(AlertTargetDown, "critical", model.LabelSet{"job": model.LabelValue(t["job"]), "instance": model.LabelValue(t["instance"])},
			fmt.Sprintf("vLLM target %s (job %s) is down: its scrapes fail", t["instance"], t["job"]),
			"Prometheus cannot scrape this vLLM server, which served metrics minutes ago: the engine crashed, hangs, or is unreachable. "+
				"Its requests are failing or moved elsewhere; its metrics are absent, not zero, so the SLOs and indicators it fed go quiet. Check the engine's logs and health."))
	}
	return out
}
