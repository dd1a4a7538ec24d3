package sim

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// tick is the model's time grid: steps never straddle a tick, and the live
// server and backfill read the state at ticks. Scrape intervals are whole
// multiples of it.
const tick = time.Second

// Config selects what to simulate. The zero value of every field means its
// documented default; call Normalize to see the effective values.
type Config struct {
	// Scenario is a name from Scenarios(); default "healthy".
	Scenario string
	// Models are the model_name label values; default ["llama-3.1-8b"].
	Models []string
	// Engines is the number of data-parallel engines per model, labelled
	// engine="0".."N-1"; default 1.
	Engines int
	// Flavour is the metric naming, one of Flavours(); default FlavourV1.
	Flavour string
	// Seed selects the random streams; each engine derives its own from the
	// seed, its model and its index. Zero is a valid seed.
	Seed int64
	// ScrapeInterval is the spacing of backfill samples; default 15s, and a
	// whole number of seconds.
	ScrapeInterval time.Duration
	// IncidentAt is when the scenario's incident begins, as an offset from
	// the start of the run; zero means the scenario's default (see
	// ScenarioInfo.IncidentAt).
	IncidentAt time.Duration
	// Rate is the mean arrival rate in requests per second per engine,
	// before the diurnal curve and scenario changes; zero means 3.
	Rate float64
	// Arrivals is ArrivalsPoisson (default) or ArrivalsGamma (bursty).
	Arrivals string
	// Burstiness is the squared coefficient of variation of gamma
	// inter-arrival gaps; default 4. Ignored for Poisson arrivals.
	Burstiness float64
	// Buckets overrides histogram bounds, keyed by HistogramKeys() names,
	// e.g. "time_to_first_token_seconds". Missing keys keep vLLM's defaults.
	Buckets map[string][]float64
	// Engine sizes each engine; zero fields take DefaultEngineSpec values.
	Engine EngineSpec
	// TargetLabels are added to every backfilled series, as Prometheus adds
	// job and instance to what it scrapes (e.g. {job: vllm, instance:
	// "gpu-1:8000"}), so configs with a selector work on backfills too. The
	// live endpoint ignores them: the scraping Prometheus adds its own.
	TargetLabels map[string]string
}

// EngineSpec sizes one engine and its step-time model. The defaults are an
// 8B model on one large GPU; the scenarios are tuned for them.
type EngineSpec struct {
	MaxNumSeqs          int // vLLM --max-num-seqs: batch capacity
	MaxNumBatchedTokens int // vLLM --max-num-batched-tokens: tokens per step
	KVBlocks            int // blocks in the KV cache pool
	BlockSize           int // tokens per KV block
	MaxModelLen         int // longest prompt plus output
	// A step lasts StepBase + StepPerSeq per sequence in the batch +
	// PrefillPerToken per prefill token + StepPerKToken per thousand tokens
	// held in the KV cache (attention reads).
	StepBase        time.Duration
	StepPerSeq      time.Duration
	PrefillPerToken time.Duration
	StepPerKToken   time.Duration
}

// DefaultEngineSpec returns the engine used when Config.Engine is zero.
func DefaultEngineSpec() EngineSpec {
	return EngineSpec{
		MaxNumSeqs:          128,
		MaxNumBatchedTokens: 8192,
		KVBlocks:            16384,
		BlockSize:           16,
		MaxModelLen:         32768,
		StepBase:            6 * time.Millisecond,
		StepPerSeq:          80 * time.Microsecond,
		PrefillPerToken:     30 * time.Microsecond,
		StepPerKToken:       40 * time.Microsecond,
	}
}

// ErrInvalidConfig wraps every validation error from Normalize.
var ErrInvalidConfig = errors.New("invalid simulator config")

const defaultRate = 3.0

