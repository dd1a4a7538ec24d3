package sim_test

import "time"

// testKVGrowth checks kv-pressure in PromQL: the cache fills over twenty
// minutes, so the indicator's condition (usage above 0.8 for 2 of the last
// 10 minutes) holds before the first preemption, and the breach comes after.
func testKVGrowth(q querier) {
	if p := q.value(incident, `increase(vllm:num_preemptions_total{model_name=%[1]q}[1h])`); p != 0 {
		q.t.Errorf("%v preemptions before the incident", p)
	}
	if kv := q.value(incident, `max_over_time(vllm:kv_cache_usage_perc{model_name=%[1]q}[1h])`); !(kv < 0.5) {
		q.t.Errorf("KV usage %v before the incident", kv)
	}
	for _, c := range []struct {
		at     time.Duration
		lo, hi float64
	}{{10 * time.Minute, 0.2, 0.45}, {20 * time.Minute, 0.55, 0.8}} {
		if kv := q.value(incident+c.at, `avg_over_time(vllm:kv_cache_usage_perc{model_name=%[1]q}[5m])`); !(kv > c.lo && kv < c.hi) {
			q.t.Errorf("KV usage averages %v over the 5 minutes to +%v, want %v..%v", kv, c.at, c.lo, c.hi)
		}
	}
	if kv := q.value(incident+25*time.Minute, `quantile_over_time(0.8, vllm:kv_cache_usage_perc{model_name=%[1]q}[10m])`); !(kv > 0.8) {
		q.t.Errorf("KV usage above 0.8 for less than 2 of the 10 minutes to +25m (0.8-quantile %v)", kv)
	}
	if p := q.value(incident+25*time.Minute, `increase(vllm:num_preemptions_total{model_name=%[1]q}[25m])`); p != 0 {
		q.t.Errorf("%v preemptions by +25m, before the pool is full", p)
	}
	if r := q.ttftRatio(incident+25*time.Minute, "5m"); !(r > 0.99) {
		q.t.Errorf("5m TTFT good ratio %.4f at +25m, while the cache is still filling", r)
	}
	if kv := q.value(incident+40*time.Minute, `max_over_time(vllm:kv_cache_usage_perc{model_name=%[1]q}[30m])`); !(kv > 0.95) {
		q.t.Errorf("KV usage peaked at %v", kv)
	}
	if p := q.value(incident+40*time.Minute, `increase(vllm:num_preemptions_total{model_name=%[1]q}[10m])`); !(p > 100) {
		q.t.Errorf("%v preemptions in +30m..+40m", p)
	}
	if r := q.ttftRatio(incident+35*time.Minute, "5m"); !(r < 0.9) {
		q.t.Errorf("5m TTFT good ratio %.4f at +35m", r)
	}
	if p99 := q.itlP99(incident, "1h"); !(p99 < 0.1) {
		q.t.Errorf("ITL p99 %v before the incident", p99)
	}
	if p99 := q.itlP99(incident+45*time.Minute, "15m"); !(p99 > 0.1) {
		q.t.Errorf("ITL p99 %v at +45m, want above 0.1s", p99)
	}
}
