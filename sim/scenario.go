package sim

import (
	"math"
	"time"
)

// Scenario names.
const (
	ScenarioHealthy    = "healthy"
	ScenarioSurge      = "surge"
	ScenarioKVPressure = "kv-pressure"
	ScenarioStall      = "stall"
	ScenarioSlowDecode = "slow-decode"
	ScenarioErrorBurst = "error-burst"
	ScenarioRestart    = "restart"
	ScenarioLowTraffic = "low-traffic"
	ScenarioFlapping   = "flapping"
	// ScenarioHealthyBursty is healthy traffic with short KV and latency
	// bursts; ScenarioSlowRamp is load creeping past capacity.
	ScenarioHealthyBursty = "healthy-bursty"
	ScenarioSlowRamp      = "slow-ramp"
	// ScenarioLongPrompts is prompts growing until prefill alone breaks the
	// TTFT objective.
	ScenarioLongPrompts = "long-prompts"
	// ScenarioKVSpike is the KV cache filling within a couple of minutes,
	// with nothing ahead of it to warn on; ScenarioKVPressure fills it over
	// twenty.
	ScenarioKVSpike = "kv-spike"
)

// ScenarioInfo documents a scenario: when its incident starts, how it
// unfolds and what a correct sentinel should raise.
type ScenarioInfo struct {
	Name        string
	Description string
	// IncidentAt is the default offset from the start of a run at which the
	// incident begins (Config.IncidentAt overrides it). Zero for healthy.
	IncidentAt time.Duration
	// Lead is how long before IncidentAt the scripted change already
	// begins: the precursor that leading indicators can see before users
	// are hurt (zero for most scenarios).
	Lead time.Duration
	// Duration is how long the scripted change lasts from its beginning
	// (IncidentAt - Lead), ramps included, before the engine's conditions
	// return to normal (zero: instantaneous).
	Duration time.Duration
	// Signature is what the metrics show, with times relative to the
	// incident start.
	Signature string
	// ShouldFire lists the alerts a correct sentinel raises.
	ShouldFire []string
}

// shaping is what a scenario changes at an offset from its incident start.
type shaping struct {
	// Extra traffic of long-generation (batch) and long-context requests, as
	// shares of the engine's capacity for each kind.
	batchShare, longShare float64
	// Extra traffic of long-document requests (long prompts, no prefix
	// cache beyond the system prompt), as a share of their capacity.
	docShare float64
	// chatFloor is a floor under the chat traffic, as a share of the
	// engine's chat capacity (like scenario.floor, but changing with time).
	chatFloor float64
	// script is a scripted client's burst, its start relative to the
	// shape's origin (the run's start for background).
	script  script
	hiccup  time.Duration // a stall added to the first step of every hiccupEvery
	errFrac float64
	stalled bool
}

type scenario struct {
	info ScenarioInfo
	// floor is a floor under the chat traffic, as a share of the engine's
	// chat capacity.
	floor float64
	// shape returns the scenario's changes at offset tau from the start of
	// the scripted change (IncidentAt - Lead); it is only called for
	// 0 <= tau < info.Duration.
	shape func(tau time.Duration) shaping
	// restart marks the scenario whose incident is a process restart.
	restart bool
	// rateScale, when set, scales the configured arrival rate for the
	// whole run (a quiet deployment).
	rateScale float64
	// background, when set, replaces shape: it returns the changes at
	// offset t from the start of the run, for the whole run, and may place
	// them by the run's seed (short bursts of a scenario without incident).
	background func(backdrop) shaping
}

// backdrop is what a background shape sees at a moment of the run.
type backdrop struct {
	seed int64
	t    time.Duration // since the start of the run
	// load is the chat arrival rate as a share of the chat capacity.
	load      float64
	spec      engineParams
	blockSize int64
}

// hiccupEvery is the period of slow-decode stalls.
const hiccupEvery = 500 * time.Millisecond

// restartDowntime is how long the restarted process serves nothing.
const restartDowntime = 30 * time.Second

