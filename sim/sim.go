package sim

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sim is a set of simulated engines (every model times Config.Engines) that
// advance together in model time. It is a prometheus.Collector exposing the
// engines' current state under vLLM's metric names. Methods are safe for
// concurrent use.
type Sim struct {
	mu      sync.Mutex
	cfg     Config
	start   time.Time
	now     int64 // model time advanced to, in ns since start
	engines []*simEngine
	descs   []*prometheus.Desc // per family
	fams    []family
	bounds  [numHists][]float64
	snap    snapshot
	// onFinish receives finished requests (see OnFinish); nil: none.
	onFinish func(FinishedRequest)
}

type simEngine struct {
	model string
	index string
	*engine
	restartAt, upAt int64 // restart scenario: down in [restartAt, upAt)
	restarted       bool
	resets          int
	finished        []finishedRec // since the last delivery, with OnFinish
}

// New builds a simulation whose model time starts at start with every engine
// idle and every counter at zero.
func New(cfg Config, start time.Time) (*Sim, error) {
	cfg, err := cfg.Normalize()
	if err != nil {
		return nil, err
	}
	s := &Sim{cfg: cfg, start: start, fams: flavourFamilies(cfg.Flavour), bounds: cfg.bucketsFor()}
	s.engines, err = buildEngines(cfg, start)
	if err != nil {
		return nil, err
	}
	for _, f := range s.fams {
		s.descs = append(s.descs, prometheus.NewDesc(seriesName(f, cfg.Flavour), f.help, familyLabels(f, cfg.Flavour), nil))
	}
	return s, nil
}

func buildEngines(cfg Config, start time.Time) ([]*simEngine, error) {
	sc, ok := lookupScenario(cfg.Scenario)
	if !ok {
		return nil, fmt.Errorf("unknown scenario %q", cfg.Scenario)
	}
	spec := cfg.Engine.params()
	wl := defaultWorkload()
	wl.blockSize = int64(cfg.Engine.BlockSize)
	cond := conditionsFunc(cfg, sc, start, capacities{
		chat:  estimateCapacity(spec, wl, wl.chat),
		long:  estimateCapacity(spec, wl, wl.long),
		batch: estimateCapacity(spec, wl, wl.batch),
		doc:   estimateCapacity(spec, wl, wl.doc),
	})
	bounds := cfg.bucketsFor()
	var out []*simEngine
	for _, model := range cfg.Models {
		for i := range cfg.Engines {
			rng := newRand(uint64(cfg.Seed), streamID(model, i))
			se := &simEngine{model: model, index: strconv.Itoa(i), restartAt: -1}
			se.engine = newEngine(spec, wl, cond, rng, gapSampler(cfg.Arrivals, cfg.Burstiness), bounds)
			if sc.restart {
				se.restartAt = int64(cfg.IncidentAt)
				se.upAt = se.restartAt + int64(restartDowntime)
			}
			out = append(out, se)
		}
	}
	return out, nil
}

// streamID derives an engine's random stream from its model and index, so
// adding a model does not change the numbers of the others.
func streamID(model string, engine int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(model))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(engine)))
	return h.Sum64()
}

// conditionsFunc combines the traffic curve, the scenario and the incident
// offset into the engines' conditions at a model time.
// Scenario loads are shares of the engine's capacities.
func conditionsFunc(cfg Config, sc scenario, start time.Time, caps capacities) func(int64) conditions {
	startSec := float64(start.UnixNano()) / 1e9
	// The scripted change begins Lead before the incident itself.
	incident := int64(cfg.IncidentAt - sc.info.Lead)
	spec := cfg.Engine.params()
	duration := int64(sc.info.Duration)
	return func(t int64) conditions {
		c := conditions{
			rate:    cfg.Rate * diurnal(startSec+float64(t)/1e9),
			errFrac: baselineErrFrac,
		}
		if sc.rateScale > 0 {
			c.rate *= sc.rateScale
		}
		c.rate = math.Max(c.rate, sc.floor*caps.chat)
		var sh shaping
		origin := incident
		switch {
		case sc.background != nil:
			// Changes spread over the whole run, placed by the seed.
			sh = sc.background(backdrop{seed: cfg.Seed, t: time.Duration(t), load: c.rate / caps.chat,
				spec: spec, blockSize: int64(cfg.Engine.BlockSize)})
			origin = 0
		case sc.info.IncidentAt == 0 || t < incident || t >= incident+duration:
			return c
		default:
			sh = sc.shape(time.Duration(t - incident))
		}
		c.rate = math.Max(c.rate, sh.chatFloor*caps.chat)
		if c.script = sh.script; c.script.n > 0 {
			c.script.start += origin
		}
		long, batch := sh.longShare*caps.long, sh.batchShare*caps.batch
		if doc := sh.docShare * caps.doc; doc > 0 {
			total := c.rate + long + batch + doc
			c.longFrac, c.batchFrac, c.docFrac = long/total, batch/total, doc/total
			c.rate = total
		} else if total := c.rate + long + batch; total > 0 {
			c.longFrac, c.batchFrac = long/total, batch/total
			c.rate = total
		}
		c.errFrac += sh.errFrac
		c.hiccup, c.every = int64(sh.hiccup), int64(hiccupEvery)
		c.stalled = sh.stalled
		return c
	}
}

// capacities are an engine's sustainable request rates per request class.
type capacities struct{ chat, long, batch, doc float64 }

