// Package dashboards builds a Grafana dashboard for a vllm-sentinel config
// with the Grafana Foundation SDK: the sentinel's own series (budgets,
// burn rates against each window pair's factor, firing pairs and alerts,
// indicators) and vLLM's (TTFT and inter-token latency percentiles, the
// queue, prefill and decode phase histograms, running and waiting
// requests, KV cache usage, preemptions).
//
// The vLLM metric names are the config's (Options.MetricName); the SLO and
// indicator panels follow the config's lists. The dashboard has two
// template variables: datasource (a Prometheus data source) and model_name.
package dashboards

// The SDK deprecates its dashboard package (the classic JSON model) in
// favour of dashboardv2, the schema of Grafana 12's v2 dashboard API. The
// classic model is what Grafana's import and file provisioning read on
// every version in use, so the export keeps it.
//
//lint:file-ignore SA1019 the classic dashboard JSON model is kept on purpose (see above)

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// Template variables of the dashboard, and the label the model variable
// selects on.
const (
	DatasourceVar = "datasource"
	ModelVar      = "model_name"
	ModelLabel    = "model_name"
	// RateInterval is Grafana's range for rate(): at least four scrape
	// intervals of the data source.
	RateInterval = "$__rate_interval"
)

// DefaultUID is the dashboard's uid unless Options.UID says otherwise.
const DefaultUID = "vllm-sentinel"

// Options say what the dashboard shows.
type Options struct {
	Title string
	UID   string
	// SLOs and Indicators are the config's, compiled.
	SLOs       []*rules.SLO
	Indicators []*rules.Indicator
	// Selector is vllm.selector, parsed: added to every vLLM query.
	Selector []*labels.Matcher
	// GroupBy is vllm.group_by: the vLLM panels have a series per group.
	GroupBy []string
	// MetricName resolves a vLLM metric's short name (time_to_first_token)
	// to the name Prometheus has; nil means vLLM V1 names.
	MetricName func(short string) string
}

// New builds the dashboard.
func New(opts Options) (dashboard.Dashboard, error) {
	if opts.Title == "" {
		opts.Title = "vLLM SLOs and leading indicators (vllm-sentinel)"
	}
	if opts.UID == "" {
		opts.UID = DefaultUID
	}
	if opts.MetricName == nil {
		opts.MetricName = func(short string) string { return rules.MetricName(short, rules.FlavourV1) }
	}
	b := &builder{opts: opts, promql: rules.NewPromQL()}
	d := dashboard.NewDashboardBuilder(opts.Title).
		Uid(opts.UID).
		Description("SLO error budgets, burn rates and leading indicators as vllm-sentinel evaluates them, beside vLLM's own latency, phase and load metrics.").
		Tags([]string{"vllm", "vllm-sentinel", "slo"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("30s").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder(DatasourceVar).
			Label("Data source").
			Type("prometheus")).
		WithVariable(b.modelVariable())

	b.overview(d)
	for _, s := range opts.SLOs {
		b.slo(d, s)
	}
	if len(opts.Indicators) > 0 {
		b.indicators(d)
	}
	b.latency(d)
	b.load(d)
	if b.err != nil {
		return dashboard.Dashboard{}, b.err
	}
	return d.Build()
}

type builder struct {
	opts   Options
	promql *rules.PromQL
	nextID uint32
	err    error
}

// datasource is every panel's and query's data source: the variable.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + DatasourceVar + "}")}
}

func (b *builder) id() uint32 {
	b.nextID++
	return b.nextID
}

// modelVariable lists the model_name values of vLLM's running-requests
// gauge; All matches every value, and series without the label too.
func (b *builder) modelVariable() *dashboard.QueryVariableBuilder {
	sel := b.vllmSelector("num_requests_running", false).String()
	q := fmt.Sprintf("label_values(%s, %s)", sel, ModelLabel)
	return dashboard.NewQueryVariableBuilder(ModelVar).
		Label("Model").
		Query(dashboard.StringOrMap{String: cog.ToPtr(q)}).
		Definition(q).
		Datasource(datasource()).
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*")
}

// modelMatcher selects the models of the variable.
func modelMatcher(label string) *labels.Matcher {
	return labels.MustNewMatcher(labels.MatchRegexp, label, "$"+ModelVar)
}