// ramp interpolates linearly through (offset, value) points, holding the
// end values outside them.
func ramp(tau time.Duration, pts ...rampPoint) float64 {
	if tau <= pts[0].at {
		return pts[0].v
	}
	for i := 1; i < len(pts); i++ {
		if tau <= pts[i].at {
			a, b := pts[i-1], pts[i]
			f := float64(tau-a.at) / float64(b.at-a.at)
			return a.v + f*(b.v-a.v)
		}
	}
	return pts[len(pts)-1].v
}

type rampPoint struct {
	at time.Duration
	v  float64
}

func scenarios() []scenario {
	const m = time.Minute
	return []scenario{
		{
			info: ScenarioInfo{
				Name: ScenarioHealthy,
				Description: "Diurnal chat traffic (peak 15:00 UTC at 1.5x the mean rate, trough at 0.5x, " +
					"weekends at 0.8x), well inside capacity; no incident.",
				Signature: "TTFT good ratio at le=1.0 above 0.99 in every hour of the week, no preemptions, " +
					"waiting near zero, KV usage below 0.5, errors about 0.02% of requests.",
				ShouldFire: []string{"nothing but the watchdog"},
			},
			shape: func(time.Duration) shaping { return shaping{} },
		},
		{
			info: ScenarioInfo{
				Name: ScenarioSurge,
				Description: "A batch client's traffic ramps up over the 10 minutes before the incident " +
					"until arrivals reach 95% of the engine's capacity at the incident start, then jumps to 20% " +
					"past it within 2 minutes, holds until +30m and falls back by +35m; the backlog " +
					"drains afterwards.",
				IncidentAt: time.Hour,
				Lead:       10 * m,
				Duration:   45 * m,
				Signature: "before the incident the running batch fills while TTFT stays good; from the " +
					"incident start vllm:num_requests_waiting rises steadily, TTFT breaches within a few " +
					"minutes (5m good ratio at le=1.0 well below 0.9) and stays bad until the backlog " +
					"has drained.",
				ShouldFire: []string{"queue_growth (first)", "SLOBurnRate ttft page 1h/5m (later)", "latency_percentile ttft"},
			},
			floor: 0.8,
			shape: func(tau time.Duration) shaping {
				return shaping{batchShare: ramp(tau,
					rampPoint{0, 0}, rampPoint{10 * m, 0.15}, rampPoint{12 * m, 0.4},
					rampPoint{40 * m, 0.4}, rampPoint{45 * m, 0})}
			},
		},
		{
			info: ScenarioInfo{
				Name: ScenarioKVPressure,
				Description: "A client shifts to long generations (an agent whose reasoning traces grow with " +
					"every retry), on top of the normal traffic: from the incident it sends 0.6 requests a second, " +
					"4,000-token prompts (2,048 of them from the prefix cache) with answers of a fixed length that " +
					"grows from 300 tokens to 2,400 by +8m, 2,950 by +14m, 3,250 by +25m and 3,600 by +30m; held " +
					"to +50m, then the client stops by +60m; the backlog clears at about +61m. Sequences hold more " +
					"of the KV cache the longer they generate, so the pool fills over twenty minutes, as it does " +
					"when a real client's contexts grow.",
				IncidentAt: time.Hour,
				Duration:   60 * m,
				Signature: "vllm:kv_cache_usage_perc climbs steadily: its 5-minute means from the incident are " +
					"about 0.1, 0.3, 0.5, 0.7 and 0.8, each above the one before; it is first above 0.8 about 6 " +
					"minutes before the first preemption (+26m..+28m by seed; +20m..+23m with the traffic of " +
					"07:00 UTC). Then the pool is full and preemptions go on, the queue grows to hundreds, the " +
					"5m TTFT good ratio at le=1.0 falls below 0.9 within about a minute of the first preemption " +
					"and inter-token latency p99 rises from below 0.1s to 0.15-0.2s (recomputed prefills share " +
					"steps with decodes); prefix cache hits rise.",
				ShouldFire: []string{"kv_cache_pressure (first, while TTFT is still good: 2 minutes above 0.8 within 10)",
					"preemption_rate", "queue_growth", "SLOBurnRate ttft (page 1h/5m, at least 5 minutes after kv_cache_pressure)",
					"not latency_percentile itl (p99 stays below 0.2s)"},
			},
			shape: growingContexts,
		},
		{
			info: ScenarioInfo{
				Name: ScenarioStall,
				Description: "The engine hangs for 20 minutes (as on a stuck collective): requests keep " +
					"arriving and queueing, none runs or finishes; then it recovers and drains the queue.",
				IncidentAt: time.Hour,
				Duration:   20 * m,
				Signature: "from the incident vllm:num_requests_waiting grows while " +
					"vllm:request_success_total and every histogram count stay flat and running and " +
					"KV usage freeze; on recovery the stuck requests report TTFTs of minutes.",
				ShouldFire: []string{"queue_stall", "queue_growth", "SLOBurnRate ttft (once the stuck requests report)"},
			},
			shape: func(time.Duration) shaping { return shaping{stalled: true} },
		},
		{
			info: ScenarioInfo{
				Name: ScenarioSlowDecode,
				Description: "The engine hiccups (host-side stalls: CPU contention, swapping, a noisy " +
					"neighbour): the first step of every 500 ms stalls, ramping to 200 ms over 10 minutes, " +
					"held to +55m and gone by +60m.",
				IncidentAt: time.Hour,
				Duration:   60 * m,
				Signature: "inter-token latency p99 rises from below 0.1s to between 0.2s and 0.3s at any " +
					"traffic level, while the TTFT good ratio at le=1.0 stays above 0.99 and nothing queues.",
				ShouldFire: []string{"latency_percentile itl (p99 above 0.2s)", "not the TTFT SLO"},
			},
			shape: func(tau time.Duration) shaping {
				ms := ramp(tau, rampPoint{0, 20}, rampPoint{10 * m, 200}, rampPoint{55 * m, 200}, rampPoint{60 * m, 20})
				return shaping{hiccup: time.Duration(ms * float64(time.Millisecond))}
			},
		},
		{
			info: ScenarioInfo{
				Name: ScenarioErrorBurst,
				Description: "8% of requests end with finished_reason=error for 30 minutes " +
					"(after a 1-minute ramp), then back to the baseline 0.02%.",
				IncidentAt: time.Hour,
				Duration:   31 * m,
				Signature: "the error share of vllm:request_success_total jumps from 0.02% to about 8%; " +
					"latency is unchanged.",
				ShouldFire: []string{"SLOBurnRate errors (page 1h/5m for a 99.9% objective)"},
			},
			shape: func(tau time.Duration) shaping {
				return shaping{errFrac: ramp(tau, rampPoint{0, 0}, rampPoint{m, 0.08})}
			},
		},
		{
			info: ScenarioInfo{
				Name: ScenarioRestart,
				Description: "The vLLM process restarts: in-flight requests are lost, the endpoint " +
					"is down for 30 seconds, then every counter and histogram starts again from 0.",
				IncidentAt: time.Hour,
				Signature: "every counter and histogram series drops to 0 at the incident and grows " +
					"again; no samples for 30 seconds (the live /metrics answers 503 then).",
				ShouldFire: []string{"nothing: rate() and increase() absorb counter resets"},
			},
			shape:   func(time.Duration) shaping { return shaping{} },
			restart: true,
		},
		{
			info: ScenarioInfo{
				Name: ScenarioLowTraffic,
				Description: "A quiet deployment: about 16 requests an hour per engine (the configured rate " +
					"x 0.0015, with the diurnal curve), healthy throughout; now and then one long prompt " +
					"takes more than a second to its first token.",
				Signature: "a few dozen requests per engine and 5m windows holding zero to three of them; " +
					"the hourly TTFT good ratio at le=1.0 swings with single requests; no queue, no preemptions.",
				ShouldFire: []string{"nothing but the watchdog: a handful of requests, one of them slow, is no evidence of a burn"},
			},
			shape:     func(time.Duration) shaping { return shaping{} },
			rateScale: 0.0015,
		},
		{
			info: ScenarioInfo{
				Name: ScenarioFlapping,
				Description: "A batch client switches on and off for five hours: for 5 minutes of every 15 " +
					"its traffic pushes arrivals 20% past the engine's capacity, then stops and the backlog " +
					"drains within about 5 minutes.",
				IncidentAt: time.Hour,
				Duration:   5 * time.Hour,
				Signature: "vllm:num_requests_waiting rises and drains every 15 minutes; the 5m TTFT good " +
					"ratio at le=1.0 falls below 0.9 in every burst and recovers between them.",
				ShouldFire: []string{"SLOBurnRate ttft page 1h/5m once for the whole five hours: flap damping holds it through the calm spells"},
			},
			floor: 0.8,
			shape: func(tau time.Duration) shaping {
				if tau%(15*m) < 5*m {
					return shaping{batchShare: 0.4}
				}
				return shaping{}
			},
		},
		{
			info: ScenarioInfo{
				Name: ScenarioHealthyBursty,
				Description: "The healthy diurnal traffic plus two kinds of short burst, each once every 4 hours " +
					"(6 a day, 18 in 3 days, 42 in a week) at times drawn from the seed: one KV burst between " +
					"0:15 and 1:45 of every 4-hour period counted from the start of the run, one latency burst " +
					"between 2:15 and 3:45. A KV burst is a long-context job: 8 requests within 3s, prompts of " +
					"24k-26k tokens (85% from the prefix cache; sized so that with the chat traffic of the hour " +
					"the pool holds about 0.82), generating 1400-2000 tokens each. A latency burst is a batch " +
					"job: 122-135 requests (max_num_seqs + 12, less the chat requests expected in the batch) of " +
					"600-token prompts and 680 tokens each, over 10s: 14-17 req/s with the chat traffic, past " +
					"the engine's capacity; they fill the batch, and the last of them and the chat requests " +
					"arriving next wait about 4s for the first of them to finish.",
				Signature: "in every KV burst vllm:kv_cache_usage_perc rises above 0.8 (peak 0.85-0.99, mostly " +
					"0.86-0.93) for 19-36s (1-3 scrapes at 15s, now and then none), above 0.9 for at most 16s, then back to " +
					"below 0.2; in nearly every latency burst the TTFT p99 over 1m (histogram_quantile) is " +
					"above 2.5s at 3-4 consecutive scrapes, vllm:num_requests_waiting peaks at 7-40 and is " +
					"below 5 again 11-21s after the burst began, and 10-80 requests take more than 1s to " +
					"their first token; otherwise as healthy: the TTFT good ratio at le=1.0 stays above 0.994 " +
					"in every hour, no preemptions (a handful a week, when a long chat prompt lands in a KV " +
					"burst).",
				ShouldFire: []string{"nothing but the watchdog: no burst holds KV usage above 0.9 for 2 minutes, " +
					"the TTFT p99 for 5 minutes or the queue above 5 for 2 minutes, and the hourly TTFT error " +
					"ratio stays below 0.6%, far from a page"},
			},
			shape:      func(time.Duration) shaping { return shaping{} },
			background: burstyShape,
		},
		{
			info: ScenarioInfo{
				Name: ScenarioSlowRamp,
				Description: "Chat traffic creeps past the engine's capacity without filling the KV cache: " +
					"from the normal diurnal level, arrivals rise to 60% of the estimated capacity by 65 " +
					"minutes before the incident, 86% by -25m, 95% (about what the engine sustains with a " +
					"full batch: the estimate is 3% high) at the incident, 99% at +10m and 115% at +25m, " +
					"held to +45m and back to normal by +55m; the backlog (about 4,500 requests) drains by " +
					"about +56m.",
				IncidentAt: 2 * time.Hour,
				Lead:       70 * m,
				Duration:   125 * m,
				Signature: "until -20m vllm:num_requests_waiting is below 5 at 99% of scrapes (brief spikes " +
					"behind long prefills) and the TTFT good ratio at le=1.0 above 0.99; in the 20m before the " +
					"incident vllm:num_requests_running climbs past 115 (90% of max_num_seqs), for 3-7 " +
					"minutes in all, while the queue swings up and drains (median 0-3); from around the " +
					"incident (-10m..+12m by seed) the queue grows for good, to 200-600 by +15m and about " +
					"3,700 by +40m (2.7 more a second during the hold), and the 5m TTFT good ratio falls " +
					"below 0.9 (from -15m..+5m by seed: queue swings near saturation) and below 0.4 by +15m; " +
					"KV usage peaks at 0.77-0.9 (the batch is full, not the cache; higher only behind a rare " +
					"30k-token prompt); no preemptions.",
				ShouldFire: []string{"queue_growth (-10m..+12m by seed)",
					"saturation (if max_num_seqs is configured: -9m..+10m)",
					"SLOBurnRate ttft page 1h/5m (+2m..+15m, after both)"},
			},
			shape: func(tau time.Duration) shaping {
				return shaping{chatFloor: ramp(tau,
					rampPoint{0, 0}, rampPoint{5 * m, 0.6}, rampPoint{45 * m, 0.86}, rampPoint{70 * m, 0.95},
					rampPoint{80 * m, 0.99}, rampPoint{95 * m, 1.15}, rampPoint{115 * m, 1.15}, rampPoint{125 * m, 0})}
			},
		},
		{
			info: ScenarioInfo{
				Name: ScenarioLongPrompts,
				Description: "Clients start sending whole documents (summaries, extraction): from 10 minutes before " +
					"the incident, requests of about 26k-token prompts that share only the system prompt, answering " +
					"in about 24 tokens, are added to the chat traffic, ramping to 40% of the rate the engine could " +
					"sustain of them alone at the incident start, held to +30m and gone by +35m.",
				IncidentAt: time.Hour,
				Lead:       10 * m,
				Duration:   45 * m,
				Signature: "the mean prompt (rate of vllm:prompt_tokens_total per request) grows from about 1,000 " +
					"tokens to about 6,700 and the prefix cache hit ratio falls from about 0.2 to about 0.03; the " +
					"mean of vllm:request_prefill_time_seconds grows from 30ms to about 0.28s (the queue time, the " +
					"wait behind other prefills, to about 0.2-0.25s) and the 5m TTFT good ratio at le=1.0 is below " +
					"0.9 at 90% of scrapes or more from +5m to +30m; meanwhile vllm:num_requests_waiting is below 5 " +
					"at 95% of scrapes (never above 10), KV usage peaks at 0.5-0.75 and nothing is preempted; all " +
					"back to normal by +40m. These numbers are for the default start (the incident at 01:00 UTC, " +
					"about 2 chat requests a second); with the chat traffic of the diurnal peak the prefill-laden " +
					"steps slow every decode enough to fill the batch: up to about 15 waiting, KV usage above 0.9 " +
					"and a few preemptions.",
				ShouldFire: []string{"SLOBurnRate ttft (page 1h/5m)", "latency_percentile ttft (p99 above 2.5s)",
					"not queue_growth, kv_cache_pressure or preemption_rate"},
			},
			shape: func(tau time.Duration) shaping {
				return shaping{docShare: ramp(tau, rampPoint{0, 0}, rampPoint{10 * m, 0.4}, rampPoint{40 * m, 0.4}, rampPoint{45 * m, 0})}
			},
		},
		{
			info: ScenarioInfo{
				Name: ScenarioKVSpike,
				Description: "KV pressure without a precursor (kv-pressure as it was before its contexts grew): " +
					"long conversations (12k-token histories, 85% of them served from the prefix " +
					"cache, 500-token answers) are added to the normal traffic: 55% of what the KV pool " +
					"holds by +10m, 60% by +18m, then 85% by +22m, held to +50m and faded by +60m; the " +
					"backlog clears at about +65m. The pool goes from below 0.7 to full within about two " +
					"minutes, with the TTFT breach right behind, so no warning can come minutes ahead.",
				IncidentAt: time.Hour,
				Duration:   60 * m,
				Signature: "vllm:kv_cache_usage_perc climbs from about 0.05 to peaks above 0.8 during the " +
					"+10m..+18m plateau, then toward 1, and preemptions start; then the queue grows, the 5m TTFT good ratio at " +
					"le=1.0 falls below 0.9 and inter-token latency p99 rises above 0.2s (recomputed " +
					"prefills share steps with decodes); prefix cache hits jump.",
				ShouldFire: []string{"kv_cache_pressure (with the breach, not ahead of it)", "preemption_rate", "queue_growth",
					"SLOBurnRate ttft", "latency_percentile itl"},
			},
			shape: func(tau time.Duration) shaping {
				return shaping{longShare: ramp(tau,
					rampPoint{0, 0}, rampPoint{10 * m, 0.55}, rampPoint{18 * m, 0.6}, rampPoint{22 * m, 0.85},
					rampPoint{50 * m, 0.85}, rampPoint{60 * m, 0})}
			},
		},
	}
}