// estimateCapacity returns the rate of requests of one class an engine
// sustains with a full batch: each request costs its share of decode steps
// plus its prefill. Scenarios express load relative to it, so they keep their
// shape when the engine is resized. It is within a few percent of the rate
// the model measures at saturation.
func estimateCapacity(p engineParams, wl workload, class requestClass) float64 {
	meanPrompt := class.promptMedian * math.Exp(class.promptSigma*class.promptSigma/2)
	meanOut, meanOut2 := cappedLognormalMoments(class.outMedian, class.outSigma, float64(class.maxTokens))
	cached := wl.sharedPrefixProb * math.Min(float64(wl.sharedPrefix), meanPrompt)
	if class.cachedShare > 0 {
		cached = class.cachedShare * meanPrompt
	}
	// A slot holds the prompt plus, on average over its life, half the
	// output, weighted by how long long outputs stay.
	ctxPerSeq := meanPrompt + meanOut2/(2*meanOut)
	batch := math.Min(float64(p.maxSeqs), float64(p.capTokens)/ctxPerSeq)
	step := float64(p.stepBase) + float64(p.perSeq)*batch + float64(p.perCtx)*batch*ctxPerSeq/1000
	perRequest := meanOut*step/batch + (meanPrompt-cached)*float64(p.perPrefill)
	return 1e9 / perRequest
}

// cappedLognormalMoments returns E[min(X,c)] and E[min(X,c)^2] for a
// lognormal X with the given median and sigma.
func cappedLognormalMoments(median, sigma, c float64) (float64, float64) {
	mu := math.Log(median)
	phi := func(x float64) float64 { return 0.5 * (1 + math.Erf(x/math.Sqrt2)) }
	z := (math.Log(c) - mu) / sigma
	m1 := math.Exp(mu+sigma*sigma/2)*phi(z-sigma) + c*(1-phi(z))
	m2 := math.Exp(2*mu+2*sigma*sigma)*phi(z-2*sigma) + c*c*(1-phi(z))
	return m1, m2
}

// Config returns the effective (normalized) configuration.
func (s *Sim) Config() Config { return s.cfg }

// Start returns the model time at which the simulation began.
func (s *Sim) Start() time.Time { return s.start }

// Now returns the model time the simulation has advanced to.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start.Add(time.Duration(s.now))
}

// AdvanceTo runs the model up to t, rounded down to the model's one-second
// tick. The state at a tick does not depend on the calls that led there.
// Times before the current model time are ignored.
func (s *Sim) AdvanceTo(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	target := int64(t.Sub(s.start))
	target -= target % int64(tick)
	if target <= s.now {
		return
	}
	for _, e := range s.engines {
		e.advanceTo(target)
	}
	s.now = target
	s.deliverFinished()
}

// Step advances the model by dt (see AdvanceTo).
func (s *Sim) Step(dt time.Duration) { s.AdvanceTo(s.Now().Add(dt)) }

// Down reports whether the simulated process is down at the current model
// time (the restart scenario's outage); a live server should not answer
// scrapes then.
func (s *Sim) Down() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.engines {
		if e.down(s.now) {
			return true
		}
	}
	return false
}

func (e *simEngine) down(t int64) bool {
	return e.restartAt >= 0 && t >= e.restartAt && t < e.upAt
}

// advanceTo runs the engine to t, applying the scripted restart on the way.
func (e *simEngine) advanceTo(t int64) {
	if e.restartAt >= 0 && !e.restarted && t >= e.restartAt {
		e.engine.advanceTo(e.restartAt)
		e.reset()
		e.skipArrivalsUntil(e.upAt)
		e.restarted = true
		e.resets++
	}
	e.engine.advanceTo(t)
}

// Describe implements prometheus.Collector.
func (s *Sim) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the state at the current model
// time, which AdvanceTo or Step moved to.
func (s *Sim) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for fi, f := range s.fams {
		desc := s.descs[fi]
		for _, e := range s.engines {
			e.snapshotInto(&s.snap)
			for _, m := range s.metricsFor(f, desc, e, &s.snap) {
				ch <- m
			}
		}
	}
}

func (s *Sim) metricsFor(f family, desc *prometheus.Desc, e *simEngine, snap *snapshot) []prometheus.Metric {
	var out []prometheus.Metric
	labels := func(i int) []string {
		out := []string{e.model}
		if !namingOf(s.cfg.Flavour).noEngine {
			out = append(out, e.index)
		}
		if f.label != "" {
			out = append(out, f.values[i])
		}
		return out
	}
	switch f.typ {
	case typeGauge:
		for i, cell := range f.cells {
			v := float64(snap.gauges[cell])
			if f.ratio {
				v = e.spec.kvRatio(snap.gauges[cell])
			}
			out = append(out, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels(i)...))
		}
	case typeCounter:
		for i, cell := range f.cells {
			out = append(out, prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(snap.counters[cell]), labels(i)...))
		}
	case typeHistogram:
		h := &snap.hists[f.hist]
		bounds := s.bounds[f.hist]
		buckets := make(map[float64]uint64, len(bounds))
		var cum uint64
		for i, b := range bounds {
			cum += h.counts[i]
			buckets[b] = cum
		}
		cum += h.counts[len(bounds)]
		out = append(out, prometheus.MustNewConstHistogram(desc, cum, histSum(f.hist, h.sum), buckets, labels(0)...))
	}
	return out
}

// histSum converts a histogram's integer sum to the exposed value.
func histSum(hist int, units int64) float64 {
	if hist == histPreemptions {
		return float64(units)
	}
	return float64(units) / 1e9
}

func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }
