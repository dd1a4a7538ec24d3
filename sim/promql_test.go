package sim_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// The scenarios' signatures asserted through PromQL on a real Prometheus
// over backfilled data. Every scenario is backfilled as its own model_name
// into one Prometheus: healthy for 24h, healthy-bursty for 3 days (1 with
// -short), slow-ramp for 5h (its incident at +2h), the others for 3h with the
// incident at the default +1h.

var start = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC) // a Monday

const incident = time.Hour

func TestScenariosInPrometheus(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, name := range sim.ScenarioNames() {
		dur := 3 * time.Hour
		switch name {
		case sim.ScenarioHealthy:
			dur = 24 * time.Hour
		case sim.ScenarioHealthyBursty:
			dur = burstyDuration()
		case sim.ScenarioSlowRamp:
			dur = 5 * time.Hour
		}
		path := filepath.Join(dir, name+".om")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		st, err := sim.WriteOpenMetrics(t.Context(), f, sim.Config{Scenario: name, Models: []string{name}}, start, start.Add(dur))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("backfill %s: %v", name, err)
		}
		t.Logf("%s: %d samples, %d series, %d bytes in %v", name, st.Samples, st.Series, st.Bytes, time.Since(began).Round(time.Millisecond))
		files = append(files, path)
	}
	began := time.Now()
	p := promtest.StartPrometheus(t, promtest.PrometheusOptions{OpenMetrics: files})
	t.Logf("promtool and Prometheus start: %v", time.Since(began).Round(time.Millisecond))
	api := p.API(t)

	for _, name := range sim.ScenarioNames() {
		t.Run(name, func(t *testing.T) {
			q := querier{t: t, api: api, model: name}
			switch name {
			case sim.ScenarioHealthy:
				testHealthy(q)
			case sim.ScenarioSurge:
				testSurge(q)
			case sim.ScenarioKVPressure:
				testKVGrowth(q)
			case sim.ScenarioKVSpike:
				testKVPressure(q)
			case sim.ScenarioStall:
				testStall(q)
			case sim.ScenarioSlowDecode:
				testSlowDecode(q)
			case sim.ScenarioErrorBurst:
				testErrorBurst(q)
			case sim.ScenarioRestart:
				testRestart(q)
			case sim.ScenarioLowTraffic:
				testLowTraffic(q)
			case sim.ScenarioFlapping:
				testFlapping(q)
			case sim.ScenarioHealthyBursty:
				testHealthyBursty(q)
			case sim.ScenarioSlowRamp:
				testSlowRamp(q)
			case sim.ScenarioLongPrompts:
				testLongPrompts(q)
			default:
				t.Fatalf("no PromQL test for scenario %s", name)
			}
		})
	}
}

type querier struct {
	t     *testing.T
	api   v1.API
	model string
}

// value runs a query (with %[1]q standing for the model name) at start+d and
// returns its single value; an empty result is NaN.
func (q querier) value(d time.Duration, query string) float64 {
	q.t.Helper()
	expr := fmt.Sprintf(query, q.model)
	ctx, cancel := context.WithTimeout(q.t.Context(), 30*time.Second)
	defer cancel()
	v, _, _, err := q.api.Query(ctx, expr, start.Add(d))
	if err != nil {
		q.t.Fatalf("query %s: %v", expr, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		q.t.Fatalf("query %s: %s, want a vector", expr, v.Type())
	}
	switch len(vec) {
	case 0:
		return math.NaN()
	case 1:
		return float64(vec[0].Value)
	}
	q.t.Fatalf("query %s: %d series, want one", expr, len(vec))
	return 0
}

// ttftRatio is the TTFT good ratio at le="1.0" over a window ending at d.
func (q querier) ttftRatio(d time.Duration, window string) float64 {
	q.t.Helper()
	return q.value(d, `sum(rate(vllm:time_to_first_token_seconds_bucket{model_name=%[1]q,le="1.0"}[`+window+`])) /
		sum(rate(vllm:time_to_first_token_seconds_count{model_name=%[1]q}[`+window+`]))`)
}

func (q querier) itlP99(d time.Duration, window string) float64 {
	q.t.Helper()
	return q.value(d, `histogram_quantile(0.99, sum by (le) (rate(vllm:inter_token_latency_seconds_bucket{model_name=%[1]q}[`+window+`])))`)
}

func testHealthy(q querier) {
	// Hourly good ratio over the whole day, diurnal peak included.
	if r := q.value(24*time.Hour, `min_over_time((
		sum(increase(vllm:time_to_first_token_seconds_bucket{model_name=%[1]q,le="1.0"}[1h])) /
		sum(increase(vllm:time_to_first_token_seconds_count{model_name=%[1]q}[1h])))[23h:1h])`); !(r > 0.99) {
		q.t.Errorf("worst hourly TTFT good ratio %.4f, want above 0.99", r)
	}
	if p := q.value(24*time.Hour, `max_over_time(vllm:num_preemptions_total{model_name=%[1]q}[24h])`); p != 0 {
		q.t.Errorf("%v preemptions", p)
	}
	if w := q.value(24*time.Hour, `max_over_time(vllm:kv_cache_usage_perc{model_name=%[1]q}[24h])`); !(w < 0.5) {
		q.t.Errorf("KV usage reached %v", w)
	}
}

func testSurge(q querier) {
	if r := q.ttftRatio(incident, "1h"); !(r > 0.99) {
		q.t.Errorf("TTFT good ratio %.4f in the hour before the incident", r)
	}
	if r := q.ttftRatio(incident+10*time.Minute, "5m"); !(r < 0.9) {
		q.t.Errorf("5m TTFT good ratio %.4f at +10m, want well below 0.9", r)
	}
	// The waiting queue grows steadily through the hold (until +30m).
	for _, d := range []time.Duration{10 * time.Minute, 20 * time.Minute, 29 * time.Minute} {
		if g := q.value(incident+d, `deriv(vllm:num_requests_waiting{model_name=%[1]q}[10m])`); !(g > 0.05) {
			q.t.Errorf("deriv(waiting[10m]) = %v at +%v, want growth", g, d)
		}
	}
	if w := q.value(incident+30*time.Minute, `vllm:num_requests_waiting{model_name=%[1]q}`); !(w > 100) {
		q.t.Errorf("waiting = %v at +30m", w)
	}
	if w := q.value(3*time.Hour, `vllm:num_requests_waiting{model_name=%[1]q}`); !(w < 10) {
		q.t.Errorf("waiting = %v at the end, want the backlog drained", w)
	}
}

func testLongPrompts(q querier) {
	if r := q.ttftRatio(incident-10*time.Minute, "1h"); !(r > 0.99) {
		q.t.Errorf("TTFT good ratio %.4f in the hour before the change", r)
	}
	if r := q.ttftRatio(incident+20*time.Minute, "15m"); !(r < 0.9) {
		q.t.Errorf("15m TTFT good ratio %.4f at +20m, want below 0.9", r)
	}
	prompt := `increase(vllm:prompt_tokens_total{model_name=%[1]q}[15m]) / increase(vllm:time_to_first_token_seconds_count{model_name=%[1]q}[15m])`
	if before, during := q.value(incident-10*time.Minute, prompt), q.value(incident+20*time.Minute, prompt); !(during > 5*before) {
		q.t.Errorf("mean prompt %v tokens at +20m, %v before", during, before)
	}
	if w := q.value(incident+30*time.Minute, `max_over_time(vllm:num_requests_waiting{model_name=%[1]q}[30m])`); !(w <= 10) {
		q.t.Errorf("up to %v waiting", w)
	}
	if kv := q.value(incident+30*time.Minute, `max_over_time(vllm:kv_cache_usage_perc{model_name=%[1]q}[30m])`); !(kv < 0.9) {
		q.t.Errorf("KV usage peaked at %v", kv)
	}
}

func testKVPressure(q querier) {
	if p := q.value(incident, `increase(vllm:num_preemptions_total{model_name=%[1]q}[1h])`); p != 0 {
		q.t.Errorf("%v preemptions before the incident", p)
	}
	if kv := q.value(incident, `max_over_time(vllm:kv_cache_usage_perc{model_name=%[1]q}[1h])`); !(kv < 0.5) {
		q.t.Errorf("KV usage %v before the incident", kv)
	}
	if kv := q.value(incident+40*time.Minute, `max_over_time(vllm:kv_cache_usage_perc{model_name=%[1]q}[30m])`); !(kv > 0.95) {
		q.t.Errorf("KV usage peaked at %v", kv)
	}
	if p := q.value(incident+40*time.Minute, `increase(vllm:num_preemptions_total{model_name=%[1]q}[30m])`); !(p > 10) {
		q.t.Errorf("%v preemptions during the incident", p)
	}
	if r := q.ttftRatio(incident+35*time.Minute, "5m"); !(r < 0.9) {
		q.t.Errorf("5m TTFT good ratio %.4f at +35m", r)
	}
	if p99 := q.itlP99(incident+45*time.Minute, "15m"); !(p99 > 0.2) {
		q.t.Errorf("ITL p99 %v at +45m, want above 0.2s", p99)
	}
}

func testStall(q querier) {
	for _, d := range []time.Duration{8 * time.Minute, 15 * time.Minute, 19 * time.Minute} {
		if n := q.value(incident+d, `sum(increase(vllm:request_success_total{model_name=%[1]q}[5m]))`); n != 0 {
			q.t.Errorf("%v requests finished in the 5m before +%v", n, d)
		}
		if w := q.value(incident+d, `vllm:num_requests_waiting{model_name=%[1]q}`); !(w > 0) {
			q.t.Errorf("waiting = %v at +%v", w, d)
		}
	}
	if g := q.value(incident+15*time.Minute, `deriv(vllm:num_requests_waiting{model_name=%[1]q}[10m])`); !(g > 0) {
		q.t.Errorf("waiting not growing during the stall: deriv %v", g)
	}
	if n := q.value(incident+40*time.Minute, `sum(increase(vllm:request_success_total{model_name=%[1]q}[10m]))`); !(n > 100) {
		q.t.Errorf("only %v requests finished after the stall", n)
	}
}

func testSlowDecode(q querier) {
	if p99 := q.itlP99(incident, "1h"); !(p99 < 0.1) {
		q.t.Errorf("ITL p99 %v before the incident", p99)
	}
	if p99 := q.itlP99(incident+50*time.Minute, "30m"); !(p99 > 0.2) {
		q.t.Errorf("ITL p99 %v during the incident, want above 0.2s", p99)
	}
	if r := q.ttftRatio(incident+time.Hour, "1h"); !(r > 0.99) {
		q.t.Errorf("TTFT good ratio %.4f over the incident, want above 0.99", r)
	}
}

func testErrorBurst(q querier) {
	share := func(d time.Duration, window string) float64 {
		return q.value(d, `sum(rate(vllm:request_success_total{model_name=%[1]q,finished_reason="error"}[`+window+`])) /
			sum(rate(vllm:request_success_total{model_name=%[1]q}[`+window+`]))`)
	}
	if f := share(incident, "1h"); !(f < 0.002) {
		q.t.Errorf("error share %.4f before the incident", f)
	}
	if f := share(incident+30*time.Minute, "20m"); !(f > 0.05 && f < 0.1) {
		q.t.Errorf("error share %.4f during the incident, want 5-10%%", f)
	}
}

func testLowTraffic(q querier) {
	for _, h := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
		if n := q.value(h, `sum(increase(vllm:request_success_total{model_name=%[1]q}[1h]))`); !(n >= 2 && n <= 60) {
			q.t.Errorf("%v requests in the hour to +%v, want a handful", n, h)
		}
	}
	if w := q.value(3*time.Hour, `max_over_time(vllm:num_requests_waiting{model_name=%[1]q}[3h])`); w > 1 {
		q.t.Errorf("%v requests waiting at a low rate", w)
	}
}

