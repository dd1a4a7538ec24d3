package sim

import (
	"bytes"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
)

// otelInstrument is how one vLLM family would reach an OTLP translator:
// the instrument name of an OpenTelemetry-instrumented vLLM (otel), or the
// name a Collector's prometheus receiver gives a scraped vLLM metric, which
// drops a counter's _total (ratio); with its unit and type.
type otelInstrument struct {
	otel, receiver string
	unit           string
	typ            otlptranslator.MetricType
}

// instruments maps each family key to its OTLP form. Units follow the
// OpenTelemetry conventions: "s" for durations, "1" for a fraction (the KV
// gauge: "1 means 100 percent usage"), a {annotation} for counts, which no
// translator turns into a suffix.
func instruments() map[string]otelInstrument {
	gauge, counter, hist := otlptranslator.MetricType(otlptranslator.MetricTypeGauge), otlptranslator.MetricType(otlptranslator.MetricTypeMonotonicCounter), otlptranslator.MetricType(otlptranslator.MetricTypeHistogram)
	out := map[string]otelInstrument{}
	for _, f := range families() {
		in := otelInstrument{otel: "vllm." + strings.TrimSuffix(f.key, "_seconds"), receiver: "vllm:" + f.key}
		switch f.typ {
		case typeGauge:
			in.typ, in.unit = gauge, "{request}"
			if f.key == "kv_cache_usage_perc" {
				in.unit = "1"
			}
		case typeCounter:
			in.typ, in.unit = counter, "{token}"
		case typeHistogram:
			in.typ, in.unit = hist, "{preemption}"
			if strings.HasSuffix(f.key, "_seconds") {
				in.unit = "s"
			}
		}
		out[f.key] = in
	}
	return out
}

// The otel and ratio flavours name every family as prometheus/otlptranslator
// v1.0.0 does, so the names are the translator's, not our guess of them:
//   - otel: MetricNamer without suffixes (UnderscoreEscapingWithoutSuffixes,
//     as a Collector with trim_metric_suffixes writes too) escapes the
//     instrument name's dots to "_" and adds nothing: vllm_time_to_first_token,
//     vllm_num_preemptions (no _total), vllm_kv_cache_usage_perc.
//   - ratio: MetricNamer with suffixes (UnderscoreEscapingWithSuffixes)
//     keeps ":" (a valid metric character), adds _total to a monotonic
//     counter, leaves _seconds alone when the name already has the unit's
//     token, and adds _ratio to a gauge of unit "1":
//     vllm:kv_cache_usage_perc_ratio.
func TestOTLPFlavoursFollowTheTranslator(t *testing.T) {
	ins := instruments()
	for _, tc := range []struct {
		flavour  string
		suffixes bool
		name     func(otelInstrument) string
	}{
		{FlavourOTel, false, func(in otelInstrument) string { return in.otel }},
		{FlavourRatio, true, func(in otelInstrument) string {
			return strings.TrimSuffix(in.receiver, "_total")
		}},
	} {
		namer := otlptranslator.MetricNamer{WithMetricSuffixes: tc.suffixes}
		fams, err := Families(tc.flavour)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range families() {
			in := ins[f.key]
			want, err := namer.Build(otlptranslator.Metric{Name: tc.name(in), Unit: in.unit, Type: in.typ})
			if err != nil {
				t.Fatal(err)
			}
			if fams[i].Name != want {
				t.Errorf("%s: %s is %s, the OTLP translator writes %s", tc.flavour, f.key, fams[i].Name, want)
			}
		}
	}
}

// The exact names and labels of each flavour. Ray's metrics agent puts
// ray_ before every application metric and changes nothing else; llm-d's
// simulator has V1 names without an engine label or preemption metrics.
func TestFlavourNames(t *testing.T) {
	for flavour, want := range map[string]map[string]string{
		FlavourOTel: {
			"time_to_first_token_seconds": "vllm_time_to_first_token", "num_preemptions": "vllm_num_preemptions",
			"request_success": "vllm_request_success", "kv_cache_usage_perc": "vllm_kv_cache_usage_perc",
			"num_requests_waiting": "vllm_num_requests_waiting", "inter_token_latency_seconds": "vllm_inter_token_latency",
		},
		FlavourRatio: {
			"time_to_first_token_seconds": "vllm:time_to_first_token_seconds", "num_preemptions": "vllm:num_preemptions_total",
			"request_success": "vllm:request_success_total", "kv_cache_usage_perc": "vllm:kv_cache_usage_perc_ratio",
			"num_requests_waiting": "vllm:num_requests_waiting",
		},
		FlavourRay: {
			"time_to_first_token_seconds": "ray_vllm:time_to_first_token_seconds", "num_preemptions": "ray_vllm:num_preemptions_total",
			"request_success": "ray_vllm:request_success_total", "kv_cache_usage_perc": "ray_vllm:kv_cache_usage_perc",
		},
		FlavourLLMD: {
			"time_to_first_token_seconds": "vllm:time_to_first_token_seconds", "request_success": "vllm:request_success_total",
			"kv_cache_usage_perc": "vllm:kv_cache_usage_perc", "num_preemptions": "", "request_num_preemptions": "",
		},
	} {
		fams, err := Families(flavour)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]FamilyInfo{}
		for _, f := range flavourFamilies(flavour) {
			i := slices.IndexFunc(fams, func(fi FamilyInfo) bool { return fi.Name == seriesName(f, flavour) })
			got[f.key] = fams[i]
		}
		for key, name := range want {
			if got[key].Name != name {
				t.Errorf("%s: %s is %q, want %q", flavour, key, got[key].Name, name)
			}
		}
		wantLabels := []string{"model_name", "engine", "finished_reason"}
		if flavour == FlavourLLMD {
			wantLabels = []string{"model_name", "finish_reason"}
		}
		if l := got["request_success"].Labels; !slices.Equal(l, wantLabels) {
			t.Errorf("%s: request_success labels %v, want %v", flavour, l, wantLabels)
		}
	}
	if _, err := (Config{Flavour: FlavourLLMD, Engines: 2}).Normalize(); err == nil || !strings.Contains(err.Error(), "no engine label") {
		t.Errorf("llmd with two engines: %v, want an error: their series would collide", err)
	}
}

