package rules

import (
	"fmt"
	"strconv"
)

// AlertSLOBurnRate is the alertname of every SLO burn-rate alert.
const AlertSLOBurnRate = "SLOBurnRate"

// The burn alert of a window pair is described here once: the daemon fills
// in a group and measured figures, rules export fills in template actions
// that Prometheus expands. Both therefore page with the same labels and
// words.

// BurnAlertLabels are the labels of the burn-rate alert of pair w, before
// the group's and the external labels: the SLO's own labels never replace
// the ones that identify the alert.
func (s *SLO) BurnAlertLabels(w Window) map[string]string {
	ls := map[string]string{
		"alertname":    AlertSLOBurnRate,
		"slo":          s.Name,
		"severity":     w.Severity,
		"slo_tier":     string(w.Tier),
		"long_window":  Duration(w.Long).String(),
		"short_window": Duration(w.Short).String(),
	}
	for k, v := range s.Labels {
		if _, taken := ls[k]; !taken {
			ls[k] = v
		}
	}
	return ls
}

// BurnSummary is the summary of the burn-rate alert of pair w. group names
// the alert's group (" (model_name=llama)", or empty) and burn the long
// window's burn rate as text.
func (s *SLO) BurnSummary(w Window, group, burn string) string {
	return fmt.Sprintf("SLO %s%s is burning its error budget %sx too fast over %s and %s",
		s.Name, group, burn, Duration(w.Long), Duration(w.Short))
}

// FormatFigure writes a burn rate, a factor or an indicator value as alerts
// show it: two decimals.
func FormatFigure(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// FormatPercent writes a ratio (0.95) as alerts show it: 95.00%.
func FormatPercent(v float64) string { return strconv.FormatFloat(v*100, 'f', 2, 64) + "%" }

// The alert of an indicator is described here once as well: the daemon
// fills in a group and the measured value, rules export template actions.

// AlertLabels are the labels of the indicator's alert for a group, before
// the external labels: the indicator's own labels never replace the ones
// that identify the alert or its group.
func (in *Indicator) AlertLabels(group map[string]string) map[string]string {
	ls := map[string]string{"alertname": in.Alertname, "indicator": in.Name, "severity": in.Severity}
	for k, v := range group {
		ls[k] = v
	}
	for k, v := range in.Labels {
		if _, taken := ls[k]; !taken {
			ls[k] = v
		}
	}
	return ls
}

// indicatorNotes say what each built-in signal means and what usually helps.
var indicatorNotes = map[string]struct{ summary, remedy string }{
	KindQueueGrowth: {"requests have kept waiting at %s, and the queue grows (%s requests/s, threshold %s) or stays deep",
		"Arrivals exceed what the engines finish: TTFT will climb. Add replicas or shed load; check for a traffic surge or a slower model version."},
	KindPreemptionRate: {"%s preempts %s requests/s (threshold %s)",
		"The KV cache is full and vLLM evicts running requests to recompute them later, which costs throughput and latency. Raise gpu_memory_utilization, lower max_num_seqs or max_model_len, or add replicas."},
	KindKVCachePressure: {"the KV cache of %s is %s full (threshold %s)",
		"When the cache fills, vLLM preempts requests. Raise gpu_memory_utilization, lower max_num_seqs, enable prefix caching, or add replicas."},
	KindQueueStall: {"%s has %s requests waiting and none finishing (floor %s)",
		"The scheduler is not making progress: a hung engine, a deadlock or a crashed worker. Check the engine logs and GPU health; restart the replica."},
	KindSaturation: {"the fullest engine of %s runs %s of its max_num_seqs (threshold %s)",
		"The running batch is close to vLLM's limit: once it is full, new requests wait and TTFT climbs. Add replicas or shed load before the queue forms; raise max_num_seqs if the KV cache has room."},
	KindQueueTime: {"requests at %s wait %ss in the queue on average (threshold %ss), again and again",
		"Arrivals now and then find the batch full: load is close to capacity, and a little more makes the queue grow without bound. Add replicas or shed load now; check max_num_seqs and the KV cache."},
	KindLatencyPercentile: {"the latency percentile of %s is %ss (threshold %ss)",
		"A fast signal over a short window, not an SLO: look at batch size, prompt lengths and preemptions for the cause."},
}

// AlertText is the summary and description of the indicator's alert. who
// names the group ("(instance=a:8000, model_name=llama)", or "the
// deployment"); value and percent are its value as FormatFigure and
// FormatPercent write it.
func (in *Indicator) AlertText(who, value, percent string) (summary, description string) {
	n, ok := indicatorNotes[in.Kind]
	if !ok {
		return fmt.Sprintf("indicator %s holds for %s (value %s)", in.Name, who, value),
			fmt.Sprintf("The custom condition of indicator %s holds.", in.Name)
	}
	th := FormatFigure(in.Threshold())
	if in.Kind != KindKVCachePressure && in.Kind != KindSaturation {
		return fmt.Sprintf("Leading indicator %s: "+n.summary, in.Name, who, value, th), n.remedy
	}
	th = FormatPercent(in.Threshold())
	if in.For <= 0 {
		return fmt.Sprintf("Leading indicator %s: "+n.summary, in.Name, who, percent, th), n.remedy
	}
	// The value is the level held for "for" of the window.
	what := "the KV cache of %s stayed %s full"
	if in.Kind == KindSaturation {
		what = "the fullest engine of %s stayed at %s of its max_num_seqs"
	}
	return fmt.Sprintf("Leading indicator %s: "+what+" or more for %s of the last %s (threshold %s)",
		in.Name, who, percent, Duration(in.For), Duration(max(in.Window(), in.For)), th), n.remedy
}