func testFlapping(q querier) {
	// Every burst breaches, every calm spell recovers: the 5m good ratio
	// swings across the page's 14.4x threshold (85.6% good) each 15 minutes.
	for burst := time.Duration(0); burst < 45*time.Minute; burst += 15 * time.Minute {
		if r := q.ttftRatio(incident+burst+5*time.Minute, "5m"); !(r < 0.5) {
			q.t.Errorf("5m TTFT good ratio %.3f at the end of the burst at +%v, want below 0.5", r, burst)
		}
		if w := q.value(incident+burst+14*time.Minute, `vllm:num_requests_waiting{model_name=%[1]q}`); w > 5 {
			q.t.Errorf("%v waiting before the burst after +%v, want the backlog drained", w, burst)
		}
	}
	if r := q.ttftRatio(incident+30*time.Minute, "5m"); !(r > 0.86) {
		q.t.Errorf("5m TTFT good ratio %.3f in the calm spell at +30m, want above the page's threshold", r)
	}
}

func testRestart(q querier) {
	for _, m := range []string{"vllm:prompt_tokens_total", "vllm:time_to_first_token_seconds_count", `vllm:request_success_total{finished_reason="stop",`} {
		sel := m + `{model_name=%[1]q}`
		if m[len(m)-1] == ',' {
			sel = m + `model_name=%[1]q}`
		}
		if r := q.value(incident+30*time.Minute, `resets(`+sel+`[1h])`); r != 1 {
			q.t.Errorf("resets(%s[1h]) = %v, want 1", m, r)
		}
		// rate() bridges the reset.
		if r := q.value(incident+5*time.Minute, `rate(`+sel+`[10m])`); !(r > 0) {
			q.t.Errorf("rate(%s[10m]) = %v across the restart", m, r)
		}
	}
	if n := q.value(incident+29*time.Second, `count_over_time(vllm:num_requests_running{model_name=%[1]q}[29s])`); !math.IsNaN(n) {
		q.t.Errorf("%v samples during the 30s outage", n)
	}
}