// vllmSelector selects a vLLM metric (with suffix, e.g. _bucket) with the
// config's selector and, with model set, the model variable.
func (b *builder) vllmSelector(short string, model bool, suffix ...string) *parser.VectorSelector {
	name := b.opts.MetricName(short) + strings.Join(suffix, "")
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", name)}
	ms = append(ms, b.opts.Selector...)
	if model && !hasMatcher(b.opts.Selector, ModelLabel) {
		ms = append(ms, modelMatcher(ModelLabel))
	}
	return &parser.VectorSelector{Name: name, LabelMatchers: ms}
}

func hasMatcher(ms []*labels.Matcher, name string) bool {
	return slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return m.Name == name })
}

// sentinelSelector selects one of the sentinel's own series by its labels
// and, for groups that have a model_name, the model variable.
func sentinelSelector(name string, groupBy []string, match ...string) *parser.VectorSelector {
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", name)}
	for i := 0; i+1 < len(match); i += 2 {
		t := labels.MatchEqual
		v := match[i+1]
		if strings.HasPrefix(v, "!") {
			t, v = labels.MatchNotEqual, v[1:]
		}
		ms = append(ms, labels.MustNewMatcher(t, match[i], v))
	}
	if slices.Contains(groupBy, ModelLabel) {
		ms = append(ms, modelMatcher(evaluator.ExportedLabel(ModelLabel)))
	}
	return &parser.VectorSelector{Name: name, LabelMatchers: ms}
}

// placeholder stands in for $__rate_interval while a query is an AST: a
// range no query here has otherwise.
const placeholder = 17*time.Hour + 17*time.Minute + 17*time.Second

// query renders tmpl, in which each key of sels is a placeholder vector
// selector and [$__rate_interval] the range Grafana fills in: the
// placeholders are swapped for their selectors and groupBy is added to
// every aggregation, on the parsed query, so that config values never
// become query text by pasting.
func (b *builder) query(tmpl string, sels map[string]*parser.VectorSelector, groupBy []string) string {
	ph := "[" + model.Duration(placeholder).String() + "]"
	e, err := b.promql.ParseExpr(strings.ReplaceAll(tmpl, "["+RateInterval+"]", ph))
	if err != nil {
		panic(fmt.Sprintf("dashboard query template %q: %v", tmpl, err)) // a programming error, caught by tests
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			if s, ok := sels[n.Name]; ok {
				n.Name, n.LabelMatchers = s.Name, s.LabelMatchers
			}
		case *parser.AggregateExpr:
			if n.Op != parser.TOPK && n.Op != parser.BOTTOMK {
				n.Grouping = append(append([]string(nil), groupBy...), n.Grouping...)
			}
		}
		return nil
	})
	out := strings.ReplaceAll(e.String(), ph, "["+RateInterval+"]")
	// What Grafana sends must parse once it has filled in its variables.
	if _, err := b.promql.ParseExpr(strings.ReplaceAll(out, RateInterval, "1m")); err != nil && b.err == nil {
		b.err = fmt.Errorf("dashboard query: %w", err)
	}
	return out
}

func target(expr, legend, ref string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		Expr(expr).
		LegendFormat(legend).
		RefId(ref)
}

func tableTarget(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		Expr(expr).
		Format(prometheus.PromQueryFormatTable).
		Instant().
		RefId("A")
}

// legend names a series by its group labels, as exported.
func legend(groupBy []string, prefix string) string {
	parts := []string{}
	if prefix != "" {
		parts = append(parts, prefix)
	}
	for _, l := range groupBy {
		parts = append(parts, "{{"+evaluator.ExportedLabel(l)+"}}")
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

func thresholds(steps ...dashboard.Threshold) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)
}

func step(v *float64, color string) dashboard.Threshold {
	return dashboard.Threshold{Value: v, Color: color}
}

func (b *builder) timeseries(title, desc, unit string) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Id(b.id()).
		Title(title).
		Description(desc).
		Datasource(datasource()).
		Unit(unit).
		Height(8).
		Span(12).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
}

// withLine draws a dashed line at each threshold over the series.
func withLine(p *timeseries.PanelBuilder, color string, at ...float64) *timeseries.PanelBuilder {
	steps := []dashboard.Threshold{step(nil, "transparent")}
	slices.Sort(at)
	for _, v := range slices.Compact(at) {
		steps = append(steps, step(cog.ToPtr(v), color))
	}
	return p.Thresholds(thresholds(steps...)).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
}

