package evaluator

import (
	"cmp"
	"slices"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// Figures in alert texts are written one way, by these.

func pct(v float64) string { return rules.FormatPercent(v) }

func num(v float64) string { return rules.FormatFigure(v) }

// fmtGroup writes a group for a summary: " (model_name=llama)", or nothing.
func fmtGroup(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	return " (" + joinLabels(m, ", ") + ")"
}

// sortKeys orders rule keys as the state file writes them.
func sortKeys(keys []ruleKey) {
	slices.SortFunc(keys, func(a, b ruleKey) int { return cmp.Compare(a.String(), b.String()) })
}
