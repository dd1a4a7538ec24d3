package sim

import (
	"testing"
	"time"
)

// lpStats are what the long-prompts scenario's signature is about, over a
// stretch of the run.
type lpStats struct {
	meanPrompt  float64 // prompt tokens per first token
	hitRatio    float64 // prefix cache hits / queries
	meanPrefill float64 // seconds, per finished request
	meanQueue   float64 // seconds, per finished request
	bad5m       int     // scrapes whose 5m TTFT good ratio (le=1.0) is below 0.9
	scrapes     int
	waitBelow5  int // scrapes with fewer than 5 requests waiting
	maxWaiting  float64
	maxKV       float64
	preemptions float64
}

func longPromptStats(t *testing.T, o *om, from, to time.Duration) lpStats {
	t.Helper()
	const model = "llama-3.1-8b"
	inc := func(name string) float64 {
		s := o.get(t, name, "model_name", model)
		a, ok1 := s.at(at(from).UnixMilli())
		b, ok2 := s.at(at(to).UnixMilli())
		if !ok1 || !ok2 {
			t.Fatalf("%s: no sample at +%v or +%v", name, from, to)
		}
		return b - a
	}
	var st lpStats
	st.meanPrompt = inc("vllm:prompt_tokens_total") / inc("vllm:time_to_first_token_seconds_count")
	st.hitRatio = inc("vllm:prefix_cache_hits_total") / inc("vllm:prefix_cache_queries_total")
	st.meanPrefill = inc("vllm:request_prefill_time_seconds_sum") / inc("vllm:request_prefill_time_seconds_count")
	st.meanQueue = inc("vllm:request_queue_time_seconds_sum") / inc("vllm:request_queue_time_seconds_count")
	st.preemptions = inc("vllm:num_preemptions_total")
	waiting := o.get(t, "vllm:num_requests_waiting", "model_name", model)
	kv := o.get(t, "vllm:kv_cache_usage_perc", "model_name", model)
	for d := from; d <= to; d += 15 * time.Second {
		st.scrapes++
		if ratio5m(t, o, d) < 0.9 {
			st.bad5m++
		}
		w, _ := waiting.at(at(d).UnixMilli())
		if w < 5 {
			st.waitBelow5++
		}
		st.maxWaiting = max(st.maxWaiting, w)
		k, _ := kv.at(at(d).UnixMilli())
		st.maxKV = max(st.maxKV, k)
	}
	return st
}

// TestLongPromptsSignature: prompts grow several-fold and prefix-cache hits
// fall, prefill time grows and the TTFT objective breaks, while the queue
// stays short and the KV cache far from full.
func TestLongPromptsSignature(t *testing.T) {
	for seed := range int64(4) {
		o := scenarioRun(t, ScenarioLongPrompts, seed, incident+time.Hour)
		base := longPromptStats(t, o, incident-30*time.Minute, incident-10*time.Minute)
		hold := longPromptStats(t, o, incident+5*time.Minute, incident+30*time.Minute)
		after := longPromptStats(t, o, incident+45*time.Minute, incident+time.Hour)
		t.Logf("seed %d: before %+v", seed, base)
		t.Logf("seed %d: hold %+v", seed, hold)
		t.Logf("seed %d: after %+v", seed, after)
		check := func(ok bool, format string, args ...any) {
			t.Helper()
			if !ok {
				t.Errorf("seed %d: "+format, append([]any{seed}, args...)...)
			}
		}
		// Prompts grow about sevenfold (about 1,000 tokens on average to
		// about 6,700), prefix-cache hits fall from about 20% to about 3%.
		check(hold.meanPrompt >= 5*base.meanPrompt, "mean prompt %.0f tokens, before %.0f: want 5x", hold.meanPrompt, base.meanPrompt)
		check(hold.hitRatio <= base.hitRatio/4, "prefix cache hit ratio %.3f, before %.3f: want a quarter", hold.hitRatio, base.hitRatio)
		// Prefill time grows about ninefold (30ms to about 0.28s) and stays
		// above the queue time (about 0.2-0.25s, the wait behind others'
		// prefills); the TTFT good ratio at le=1.0 over 5m is below 0.9 at
		// 90% of scrapes or more.
		check(hold.meanPrefill >= 6*base.meanPrefill, "mean prefill %.3fs, before %.3fs: want 6x", hold.meanPrefill, base.meanPrefill)
		check(hold.meanPrefill > hold.meanQueue, "mean prefill %.3fs not above the mean queue time %.3fs", hold.meanPrefill, hold.meanQueue)
		check(base.bad5m == 0, "5m TTFT good ratio below 0.9 at %d scrapes before", base.bad5m)
		check(float64(hold.bad5m) >= 0.9*float64(hold.scrapes), "5m TTFT good ratio below 0.9 at %d of %d scrapes", hold.bad5m, hold.scrapes)
		// The queue stays short: below 5 at 95% of scrapes, never above
		// 10 (queue_growth needs 5 and growing); KV usage stays below 0.9
		// (it peaks at 0.5-0.75) and nothing is preempted.
		check(float64(hold.waitBelow5) >= 0.95*float64(hold.scrapes), "waiting below 5 at only %d of %d scrapes", hold.waitBelow5, hold.scrapes)
		check(hold.maxWaiting <= 10, "up to %v waiting", hold.maxWaiting)
		check(hold.maxKV < 0.9, "KV usage up to %.2f", hold.maxKV)
		check(hold.preemptions == 0, "%v preemptions", hold.preemptions)
		// Back to normal once the documents stop.
		check(after.bad5m == 0 && after.maxWaiting <= 2 && after.meanPrompt < 1.5*base.meanPrompt,
			"after: %d bad scrapes, up to %v waiting, mean prompt %.0f", after.bad5m, after.maxWaiting, after.meanPrompt)
	}
}
