package evaluator

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// Names maps vLLM metric short names to the names a Prometheus has. With
// flavour auto it probes which spelling exists (rules.CandidateNames: V1,
// V0, vllm_, Ray's ray_vllm:, OTLP's without _total or _seconds or with
// _ratio); overrides always win. It also tells which metrics are absent, so
// that an absent metric is reported and never read as zero, and how each
// histogram is stored (HistogramForm).
type Names struct {
	flavour   string
	overrides map[string]string
	selector  []*labels.Matcher
	logger    *slog.Logger

	mu       sync.Mutex
	detected map[string]string
	absent   []string
	// forms are the histograms' forms found by the last detection, series
	// their numbers of classic and native series.
	forms  map[string]HistogramForm
	series map[string][2]int
}

// HistogramForm is how Prometheus holds a histogram family: as classic
// _bucket/_count/_sum series, as one native histogram series (Prometheus
// 3's NHCB conversion, native scrapes, OTLP), or both at once in the
// middle of a migration (always_scrape_classic_histograms, or targets not
// yet converted).
type HistogramForm string

const (
	FormClassic HistogramForm = "classic"
	FormNative  HistogramForm = "native"
	// FormBoth is read as classic: the _bucket series have the exact
	// bounds and the longer history, and reading one form only is what
	// keeps every event from being counted twice.
	FormBoth HistogramForm = "classic+native"
	// FormSplit is both forms on different numbers of series: some
	// targets converted without keeping their classic series, or not
	// converted yet. It is read as classic too, and the series that have
	// only the native form are not counted: said, not guessed at.
	FormSplit HistogramForm = "classic+native on different series"
)

// Native reports whether a histogram metric (by short name) exists as a
// native histogram only, to be read with histogram_count and
// histogram_fraction instead of its _bucket series.
func (n *Names) Native(short string) bool {
	return n.Form(short) == FormNative
}

// Series reports how many series of a histogram metric the last detection
// found in each form.
func (n *Names) Series(short string) (classic, native int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.series[short]
	return c[0], c[1]
}

// Form reports the form of a histogram metric (by short name) found by the
// last detection; "" for a metric that is not a histogram or was not found.
func (n *Names) Form(short string) HistogramForm {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.forms[short]
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
	// The query names each candidate exactly: vLLM's _created series (the
	// Python client writes one per counter and histogram) never match.
	present := map[string]bool{}
	classic := map[string]float64{} // series of a family's _count
	native := map[string]float64{}  // native series of a family
	if vec, ok := v.(model.Vector); ok {
		for _, smp := range vec {
			name := string(smp.Metric[model.MetricNameLabel])
			c, ok := probe[name]
			if !ok {
				continue
			}
			present[c] = true
			if c != name {
				classic[c] += float64(smp.Value)
			} else {
				native[c] += float64(smp.Value)
			}
		}
	}
	detected := map[string]string{}
	forms := map[string]HistogramForm{}
	series := map[string][2]int{}
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
		if rules.IsHistogram(s) {
			series[s] = [2]int{int(classic[found]), int(native[found])}
			// Mid-migration both forms exist: the classic one is read, so
			// that no event is counted twice.
			switch {
			case classic[found] > 0 && native[found] > 0 && classic[found] != native[found]:
				forms[s] = FormSplit
			case classic[found] > 0 && native[found] > 0:
				forms[s] = FormBoth
			case classic[found] > 0:
				forms[s] = FormClassic
			default:
				forms[s] = FormNative
			}
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
	changed = changed || !maps.Equal(forms, n.forms)
	n.absent = absent
	n.forms = forms
	n.series = series
	n.mu.Unlock()
	if changed {
		var parts []string
		for _, s := range rules.ShortNames() {
			if name, ok := merged[s]; ok {
				if f := forms[s]; f != "" && f != FormClassic {
					name += "(" + string(f) + ")"
				}
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

// nativeThreshold checks a latency threshold against a native histogram's
// buckets, read from query (the family's current cumulative histograms):
// histogram_fraction is exact at a bucket bound and interpolates inside a
// bucket, so a threshold inside a bucket that holds observations is refused,
// with the bucket's bounds named, unless interpolation was asked for.
// inside reports that interpolation happens. A threshold in a stretch of
// empty buckets is exact for the data there is.
func nativeThreshold(ctx context.Context, q Querier, query, family string, threshold float64, interpolate bool, ts time.Time) (inside bool, err error) {
	vec, err := vector(ctx, q, query, ts)
	if err != nil {
		return false, err
	}
	var straddle *model.HistogramBucket
	found := false
	for _, smp := range vec {
		if smp.Histogram == nil {
			continue
		}
		found = true
		for _, b := range smp.Histogram.Buckets {
			lo, up := float64(b.Lower), float64(b.Upper)
			if b.Count <= 0 {
				continue
			}
			if sameBound(lo, threshold) || sameBound(up, threshold) {
				return false, nil
			}
			if lo < threshold && threshold < up && straddle == nil {
				straddle = b
			}
		}
	}
	if !found {
		return false, &AbsentError{Metric: family, Time: ts}
	}
	if straddle == nil {
		return false, nil
	}
	if interpolate {
		return true, nil
	}
	te := &ThresholdError{Metric: family + " (a native histogram)", Threshold: threshold}
	if lo := float64(straddle.Lower); !math.IsInf(lo, -1) {
		te.Below = strconv.FormatFloat(lo, 'g', -1, 64)
	}
	if up := float64(straddle.Upper); !math.IsInf(up, 1) {
		te.Above = strconv.FormatFloat(up, 'g', -1, 64)
	}
	return false, te
}

// nativeNote says how an SLO on a native histogram counts its good events.
func nativeNote(interpolated bool) string {
	if interpolated {
		return "native histogram: good events read with histogram_fraction, interpolated inside the bucket that holds the threshold (threshold_mode: interpolate)"
	}
	return "native histogram: good events read with histogram_fraction at the threshold, a bucket bound: exact"
}