// The healthy-bursty scenario's bursts. Each burstPeriod of the run, counted
// from its start, holds one KV burst in its first half and one latency burst
// in its second, each starting at a whole second drawn from the seed and the
// period's index, at least burstMargin from the edges of its half. Both are
// scripted clients (fixed lengths, outputs run to max_tokens), so that every
// burst has the same shape at any hour; their sizes allow for the chat
// traffic of the moment.
const (
	burstPeriod = 4 * time.Hour
	burstMargin = 15 * time.Minute

	// KV bursts: a long-context job sends kvBurstRequests requests within
	// kvBurstSpread, their prompts (85% of each from the prefix cache)
	// together kvBurstTarget of the KV pool less what the chat traffic holds
	// meanwhile (about kvChatPerLoad of the pool per unit of chat load);
	// each generates kvBurstOutMin..kvBurstOutMax tokens (drawn per burst).
	// The pool stays above 0.8 for about 20 to 35 seconds, growing by up to
	// 0.06 meanwhile, until they finish together.
	kvBurstRequests = 8
	kvBurstSpread   = 3 * time.Second
	kvBurstTarget   = 0.82
	kvChatPerLoad   = 0.28
	kvBurstOutMin   = 1400
	kvBurstOutMax   = 2000
	kvBurstCached   = 0.85

	// Latency bursts: a batch job sends max_num_seqs + latBurstOverflow
	// requests, less the chat requests expected in the batch (about
	// latChatPerLoad per unit of chat load), evenly over latBurstSpread,
	// each with a latBurstPrompt-token prompt and latBurstOut tokens out.
	// They fill the batch; the last few, and the chat requests arriving
	// meanwhile, wait about 4 seconds for the first of them to finish, and
	// the queue is gone about 20 seconds after the burst began.
	latBurstOverflow = 12
	latChatPerLoad   = 60
	latBurstSpread   = 10 * time.Second
	latBurstPrompt   = 600
	latBurstOut      = 680
)

