package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// flavourConfig is configs/example.yaml pointed at prom and at one
// instance: the same SLOs and indicators for every flavour.
func flavourConfig(t *testing.T, promURL, instance string) string {
	t.Helper()
	src, err := os.ReadFile("../../configs/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(src), "url: http://localhost:9090", "url: "+promURL, 1)
	text = strings.Replace(text, `selector: '{job="vllm"}'`, `selector: '{job="vllm",instance="`+instance+`"}'`, 1)
	if !strings.Contains(text, instance) || !strings.Contains(text, promURL) {
		t.Fatal("configs/example.yaml changed: the test cannot point it at its Prometheus")
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// One config (configs/example.yaml, metric_names: auto) against every
// flavour vllm-sim writes, in one real Prometheus 2.42: check --online
// prints each metric's name as that flavour spells it and its histogram
// form, and passes. Against llm-d's simulator (no engine label, no
// preemption counter, finish_reason) it passes with warnings, and eval
// evaluates every SLO there, the preemption indicator reported absent.
func TestCheckOnlineMapsEveryFlavour(t *testing.T) {
	end := time.Now().Truncate(time.Second)
	start := end.Add(-2 * time.Hour)
	var files []string
	for _, f := range sim.Flavours() {
		files = append(files, simtest.Backfill(t, sim.Config{Flavour: f, Seed: 1, TargetLabels: map[string]string{"job": "vllm", "instance": f}}, start, end))
	}
	prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: files})
	rows := map[string]map[string]string{ // flavour -> metric -> name in Prometheus
		sim.FlavourV1:         {"time_to_first_token": "vllm:time_to_first_token_seconds", "kv_cache_usage_perc": "vllm:kv_cache_usage_perc"},
		sim.FlavourV0:         {"kv_cache_usage_perc": "vllm:gpu_cache_usage_perc", "inter_token_latency": "vllm:time_per_output_token_seconds"},
		sim.FlavourUnderscore: {"time_to_first_token": "vllm_time_to_first_token_seconds", "request_success": "vllm_request_success_total"},
		sim.FlavourOTel:       {"time_to_first_token": "vllm_time_to_first_token", "num_preemptions": "vllm_num_preemptions", "request_success": "vllm_request_success"},
		sim.FlavourRatio:      {"kv_cache_usage_perc": "vllm:kv_cache_usage_perc_ratio", "num_preemptions": "vllm:num_preemptions_total"},
		sim.FlavourRay:        {"time_to_first_token": "ray_vllm:time_to_first_token_seconds", "num_requests_waiting": "ray_vllm:num_requests_waiting"},
		sim.FlavourLLMD:       {"time_to_first_token": "vllm:time_to_first_token_seconds", "num_preemptions": "vllm:num_preemptions_total  (absent)"},
	}
	for _, f := range sim.Flavours() {
		t.Run(f, func(t *testing.T) {
			cfgFile := flavourConfig(t, prom.URL, f)
			code, out, errs := runCLI(t, "check", "--online", "--config", cfgFile)
			if code != 0 {
				t.Fatalf("check --online: exit %d:\n%s%s", code, out, errs)
			}
			for metric, name := range rows[f] {
				form := ""
				if strings.HasPrefix(metric, "time_to") || strings.HasPrefix(metric, "inter_token") {
					form = `\s+classic \(_bucket series\)`
				}
				if !regexp.MustCompile(`(?m)^  ` + metric + `\s+` + regexp.QuoteMeta(name) + form + `\s*$`).MatchString(out) {
					t.Errorf("no row %s -> %s%s:\n%s", metric, name, form, out)
				}
			}
			if f != sim.FlavourLLMD {
				if !strings.Contains(out, "every SLO and indicator evaluates against Prometheus") || strings.Contains(out, "warning") {
					t.Errorf("check --online:\n%s%s", out, errs)
				}
				return
			}
			for _, w := range []string{
				"warning: indicator preemptions: metric vllm:num_preemptions_total has no series",
				"warning: SLO errors model_name=llama-3.1-8b: the errors selector matches no series",
				"every SLO evaluates against Prometheus; 1 indicator(s) lack an input",
			} {
				if !strings.Contains(out, w) {
					t.Errorf("check --online does not say %q:\n%s%s", w, out, errs)
				}
			}
			code, out, errs = runCLI(t, "eval", "--config", cfgFile, "--at", strconv.FormatInt(end.Unix(), 10), "--output", "json")
			if code != 0 {
				t.Fatalf("eval: exit %d: %s%s", code, out, errs)
			}
			var res struct {
				SLOs []struct {
					SLO     string `json:"slo"`
					Windows []struct {
						Events float64 `json:"events"`
					} `json:"windows"`
				} `json:"slos"`
				Indicators []struct {
					Indicator string `json:"indicator"`
				} `json:"indicators"`
				Errors []struct {
					Indicator string `json:"indicator"`
					Absent    string `json:"absent"`
				} `json:"errors"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			slos := map[string]float64{}
			for _, s := range res.SLOs {
				for _, w := range s.Windows {
					slos[s.SLO] = max(slos[s.SLO], w.Events)
				}
			}
			if slos["ttft"] <= 0 || slos["errors"] <= 0 {
				t.Errorf("eval on llm-d-like metrics: SLO events %v, want both SLOs evaluated", slos)
			}
			evaluated := map[string]bool{}
			for _, in := range res.Indicators {
				evaluated[in.Indicator] = true
			}
			for _, name := range []string{"queue-growth", "kv-cache", "stall", "ttft-p99"} {
				if !evaluated[name] {
					t.Errorf("indicator %s not evaluated: %s", name, out)
				}
			}
			if len(res.Errors) != 1 || res.Errors[0].Indicator != "preemptions" || res.Errors[0].Absent == "" {
				t.Errorf("eval errors %+v, want the preemption indicator's input absent", res.Errors)
			}
		})
	}
}

// serveSim serves vllm-sim's live /metrics, its model clock twenty times
// faster than the wall clock, and returns host:port.
func serveSim(t *testing.T, cfg sim.Config) string {
	t.Helper()
	wallStart := time.Now()
	modelStart := wallStart.Add(-time.Hour)
	s, err := sim.New(cfg, modelStart)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: sim.ServesOpenMetrics(cfg.Flavour)})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.AdvanceTo(modelStart.Add(20 * time.Since(wallStart)))
		metrics.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// check --online against Prometheus 3 says how each histogram is stored:
// native only (convert_classic_histograms_to_nhcb), or both forms in the
// middle of a migration (with always_scrape_classic_histograms), and which
// one is read; the same config passes on both.
func TestCheckOnlineSaysHistogramForm(t *testing.T) {
	target := serveSim(t, sim.Config{Seed: 1})
	for _, tc := range []struct {
		name        string
		keepClassic bool
		form        string
	}{
		{"native", false, "native (histogram_fraction, histogram_count)"},
		{"mid-migration", true, "classic and native (mid-migration): classic read, native ignored, nothing counted twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{Version3: true, NativeHistograms: true,
				KeepClassicHistograms: tc.keepClassic, ScrapeTargets: []string{target}})
			prom.WaitForTargets(t)
			time.Sleep(5 * time.Second) // a few scrapes, for increase()
			code, out, errs := runCLI(t, "check", "--online", "--config", flavourConfig(t, prom.URL, target))
			t.Logf("check --online:\n%s%s", out, errs)
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			for _, m := range []string{"time_to_first_token", "inter_token_latency", "request_queue_time"} {
				if !regexp.MustCompile(`(?m)^  ` + m + `\s+vllm:` + m + `_seconds\s+` + regexp.QuoteMeta(tc.form) + `$`).MatchString(out) {
					t.Errorf("no row saying %s is %s", m, tc.form)
				}
			}
		})
	}
}

// A name no flavour spells is a per-metric override: check --online maps
// the metric to it and the SLO evaluates on it.
func TestCheckOnlineWithAnOverride(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	var b strings.Builder
	b.WriteString("# TYPE custom:ttft_seconds histogram\n")
	type sample struct{ suffix, le string }
	series := []sample{{"_bucket", "0.5"}, {"_bucket", "1.0"}, {"_bucket", "+Inf"}, {"_count", ""}, {"_sum", ""}}
	per := []float64{6, 9, 10, 10, 4.5} // each scrape: 10 requests, 9 within 1s
	for i, s := range series {
		le := ""
		if s.le != "" {
			le = `,le="` + s.le + `"`
		}
		for k, ts := 0, now.Add(-time.Hour); !ts.After(now); k, ts = k+1, ts.Add(15*time.Second) {
			b.WriteString("custom:ttft_seconds" + s.suffix + `{job="vllm",model_name="m"` + le + "} " +
				strconv.FormatFloat(per[i]*float64(k), 'f', -1, 64) + " " + strconv.FormatInt(ts.Unix(), 10) + "\n")
		}
	}
	b.WriteString("# EOF\n")
	om := filepath.Join(t.TempDir(), "custom.om")
	if err := os.WriteFile(om, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: []string{om}})
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(`prometheus: {url: `+prom.URL+`}
vllm:
  selector: '{job="vllm"}'
  metric_names: {flavour: auto, overrides: {time_to_first_token: 'custom:ttft_seconds'}}
  group_by: [model_name]
slos:
  - {name: ttft, sli: {latency: {metric: time_to_first_token, threshold: 1s}}, objective: 99, window: 28d}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "check", "--online", "--config", cfgFile)
	if code != 0 {
		t.Fatalf("check --online: exit %d:\n%s%s", code, out, errs)
	}
	if !regexp.MustCompile(`(?m)^  time_to_first_token\s+custom:ttft_seconds\s+classic \(_bucket series\)$`).MatchString(out) {
		t.Errorf("no row for the override:\n%s", out)
	}
	code, out, errs = runCLI(t, "eval", "--config", cfgFile, "--at", strconv.FormatInt(now.Unix(), 10), "--output", "json")
	if code != 0 || !strings.Contains(out, `"metric": "custom:ttft_seconds"`) || !strings.Contains(out, `"error_ratio": 0.1`) {
		t.Errorf("eval: exit %d:\n%s%s", code, out, errs)
	}
}