// burstyDuration is how much healthy-bursty is backfilled: 3 days, 54
// bursts, take about 7s more to load than the rest together.
func burstyDuration() time.Duration {
	if testing.Short() {
		return 24 * time.Hour
	}
	return 3 * 24 * time.Hour
}

// testHealthyBursty: every 4-hour period from the start holds a KV burst in
// its first two hours and a latency burst in its last two; each shows in
// Prometheus as a few samples, and the deployment is otherwise healthy.
func testHealthyBursty(q querier) {
	const period = 4 * time.Hour
	end := burstyDuration()
	periods := int(end / period)
	kvBursts, latBursts := 0, 0
	for k := range periods {
		kvEnd := time.Duration(k)*period + period/2
		if kv := q.value(kvEnd, `max_over_time(vllm:kv_cache_usage_perc{model_name=%[1]q}[2h])`); kv > 0.8 {
			kvBursts++
		}
		// Scrapes above 0.8: one to six, at most 90 seconds.
		if n := q.value(kvEnd, `count_over_time((vllm:kv_cache_usage_perc{model_name=%[1]q} > 0.8)[2h:15s])`); n > 6 {
			q.t.Errorf("KV usage above 0.8 at %v scrapes in the 2h to +%v", n, kvEnd)
		}
		latEnd := time.Duration(k+1) * period
		p99 := `histogram_quantile(0.99, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{model_name=%[1]q}[1m])))`
		if v := q.value(latEnd, `max_over_time((`+p99+`)[2h:15s])`); v > 2.5 {
			latBursts++
		}
		if n := q.value(latEnd, `count_over_time((`+p99+` > 2.5)[2h:15s])`); n > 6 {
			q.t.Errorf("TTFT p99 above 2.5s at %v evaluations in the 2h to +%v", n, latEnd)
		}
		// The burst's queue is gone within a minute.
		if n := q.value(latEnd, `count_over_time((vllm:num_requests_waiting{model_name=%[1]q} > 5)[2h:15s])`); n > 4 {
			q.t.Errorf("more than 5 waiting at %v scrapes in the 2h to +%v", n, latEnd)
		}
	}
	if kvBursts < periods-1 || latBursts < periods*3/4 {
		q.t.Errorf("KV above 0.8 in %d and TTFT p99 above 2.5s in %d of %d periods", kvBursts, latBursts, periods)
	}
	if r := q.value(end, `min_over_time((
		sum(increase(vllm:time_to_first_token_seconds_bucket{model_name=%[1]q,le="1.0"}[1h])) /
		sum(increase(vllm:time_to_first_token_seconds_count{model_name=%[1]q}[1h])))[`+hours(end-time.Hour)+`:1h])`); !(r > 0.99) {
		q.t.Errorf("worst hourly TTFT good ratio %.4f, want above 0.99", r)
	}
	if p := q.value(end, `max_over_time(vllm:num_preemptions_total{model_name=%[1]q}[`+hours(end)+`])`); p > float64(periods)/4 {
		q.t.Errorf("%v preemptions in %v", p, end)
	}
	// kv_cache_pressure wants 2 minutes above 0.9 within 10: never.
	if n := q.value(end, `max_over_time(count_over_time((vllm:kv_cache_usage_perc{model_name=%[1]q} > 0.9)[10m:15s])[`+hours(end)+`:1m])`); n >= 8 {
		q.t.Errorf("KV usage above 0.9 at %v scrapes of 10 minutes", n)
	}
	// queue_growth wants more than 5 waiting throughout 2 minutes: never.
	if w := q.value(end, `max_over_time(min_over_time(vllm:num_requests_waiting{model_name=%[1]q}[2m])[`+hours(end)+`:15s])`); w > 5 {
		q.t.Errorf("more than 5 waiting throughout 2 minutes (%v)", w)
	}
	q.t.Logf("KV above 0.8 in %d/%d periods, TTFT p99 above 2.5s in %d/%d", kvBursts, periods, latBursts, periods)
}