// hideColumns keeps a table to the labels that say what fires.
func hideColumns(cols ...string) dashboard.DataTransformerConfig {
	exclude := map[string]bool{}
	for _, c := range cols {
		exclude[c] = true
	}
	return dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{"excludeByName": exclude}}
}

// overview is what fires now: alerts, window pairs, indicators.
func (b *builder) overview(d *dashboard.DashboardBuilder) {
	d.WithRow(dashboard.NewRowBuilder("Now firing").Id(b.id()))
	alerts := b.query(`sum by (alertname) (a)`, map[string]*parser.VectorSelector{
		"a": sentinelSelector(evaluator.MetricAlerts, nil, "state", "firing", "alertname", "!"+evaluator.AlertWatchdog),
	}, nil)
	d.WithPanel(stat.NewPanelBuilder().
		Id(b.id()).
		Title("Firing alerts").
		Description("Alerts the sentinel holds as firing, by alertname (its always-firing watchdog left out).").
		Datasource(datasource()).
		Height(6).
		Span(6).
		NoValue("0").
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		TextMode(common.BigValueTextModeValueAndName).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Thresholds(thresholds(step(nil, "green"), step(cog.ToPtr(1.0), "red"))).
		WithTarget(target(alerts, "{{alertname}}", "A")))

	var groupBy []string
	for _, s := range b.opts.SLOs {
		groupBy = append(groupBy, s.GroupBy...)
	}
	pairs := b.query(`p == 1`, map[string]*parser.VectorSelector{"p": sentinelSelector(evaluator.MetricSLOPairFiring, groupBy)}, nil)
	d.WithPanel(table.NewPanelBuilder().
		Id(b.id()).
		Title("SLO window pairs firing").
		Description("Each long/short window pair whose burn rates both exceed its factor, per SLO and group, at the last evaluation.").
		Datasource(datasource()).
		Height(6).
		Span(9).
		NoValue("none").
		WithTransformation(hideColumns("Time", "Value", "__name__", "job", "instance")).
		WithTarget(tableTarget(pairs)))

	groupBy = nil
	for _, in := range b.opts.Indicators {
		groupBy = append(groupBy, in.GroupBy...)
	}
	states := b.query(`s == 1`, map[string]*parser.VectorSelector{
		"s": sentinelSelector(evaluator.MetricIndicatorState, groupBy, "state", "!inactive"),
	}, nil)
	d.WithPanel(table.NewPanelBuilder().
		Id(b.id()).
		Title("Leading indicators not inactive").
		Description("Indicators whose alert is pending or firing, or that have no data, per group.").
		Datasource(datasource()).
		Height(6).
		Span(9).
		NoValue("none").
		WithTransformation(hideColumns("Time", "Value", "__name__", "job")).
		WithTarget(tableTarget(states)))
}

// slo is a row per SLO: its budget and each window pair's burn rates
// against the pair's factor.
func (b *builder) slo(d *dashboard.DashboardBuilder, s *rules.SLO) {
	title := "SLO " + s.Name
	if s.Description != "" {
		title += ": " + s.Description
	}
	d.WithRow(dashboard.NewRowBuilder(title).Id(b.id()))
	period := rules.Duration(s.PeriodLength()).String()
	if s.Calendar != "" {
		period = "calendar " + string(s.Calendar)
	}
	budget := b.query(`b`, map[string]*parser.VectorSelector{
		"b": sentinelSelector(evaluator.MetricSLOBudgetRemaining, s.GroupBy, "slo", s.Name),
	}, nil)
	d.WithPanel(stat.NewPanelBuilder().
		Id(b.id()).
		Title("Error budget remaining").
		Description(fmt.Sprintf("Share of the error budget of %s (objective %s%%, %s) left, per group; negative when overspent.",
			s.Name, strconv.FormatFloat(s.Objective.Percent(), 'f', -1, 64), period)).
		Datasource(datasource()).
		Unit("percentunit").
		Decimals(1).
		Height(5).
		Span(24).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeArea).
		TextMode(common.BigValueTextModeValueAndName).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Thresholds(thresholds(step(nil, "red"), step(cog.ToPtr(0.0), "orange"), step(cog.ToPtr(0.25), "green"))).
		WithTarget(target(budget, legend(s.GroupBy, ""), "A")))
	for _, w := range s.Windows {
		long, short := rules.Duration(w.Long).String(), rules.Duration(w.Short).String()
		burn := func(win, ref string) *prometheus.DataqueryBuilder {
			q := b.query(`r`, map[string]*parser.VectorSelector{
				"r": sentinelSelector(evaluator.MetricSLOBurnRate, s.GroupBy, "slo", s.Name, "window", win),
			}, nil)
			return target(q, legend(s.GroupBy, win), ref)
		}
		p := b.timeseries(fmt.Sprintf("Burn rate %s / %s (%s, %s)", long, short, w.Tier, w.Severity),
			fmt.Sprintf("Error-budget burn rate of %s over %s and %s, per group. The pair fires when both exceed %s "+
				"(the dashed line) and the windows hold enough events. Empty when the sentinel runs without per-window series.",
				s.Name, long, short, strconv.FormatFloat(w.Factor, 'f', -1, 64)), "none").
			Min(0).
			WithTarget(burn(long, "A")).
			WithTarget(burn(short, "B"))
		d.WithPanel(withLine(p, "red", w.Factor))
	}
}