// scrape renders the live endpoint as vllm-sim serves it to a Prometheus,
// which asks for OpenMetrics first.
func scrape(t *testing.T, s *Sim) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: ServesOpenMetrics(s.Config().Flavour)})
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Body.String()
}

// Each flavour's exposition, live and backfilled, line by line for the
// spellings that matter: counters with or without _total, bounds as le="1"
// (OTLP) or le="1.0" (vLLM's Python client), the engine label, the finish
// label.
func TestFlavourExposition(t *testing.T) {
	at := 20 * time.Minute
	for _, tc := range []struct {
		flavour string
		live    []string // substrings of the live exposition
		om      []string // substrings of the backfill file
		absent  []string // in neither
	}{
		{FlavourOTel,
			[]string{"# TYPE vllm_num_preemptions counter\n", "\nvllm_num_preemptions{engine=\"0\",model_name=\"m\"} ",
				"\nvllm_time_to_first_token_bucket{engine=\"0\",model_name=\"m\",le=\"1\"} ", "\nvllm_kv_cache_usage_perc{engine=\"0\",model_name=\"m\"} "},
			[]string{"# TYPE vllm_num_preemptions unknown\n", "\nvllm_num_preemptions{model_name=\"m\",engine=\"0\"} ",
				"\nvllm_time_to_first_token_bucket{model_name=\"m\",engine=\"0\",le=\"1\"} ", "\nvllm_time_to_first_token_bucket{model_name=\"m\",engine=\"0\",le=\"2560\"} "},
			[]string{"_total", "vllm:", "_seconds_", "le=\"1.0\"", "_ratio"}},
		{FlavourRatio,
			[]string{"\nvllm:kv_cache_usage_perc_ratio{engine=\"0\",model_name=\"m\"} ", "\nvllm:num_preemptions_total{engine=\"0\",model_name=\"m\"} ",
				"\nvllm:time_to_first_token_seconds_bucket{engine=\"0\",model_name=\"m\",le=\"1\"} "},
			[]string{"\nvllm:kv_cache_usage_perc_ratio{model_name=\"m\",engine=\"0\"} ", "# TYPE vllm:num_preemptions counter\n",
				"\nvllm:time_to_first_token_seconds_bucket{model_name=\"m\",engine=\"0\",le=\"1\"} "},
			[]string{"vllm:kv_cache_usage_perc{", "le=\"1.0\"", "vllm_"}},
		{FlavourRay,
			[]string{"\nray_vllm:num_preemptions_total{engine=\"0\",model_name=\"m\"} ",
				"\nray_vllm:time_to_first_token_seconds_bucket{engine=\"0\",model_name=\"m\",le=\"1.0\"} "},
			[]string{"\nray_vllm:num_preemptions_total{model_name=\"m\",engine=\"0\"} ",
				"\nray_vllm:time_to_first_token_seconds_bucket{model_name=\"m\",engine=\"0\",le=\"1.0\"} "},
			[]string{"\nvllm:", "le=\"1\""}},
		{FlavourLLMD,
			[]string{"\nvllm:request_success_total{finish_reason=\"stop\",model_name=\"m\"} ",
				"\nvllm:time_to_first_token_seconds_bucket{model_name=\"m\",le=\"1\"} ", "\nvllm:num_requests_waiting{model_name=\"m\"} "},
			[]string{"\nvllm:request_success_total{model_name=\"m\",finish_reason=\"stop\"} ",
				"\nvllm:time_to_first_token_seconds_bucket{model_name=\"m\",le=\"1.0\"} "},
			[]string{"engine=", "preemptions", "finished_reason"}},
	} {
		t.Run(tc.flavour, func(t *testing.T) {
			cfg := Config{Flavour: tc.flavour, Models: []string{"m"}, Scenario: ScenarioKVPressure, IncidentAt: 10 * time.Minute}
			data, _ := backfill(t, cfg, testStart, at)
			o := parseOM(t, data)
			s, err := New(cfg, testStart)
			if err != nil {
				t.Fatal(err)
			}
			s.AdvanceTo(testStart.Add(at))
			live := scrape(t, s)
			for _, w := range tc.live {
				if !strings.Contains(live, w) {
					t.Errorf("live exposition lacks %q:\n%s", w, head(live))
				}
			}
			for _, w := range tc.om {
				if !bytes.Contains(data, []byte(w)) {
					t.Errorf("backfill lacks %q:\n%s", w, head(string(data)))
				}
			}
			for _, w := range tc.absent {
				if strings.Contains(live, w) || bytes.Contains(data, []byte(w)) {
					t.Errorf("the %s flavour writes %q", tc.flavour, w)
				}
			}
			// Every family of Families is there, and only those.
			fams, _ := Families(tc.flavour)
			if len(o.types) != len(fams) {
				t.Errorf("backfill has %d families, Families says %d", len(o.types), len(fams))
			}
			for _, f := range fams {
				if f.Type == "histogram" && o.all(f.Name+"_count") == nil {
					t.Errorf("backfill lacks %s", f.Name)
				}
				if f.Type != "histogram" && o.all(f.Name) == nil {
					t.Errorf("backfill lacks %s", f.Name)
				}
			}
		})
	}
}

func head(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}