// testSlowRamp: the queue stays near zero while the load creeps up, the
// batch fills, then the queue grows for good and TTFT breaches, with KV usage
// below 0.9; the incident is at +2h.
func testSlowRamp(q querier) {
	const inc = 2 * time.Hour
	if n := q.value(inc-20*time.Minute, `count_over_time((vllm:num_requests_waiting{model_name=%[1]q} >= 5)[100m:15s])`); n > 12 {
		q.t.Errorf("5 or more waiting at %v of 400 scrapes to -20m", n)
	}
	if w := q.value(inc-5*time.Minute, `quantile_over_time(0.5, vllm:num_requests_waiting{model_name=%[1]q}[15m])`); !(w < 5) {
		q.t.Errorf("median waiting %v from -20m to -5m", w)
	}
	if r := q.ttftRatio(inc-20*time.Minute, "1h"); !(r > 0.99) {
		q.t.Errorf("TTFT good ratio %.4f in the hour to -20m", r)
	}
	if n := q.value(inc, `count_over_time((vllm:num_requests_running{model_name=%[1]q} > 115)[20m:15s])`); !(n >= 8) {
		q.t.Errorf("running above 115 at %v scrapes in the 20m before the incident", n)
	}
	if r := q.value(inc-50*time.Minute, `avg_over_time(vllm:num_requests_running{model_name=%[1]q}[10m])`); !(r < 90) {
		q.t.Errorf("running averaged %v from -60m to -50m", r)
	}
	for _, d := range []time.Duration{15 * time.Minute, 30 * time.Minute, 40 * time.Minute} {
		if g := q.value(inc+d, `deriv(vllm:num_requests_waiting{model_name=%[1]q}[10m])`); !(g > 0.05) {
			q.t.Errorf("deriv(waiting[10m]) = %v at +%v, want growth", g, d)
		}
	}
	if w := q.value(inc+40*time.Minute, `vllm:num_requests_waiting{model_name=%[1]q}`); !(w > 1000) {
		q.t.Errorf("waiting = %v at +40m", w)
	}
	if r := q.ttftRatio(inc+15*time.Minute, "5m"); !(r < 0.5) {
		q.t.Errorf("5m TTFT good ratio %.4f at +15m, want well below 0.9", r)
	}
	if kv := q.value(5*time.Hour, `max_over_time(vllm:kv_cache_usage_perc{model_name=%[1]q}[5h])`); !(kv < 0.9 && kv > 0.6) {
		q.t.Errorf("KV usage peaked at %v, want 0.6-0.9", kv)
	}
	if p := q.value(5*time.Hour, `vllm:num_preemptions_total{model_name=%[1]q}`); p != 0 {
		q.t.Errorf("%v preemptions", p)
	}
	if w := q.value(5*time.Hour, `max_over_time(vllm:num_requests_waiting{model_name=%[1]q}[1h])`); !(w < 5) {
		q.t.Errorf("waiting up to %v in the last hour, want the backlog drained", w)
	}
}

// hours renders a whole number of hours as a PromQL duration.
func hours(d time.Duration) string { return fmt.Sprintf("%dh", int(d/time.Hour)) }
