package evaluator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// explainNoSeries says why a selector matches no series, matcher by
// matcher: the values its label does take, or that no series has the label
// (with the labels they have). It asks Prometheus only when a selector is
// already known to match nothing.
func explainNoSeries(ctx context.Context, q Querier, probes []rules.Probe, ts time.Time) string {
	var parts, unnamed []string
	for _, p := range probes {
		v, err := q.Query(ctx, p.Values, ts)
		if err != nil {
			continue
		}
		vec, _ := v.(model.Vector)
		var seen, matching []string
		for _, s := range vec {
			if s == nil {
				continue
			}
			val, ok := s.Metric[model.LabelName(p.Matcher.Name)]
			if !ok {
				continue
			}
			seen = append(seen, string(val))
			if p.Matcher.Matches(string(val)) {
				matching = append(matching, string(val))
			}
		}
		switch {
		case len(matching) > 0:
			continue // this matcher is not the one that empties the selector
		case len(seen) > 0:
			slices.Sort(seen)
			parts = append(parts, fmt.Sprintf("no series with %s; seen: %s", p.Matcher, strings.Join(seen, ", ")))
		default:
			has := labelsOfOne(ctx, q, p.Any, ts)
			if has == "" {
				// Not this label: nothing is selected without it either.
				unnamed = append(unnamed, p.Name)
				continue
			}
			parts = append(parts, fmt.Sprintf("no series has the label %s%s", p.Matcher.Name, has))
		}
	}
	if len(parts) == 0 && len(unnamed) > 0 {
		return fmt.Sprintf("no series of %s at all (check the metric name, vllm.selector and vllm.metric_names)", unnamed[0])
	}
	if len(parts) == 0 {
		return "no series at all"
	}
	return strings.Join(parts, "; ")
}

// labelsOfOne lists the label names of one series q selects, for a reader
// looking for the label they meant (finish_reason for finished_reason).
func labelsOfOne(ctx context.Context, q Querier, query string, ts time.Time) string {
	v, err := q.Query(ctx, query, ts)
	if err != nil {
		return ""
	}
	vec, _ := v.(model.Vector)
	if len(vec) == 0 || vec[0] == nil {
		return ""
	}
	var names []string
	for k := range vec[0].Metric {
		if k != model.MetricNameLabel {
			names = append(names, string(k))
		}
	}
	slices.Sort(names)
	return " (its series have: " + strings.Join(names, ", ") + ")"
}