// burstyShape is the healthy-bursty scenario's changes at a moment.
func burstyShape(b backdrop) shaping {
	k, in := int64(b.t/burstPeriod), b.t%burstPeriod
	half := burstPeriod / 2
	kind := int64(0)
	if in >= half {
		kind, in = 1, in-half
	}
	at := burstStart(b.seed, k, kind)
	start := int64(time.Duration(k)*burstPeriod + time.Duration(kind)*half + at)
	switch {
	case in < at:
	case kind == 0 && in < at+kvBurstSpread:
		out := kvBurstOutMin + int64(burstHash(b.seed, k, 2)%(kvBurstOutMax-kvBurstOutMin+1))
		total := int64((kvBurstTarget - kvChatPerLoad*b.load) * float64(b.spec.capTokens))
		// Prompts no longer than max_model_len allows.
		n := max(kvBurstRequests, ceilDiv(total, b.spec.maxModelLen-out))
		if prompt := total / max(n, 1); prompt > 0 {
			cached := int64(kvBurstCached*float64(prompt)) / b.blockSize * b.blockSize
			return shaping{script: script{start: start, over: int64(kvBurstSpread), n: int(n),
				prompt: prompt, cached: cached, out: out}}
		}
	case kind == 1 && in < at+latBurstSpread:
		if n := b.spec.maxSeqs + int(latBurstOverflow-latChatPerLoad*b.load); n > 0 {
			return shaping{script: script{start: start, over: int64(latBurstSpread), n: n,
				prompt: latBurstPrompt, out: latBurstOut}}
		}
	}
	return shaping{}
}

