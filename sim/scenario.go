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
	hiccup                time.Duration // a stall added to the first step of every hiccupEvery
	errFrac               float64
	stalled               bool
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
				Description: "Long conversations (12k-token histories, 85% of them served from the prefix " +
					"cache, 500-token answers) are added to the normal traffic: 55% of what the KV pool " +
					"holds by +10m, 60% by +18m, then 85% by +22m, held to +50m and faded by +60m; the " +
					"backlog clears at about +65m.",
				IncidentAt: time.Hour,
				Duration:   60 * m,
				Signature: "vllm:kv_cache_usage_perc climbs from about 0.05 to peaks above 0.8 during the " +
					"+10m..+18m plateau, then toward 1, and preemptions start; then the queue grows, the 5m TTFT good ratio at " +
					"le=1.0 falls below 0.9 and inter-token latency p99 rises above 0.2s (recomputed " +
					"prefills share steps with decodes); prefix cache hits jump.",
				ShouldFire: []string{"kv_cache_pressure", "preemption_rate", "queue_growth", "SLOBurnRate ttft", "latency_percentile itl"},
			},
			shape: func(tau time.Duration) shaping {
				return shaping{longShare: ramp(tau,
					rampPoint{0, 0}, rampPoint{10 * m, 0.55}, rampPoint{18 * m, 0.6}, rampPoint{22 * m, 0.85},
					rampPoint{50 * m, 0.85}, rampPoint{60 * m, 0})}
			},
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
	}
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
