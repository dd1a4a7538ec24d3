package sim

import (
	"math"
	"math/rand/v2"
)

// requestClass is a kind of request with lognormal (heavy-tailed) prompt
// and output lengths; outputs longer than maxTokens stop with "length".
type requestClass struct {
	promptMedian, promptSigma float64
	outMedian, outSigma       float64
	maxTokens                 int64 // the max_tokens clients ask for
	// cachedShare is the share of the prompt already in the prefix cache
	// (earlier turns of a long conversation); otherwise only the shared
	// system prompt may hit.
	cachedShare float64
}

// workload describes the requests clients send: mostly chat, with optional
// long-context (RAG) and long-generation (batch) shares set by the
// scenario, a shared system prompt the prefix cache serves, and rare client
// aborts.
type workload struct {
	chat, long, batch requestClass
	// doc are long documents sent whole (summaries, extraction): long
	// prompts that share only the system prompt, short answers.
	doc              requestClass
	sharedPrefixProb float64
	sharedPrefix     int64 // system prompt tokens
	abortProb        float64
	blockSize        int64
}

func defaultWorkload() workload {
	return workload{
		chat:             requestClass{promptMedian: 600, promptSigma: 1.0, outMedian: 180, outSigma: 0.9, maxTokens: 1024},
		long:             requestClass{promptMedian: 12000, promptSigma: 0.35, outMedian: 500, outSigma: 0.5, maxTokens: 1024, cachedShare: 0.85},
		batch:            requestClass{promptMedian: 600, promptSigma: 1.0, outMedian: 700, outSigma: 0.5, maxTokens: 2048},
		doc:              requestClass{promptMedian: 26000, promptSigma: 0.1, outMedian: 24, outSigma: 0.5, maxTokens: 128},
		sharedPrefixProb: 0.5,
		sharedPrefix:     512,
		abortProb:        0.003,
		blockSize:        16,
	}
}

// maxTokens is the largest max_tokens of any class.
func (w workload) maxTokens() int64 {
	return max(w.chat.maxTokens, w.long.maxTokens, w.batch.maxTokens, w.doc.maxTokens)
}

// sample fills in the lengths and fate of a new request. It always draws the
// same number of random values, so a change in one scenario knob does not
// reshuffle every later request.
func (w workload) sample(rng *rand.Rand, c conditions, maxModelLen int64, r *request) {
	n1, n2 := rng.NormFloat64(), rng.NormFloat64()
	uClass, uFate, uCut, uPrefix := rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64()

	class := &w.chat
	switch {
	case uClass < c.longFrac:
		class = &w.long
	case uClass < c.longFrac+c.batchFrac:
		class = &w.batch
	case uClass < c.longFrac+c.batchFrac+c.docFrac:
		class = &w.doc
	}
	maxPrompt := maxModelLen - w.maxTokens()
	r.prompt = min(maxPrompt, max(1, int64(math.Round(class.promptMedian*math.Exp(class.promptSigma*n1)))))
	natural := max(1, int64(math.Round(class.outMedian*math.Exp(class.outSigma*n2))))
	r.out, r.reason = natural, reasonStop
	if natural > class.maxTokens {
		r.out, r.reason = class.maxTokens, reasonLength
	}
	switch {
	case uFate < c.errFrac:
		// Errors end a request early, typically within its first tokens.
		r.out, r.reason = 1+int64(uCut*float64(min(r.out, 32))), reasonError
	case uFate < c.errFrac+w.abortProb:
		r.out, r.reason = 1+int64(uCut*float64(r.out)), reasonAbort
	}
	r.out = min(r.out, natural, class.maxTokens)
	// Only whole blocks are cached, and never the last prompt token.
	cacheable := (r.prompt - 1) / w.blockSize * w.blockSize
	switch {
	case class.cachedShare > 0:
		r.cached = min(cacheable, int64(class.cachedShare*float64(r.prompt))/w.blockSize*w.blockSize)
	case uPrefix < w.sharedPrefixProb:
		r.cached = min(w.sharedPrefix, cacheable)
	}
}

// Arrival processes.
const (
	ArrivalsPoisson = "poisson"
	ArrivalsGamma   = "gamma"
)

// gapSampler returns a sampler of unit-mean inter-arrival gaps. Gamma gaps
// with squared coefficient of variation cv2 > 1 give bursty traffic.
func gapSampler(kind string, cv2 float64) func(*rand.Rand) float64 {
	if kind != ArrivalsGamma || cv2 == 1 {
		return func(r *rand.Rand) float64 { return r.ExpFloat64() }
	}
	shape := 1 / cv2
	return func(r *rand.Rand) float64 { return gammaVariate(r, shape) / shape }
}

// gammaVariate draws from Gamma(shape, 1) by Marsaglia and Tsang's method,
// boosted for shape < 1.
func gammaVariate(r *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := r.Float64()
		return gammaVariate(r, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}
