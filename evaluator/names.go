package evaluator

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// Names maps vLLM metric short names to the names a Prometheus has. With
// flavour auto it probes which of V1, V0 legacy and underscore names exist;
// overrides always win. It also tells which metrics are absent, so that an
// absent metric is reported and never read as zero.
type Names struct {
	flavour   string
	overrides map[string]string
	selector  []*labels.Matcher
	logger    *slog.Logger

	mu       sync.Mutex
	detected map[string]string
	absent   []string
	// native are the histograms found only as native histograms.
	native map[string]bool
}

// Native reports whether a histogram metric (by short name) exists as a
// native histogram only, to be read with histogram_count and
// histogram_fraction instead of its _bucket series.
func (n *Names) Native(short string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.native[short]
}

// NewNames returns a resolver; selector restricts detection to vLLM's series.
func NewNames(flavour string, overrides map[string]string, selector []*labels.Matcher, logger *slog.Logger) *Names {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Names{flavour: flavour, overrides: overrides, selector: selector, logger: logger, detected: map[string]string{}}
}

// Name resolves a short name; a full metric name is returned as it is.
func (n *Names) Name(short string) string {
	if o, ok := n.overrides[short]; ok {
		return o
	}
	if !rules.IsShortName(short) {
		return short
	}
	if n.flavour == rules.FlavourAuto || n.flavour == "" {
		n.mu.Lock()
		d, ok := n.detected[short]
		n.mu.Unlock()
		if ok {
			return d
		}
		return rules.MetricName(short, rules.FlavourV1)
	}
	return rules.MetricName(short, n.flavour)
}

// Absent returns the short names found absent by the last detection.
func (n *Names) Absent() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.absent...)
}

// Mapping returns the current short-name-to-name mapping of every catalog
// metric, for logs and check --online.
func (n *Names) Mapping() map[string]string {
	out := map[string]string{}
	for _, s := range rules.ShortNames() {
		out[s] = n.Name(s)
	}
	return out
}

// Detect asks Prometheus at ts which candidate names have series, with one
// query. With flavour auto the first candidate present wins (V1 first); a
// failed query keeps the previous mapping.
func (n *Names) Detect(ctx context.Context, q Querier, ts time.Time) error {
	probe := map[string]string{} // series name -> candidate metric name
	var alts []string
	for _, s := range rules.ShortNames() {
		for _, c := range n.candidates(s) {
			series := c
			if rules.IsHistogram(s) {
				series = c + "_count"
				// A native histogram (Prometheus 3's NHCB conversion,
				// OTLP) is one series under the family's own name.
				probe[c] = c
				alts = append(alts, c)
			}
			probe[series] = c
			alts = append(alts, series)
		}
	}
	sort.Strings(alts)
	ms := append([]*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, string(model.MetricNameLabel), rules.RegexpAlternation(alts))}, n.withoutName()...)
	e := &parser.AggregateExpr{Op: parser.COUNT, Grouping: []string{string(model.MetricNameLabel)}, Expr: &parser.VectorSelector{LabelMatchers: ms}}
	query := e.String()
	v, err := q.Query(ctx, query, ts)
	if err != nil {
		return fmt.Errorf("detect vLLM metric names: %w", err)
	}
	present := map[string]bool{}
	classic := map[string]bool{} // families that have a _count series
	if vec, ok := v.(model.Vector); ok {
		for _, smp := range vec {
			name := string(smp.Metric[model.MetricNameLabel])
			present[probe[name]] = true
			if probe[name] != name {
				classic[probe[name]] = true
			}
		}
	}
	detected := map[string]string{}
	native := map[string]bool{}
	var absent []string
	for _, s := range rules.ShortNames() {
		found := ""
		for _, c := range n.candidates(s) {
			if present[c] {
				found = c
				break
			}
		}
		if found == "" {
			absent = append(absent, s)
			continue
		}
		detected[s] = found
		// Mid-migration both forms exist: the classic one is read, so that
		// no event is counted twice.
		if rules.IsHistogram(s) && !classic[found] {
			native[s] = true
		}
	}
	n.mu.Lock()
	// Keep what was found before for metrics that vanished for now: a
	// quiet moment must not flip names back to the V1 default. The news is
	// a change of that mapping or of what is absent, once, not every cycle
	// for as long as a metric stays away.
	merged := maps.Clone(n.detected)
	maps.Copy(merged, detected)
	changed := n.flavour == rules.FlavourAuto && (!maps.Equal(merged, n.detected) || !slices.Equal(absent, n.absent))
	if n.flavour == rules.FlavourAuto || n.flavour == "" {
		n.detected = merged
	}
	n.absent = absent
	n.native = native
	n.mu.Unlock()
	if changed {
		var parts []string
		for _, s := range rules.ShortNames() {
			if name, ok := merged[s]; ok {
				parts = append(parts, s+"="+name)
			}
		}
		n.logger.Info("vLLM metric names detected", "mapping", strings.Join(parts, " "), "absent", strings.Join(absent, " "))
	}
	return nil
}

// candidates are the names tried for a short name: the override alone, the
// flavour's own name, or every flavour's name for auto.
func (n *Names) candidates(short string) []string {
	if o, ok := n.overrides[short]; ok {
		return []string{o}
	}
	if n.flavour == rules.FlavourAuto || n.flavour == "" {
		return rules.CandidateNames(short)
	}
	return []string{rules.MetricName(short, n.flavour)}
}

func (n *Names) withoutName() []*labels.Matcher {
	var out []*labels.Matcher
	for _, m := range n.selector {
		if m.Name != string(model.MetricNameLabel) {
			out = append(out, m)
		}
	}
	return out
}