// Normalize returns the config with defaults filled in, or an error
// wrapping ErrInvalidConfig that names the bad field.
func (c Config) Normalize() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.Scenario == "" {
		c.Scenario = ScenarioHealthy
	}
	if _, ok := lookupScenario(c.Scenario); !ok {
		return bad("unknown scenario %q (want one of %s)", c.Scenario, strings.Join(ScenarioNames(), ", "))
	}
	if len(c.Models) == 0 {
		c.Models = []string{"llama-3.1-8b"}
	}
	c.Models = slices.Clone(c.Models)
	seen := map[string]bool{}
	for _, m := range c.Models {
		if m == "" || strings.ContainsAny(m, "\"\\\n") {
			return bad("model name %q is empty or has a quote, backslash or newline", m)
		}
		if seen[m] {
			return bad("model %q listed twice", m)
		}
		seen[m] = true
	}
	if c.Engines == 0 {
		c.Engines = 1
	}
	if c.Engines < 0 || c.Engines > 64 {
		return bad("engines = %d, want 1..64", c.Engines)
	}
	if c.Flavour == "" {
		c.Flavour = FlavourV1
	}
	if !slices.Contains(Flavours(), c.Flavour) {
		return bad("unknown flavour %q (want one of %s)", c.Flavour, strings.Join(Flavours(), ", "))
	}
	if namingOf(c.Flavour).noEngine && c.Engines > 1 {
		// Without an engine label the engines' series would collide.
		return bad("flavour %s has no engine label: engines = %d, want 1", c.Flavour, c.Engines)
	}
	if c.ScrapeInterval == 0 {
		c.ScrapeInterval = 15 * time.Second
	}
	if c.ScrapeInterval < tick || c.ScrapeInterval%tick != 0 {
		return bad("scrape interval %v must be a whole number of seconds", c.ScrapeInterval)
	}
	if c.IncidentAt < 0 {
		return bad("incident offset %v is negative", c.IncidentAt)
	}
	sc, _ := lookupScenario(c.Scenario)
	if c.IncidentAt == 0 {
		c.IncidentAt = sc.info.IncidentAt
	}
	if c.IncidentAt < sc.info.Lead {
		return bad("incident offset %v is shorter than the %s scenario's lead of %v: its precursor would start before the run", c.IncidentAt, c.Scenario, sc.info.Lead)
	}
	for k := range c.TargetLabels {
		if !validLabelName(k) || k == "model_name" || k == "engine" || k == "le" || k == "__name__" {
			return bad("target label %q is not a free label name", k)
		}
	}
	if c.Rate == 0 {
		c.Rate = defaultRate
	}
	if math.IsNaN(c.Rate) || c.Rate < 0 || c.Rate > 10000 {
		return bad("rate %v req/s, want 0..10000", c.Rate)
	}
	if c.Arrivals == "" {
		c.Arrivals = ArrivalsPoisson
	}
	if c.Arrivals != ArrivalsPoisson && c.Arrivals != ArrivalsGamma {
		return bad("arrivals %q, want %s or %s", c.Arrivals, ArrivalsPoisson, ArrivalsGamma)
	}
	if c.Burstiness == 0 {
		c.Burstiness = 4
	}
	if math.IsNaN(c.Burstiness) || c.Burstiness <= 0 || c.Burstiness > 100 {
		return bad("burstiness %v, want a squared coefficient of variation in (0, 100]", c.Burstiness)
	}
	buckets := map[string][]float64{}
	keys := HistogramKeys()
	for _, k := range slices.Sorted(maps.Keys(c.Buckets)) {
		if !slices.Contains(keys, k) {
			return bad("buckets for unknown histogram %q (want one of %s)", k, strings.Join(keys, ", "))
		}
		b := slices.Clone(c.Buckets[k])
		if n := len(b); n > 0 && math.IsInf(b[n-1], 1) {
			b = b[:n-1] // +Inf is always there
		}
		if err := checkBuckets(k, b); err != nil {
			return bad("%v", err)
		}
		buckets[k] = b
	}
	c.Buckets = buckets
	spec, err := c.Engine.withDefaults()
	if err != nil {
		return bad("%v", err)
	}
	c.Engine = spec
	return c, nil
}

func (s EngineSpec) withDefaults() (EngineSpec, error) {
	d := DefaultEngineSpec()
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&s.MaxNumSeqs, d.MaxNumSeqs)
	setInt(&s.MaxNumBatchedTokens, d.MaxNumBatchedTokens)
	setInt(&s.KVBlocks, d.KVBlocks)
	setInt(&s.BlockSize, d.BlockSize)
	setInt(&s.MaxModelLen, d.MaxModelLen)
	setDur(&s.StepBase, d.StepBase)
	setDur(&s.StepPerSeq, d.StepPerSeq)
	setDur(&s.PrefillPerToken, d.PrefillPerToken)
	setDur(&s.StepPerKToken, d.StepPerKToken)
	switch {
	case s.MaxNumSeqs < 1 || s.MaxNumSeqs > 65536:
		return s, fmt.Errorf("engine max_num_seqs = %d, want 1..65536", s.MaxNumSeqs)
	case s.MaxNumBatchedTokens < s.MaxNumSeqs:
		return s, fmt.Errorf("engine max_num_batched_tokens = %d is below max_num_seqs = %d", s.MaxNumBatchedTokens, s.MaxNumSeqs)
	case s.BlockSize < 1 || s.KVBlocks < 1:
		return s, fmt.Errorf("engine KV pool of %d blocks of %d tokens is empty", s.KVBlocks, s.BlockSize)
	case s.MaxModelLen < 2*int(defaultWorkload().maxTokens()):
		return s, fmt.Errorf("engine max_model_len = %d, want at least %d", s.MaxModelLen, 2*defaultWorkload().maxTokens())
	case int64(s.KVBlocks)*int64(s.BlockSize) < int64(s.MaxModelLen):
		return s, fmt.Errorf("engine KV pool (%d tokens) cannot hold one max_model_len (%d) request",
			int64(s.KVBlocks)*int64(s.BlockSize), s.MaxModelLen)
	case s.StepBase < 0 || s.StepPerSeq < 0 || s.PrefillPerToken < 0 || s.StepPerKToken < 0:
		return s, errors.New("engine step costs must not be negative")
	case s.StepBase < 100*time.Microsecond:
		return s, fmt.Errorf("engine step base %v is below 100µs", s.StepBase)
	}
	return s, nil
}

func (s EngineSpec) params() engineParams {
	return engineParams{
		maxSeqs:     s.MaxNumSeqs,
		maxBatched:  int64(s.MaxNumBatchedTokens),
		capTokens:   int64(s.KVBlocks) * int64(s.BlockSize),
		maxModelLen: int64(s.MaxModelLen),
		stepBase:    int64(s.StepBase),
		perSeq:      int64(s.StepPerSeq),
		perPrefill:  int64(s.PrefillPerToken),
		perCtx:      int64(s.StepPerKToken),
		tick:        int64(tick),
	}
}

// bucketsFor returns the bounds of every histogram under this config.
func (c Config) bucketsFor() [numHists][]float64 {
	var out [numHists][]float64
	for _, f := range families() {
		if f.typ != typeHistogram {
			continue
		}
		if b, ok := c.Buckets[f.key]; ok {
			out[f.hist] = slices.Clone(b)
		} else {
			out[f.hist] = defaultBuckets(f.hist)
		}
	}
	return out
}

// validLabelName reports whether s is a Prometheus label name in the legacy
// character set.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
