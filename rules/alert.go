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