// burstStart is the offset of a burst of a kind (0 KV, 1 latency) in its
// half of period k, in whole seconds.
func burstStart(seed, k, kind int64) time.Duration {
	span := uint64((burstPeriod/2 - 2*burstMargin) / time.Second)
	return burstMargin + time.Duration(burstHash(seed, k, kind)%span)*time.Second
}

// burstHash is a fixed hash of a seed, a period index and a purpose.
func burstHash(seed, k, purpose int64) uint64 {
	return mix64(mix64(mix64(uint64(seed))+uint64(k)) + uint64(purpose))
}

// mix64 is splitmix64's step: a fixed, well-mixed hash of x.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Scenarios documents every scenario, in a stable order.
func Scenarios() []ScenarioInfo {
	var out []ScenarioInfo
	for _, s := range scenarios() {
		out = append(out, s.info)
	}
	return out
}

// ScenarioNames lists the scenario names.
func ScenarioNames() []string {
	var out []string
	for _, s := range scenarios() {
		out = append(out, s.info.Name)
	}
	return out
}

func lookupScenario(name string) (scenario, bool) {
	for _, s := range scenarios() {
		if s.info.Name == name {
			return s, true
		}
	}
	return scenario{}, false
}

// Traffic shape shared by every scenario.
const (
	diurnalAmplitude = 0.5
	diurnalPeakHour  = 15 // UTC
	weekendFactor    = 0.8
	baselineErrFrac  = 0.0002
)