// indicatorUnits is the unit of each built-in kind's value.
var indicatorUnits = map[string]string{
	rules.KindQueueGrowth:       "reqps",
	rules.KindPreemptionRate:    "reqps",
	rules.KindKVCachePressure:   "percentunit",
	rules.KindSaturation:        "percentunit",
	rules.KindQueueStall:        "short",
	rules.KindLatencyPercentile: "s",
}

// indicators is a panel per configured indicator: its value per group
// against its threshold.
func (b *builder) indicators(d *dashboard.DashboardBuilder) {
	d.WithRow(dashboard.NewRowBuilder("Leading indicators").Id(b.id()))
	for _, in := range b.opts.Indicators {
		q := b.query(`v`, map[string]*parser.VectorSelector{
			"v": sentinelSelector(evaluator.MetricIndicatorValue, in.GroupBy, "indicator", in.Name),
		}, nil)
		unit, builtin := indicatorUnits[in.Kind]
		desc := fmt.Sprintf("The value of custom indicator %s per group: its expression's result.", in.Name)
		if builtin {
			desc = fmt.Sprintf("The value of indicator %s (%s) per group, as its alert compares it with the threshold %s (the dashed line); it fires once that held for %s.",
				in.Name, in.Kind, strconv.FormatFloat(in.Threshold(), 'f', -1, 64), model.Duration(in.For))
		} else {
			unit = "short"
		}
		p := b.timeseries(fmt.Sprintf("%s (%s)", in.Name, in.Kind), desc, unit).
			Span(8).
			WithTarget(target(q, legend(in.GroupBy, ""), "A"))
		if builtin {
			p = withLine(p, "orange", in.Threshold())
		}
		d.WithPanel(p)
	}
}

// quantiles are the percentiles of the latency panels.
var quantiles = []float64{0.5, 0.9, 0.99}

// percentiles is a panel of a vLLM histogram's percentiles per group,
// with the thresholds of the latency SLOs over it as lines.
func (b *builder) percentiles(short, title, desc string) *timeseries.PanelBuilder {
	p := b.timeseries(title, desc, "s").Min(0)
	for i, q := range quantiles {
		expr := b.query(fmt.Sprintf(`histogram_quantile(%s, sum by (le) (rate(m[%s])))`, strconv.FormatFloat(q, 'f', -1, 64), RateInterval),
			map[string]*parser.VectorSelector{"m": b.vllmSelector(short, true, "_bucket")}, b.opts.GroupBy)
		p.WithTarget(target(expr, legend(b.opts.GroupBy, fmt.Sprintf("p%g", q*100)), string(rune('A'+i))))
	}
	var at []float64
	for _, s := range b.opts.SLOs {
		if s.Latency != nil && (s.Latency.Metric == short || s.Latency.Metric == b.opts.MetricName(short)) {
			at = append(at, s.Latency.Threshold)
		}
	}
	if len(at) > 0 {
		p = withLine(p, "red", at...)
	}
	return p
}

// latency is vLLM's latency and phase histograms.
func (b *builder) latency(d *dashboard.DashboardBuilder) {
	d.WithRow(dashboard.NewRowBuilder("vLLM latency").Id(b.id()))
	d.WithPanel(b.percentiles("time_to_first_token", "Time to first token",
		"Percentiles of vLLM's time to first token per group, from its histogram; dashed lines are the latency SLOs' thresholds."))
	d.WithPanel(b.percentiles("inter_token_latency", "Inter-token latency",
		"Percentiles of the time between output tokens per group, from vLLM's histogram."))
	for _, ph := range []struct{ short, title, desc string }{
		{"request_queue_time", "Queue time", "Time requests spent waiting before they were scheduled (vLLM's WAITING phase)."},
		{"request_prefill_time", "Prefill time", "Time requests spent in prefill: the prompt's forward pass up to the first token."},
		{"request_decode_time", "Decode time", "Time requests spent decoding, from the first token to the last."},
	} {
		d.WithPanel(b.percentiles(ph.short, ph.title, ph.desc+" Percentiles per group, from vLLM's phase histogram.").Span(8))
	}
	mean := b.timeseries("Mean time per phase", "Mean seconds a request spends queued, in prefill and in decode, per group: where the latency comes from.", "s").
		Span(24).
		Min(0)
	for i, ph := range []struct{ short, name string }{{"request_queue_time", "queue"}, {"request_prefill_time", "prefill"}, {"request_decode_time", "decode"}} {
		expr := b.query(fmt.Sprintf(`sum(rate(s[%s])) / sum(rate(c[%s]))`, RateInterval, RateInterval), map[string]*parser.VectorSelector{
			"s": b.vllmSelector(ph.short, true, "_sum"), "c": b.vllmSelector(ph.short, true, "_count"),
		}, b.opts.GroupBy)
		mean.WithTarget(target(expr, legend(b.opts.GroupBy, ph.name), string(rune('A'+i))))
	}
	d.WithPanel(mean)
}

// load is vLLM's scheduler and KV cache gauges and its preemptions.
func (b *builder) load(d *dashboard.DashboardBuilder) {
	d.WithRow(dashboard.NewRowBuilder("vLLM load").Id(b.id()))
	reqs := b.timeseries("Requests running and waiting", "Requests in the running batch and in the waiting queue, per group: a queue that keeps growing precedes a TTFT burn.", "short").
		Span(8).
		Min(0)
	for i, g := range []struct{ short, name string }{{"num_requests_running", "running"}, {"num_requests_waiting", "waiting"}} {
		expr := b.query(`sum(m)`, map[string]*parser.VectorSelector{"m": b.vllmSelector(g.short, true)}, b.opts.GroupBy)
		reqs.WithTarget(target(expr, legend(b.opts.GroupBy, g.name), string(rune('A'+i))))
	}
	d.WithPanel(reqs)

	perEngine := b.opts.GroupBy
	if !slices.Contains(perEngine, "instance") {
		perEngine = append([]string{"instance"}, perEngine...)
	}
	kv := b.query(`max(m)`, map[string]*parser.VectorSelector{"m": b.vllmSelector("kv_cache_usage_perc", true)}, perEngine)
	kvPanel := b.timeseries("KV cache usage", "KV cache usage of the fullest engine per server and group (0..1); dashed lines are the kv_cache_pressure indicators' thresholds. A full cache makes vLLM preempt.", "percentunit").
		Span(8).
		Min(0).
		Max(1).
		WithTarget(target(kv, legend(perEngine, ""), "A"))
	var at []float64
	for _, in := range b.opts.Indicators {
		if in.Kind == rules.KindKVCachePressure {
			at = append(at, in.Threshold())
		}
	}
	if len(at) > 0 {
		kvPanel = withLine(kvPanel, "orange", at...)
	}
	d.WithPanel(kvPanel)

	pre := b.query(fmt.Sprintf(`sum(rate(m[%s]))`, RateInterval), map[string]*parser.VectorSelector{"m": b.vllmSelector("num_preemptions", true)}, b.opts.GroupBy)
	d.WithPanel(b.timeseries("Preemptions", "Requests preempted per second, per group: vLLM evicts running requests when the KV cache runs out.", "reqps").
		Span(8).
		Min(0).
		WithTarget(target(pre, legend(b.opts.GroupBy, ""), "A")))
}