// diurnal is the traffic multiplier at a wall-clock time: a daily cosine
// peaking at diurnalPeakHour UTC, lower at weekends. It averages 1 over a
// weekday.
func diurnal(unixSec float64) float64 {
	day := math.Floor(unixSec / 86400)
	hour := (unixSec - day*86400) / 3600
	f := 1 + diurnalAmplitude*math.Cos(2*math.Pi*(hour-diurnalPeakHour)/24)
	// 1970-01-01 was a Thursday: weekday 4 with Sunday as 0.
	if wd := int64(day+4) % 7; wd == 0 || wd == 6 {
		f *= weekendFactor
	}
	return f
}

// The kv-pressure scenario's client: an agent shifting to long generations
// (reasoning traces growing with every retry). It is a scripted client, so
// that its answers have exact lengths: ctxRate requests a second, sent
// ctxPeriod's worth at a time, evenly spaced, each a ctxPrompt-token prompt
// (ctxCached of it, whole blocks, from the prefix cache) and an answer of
// the length of the moment. The answers grow fast at first, then creep: the
// pool's usage grows faster than the answers, since longer sequences hold
// more tokens and also slow every step, keeping more of them in flight; so
// the creep is what makes usage climb steadily through 0.7..0.95.
const (
	ctxPeriod = 15 * time.Second
	ctxRate   = 0.6
	ctxPrompt = 4000
	ctxCached = 2048
)

// growingContexts is the kv-pressure scenario's changes at tau.
func growingContexts(tau time.Duration) shaping {
	const m = time.Minute
	at := tau / ctxPeriod * ctxPeriod
	out := int64(ramp(at, rampPoint{0, 300}, rampPoint{3 * m, 1500}, rampPoint{8 * m, 2400}, rampPoint{14 * m, 2950},
		rampPoint{25 * m, 3250}, rampPoint{30 * m, 3600}))
	n := int(ramp(at, rampPoint{50 * m, ctxRate * ctxPeriod.Seconds()}, rampPoint{60 * m, 0}))
	if n == 0 {
		return shaping{}
	}
	return shaping{script: script{start: int64(at), over: int64(ctxPeriod), n: n, prompt: ctxPrompt, cached: ctxCached, out: out}}
}
