package sim

import (
	"math"
	"math/rand/v2"
	"slices"
)

// An engine is one vLLM engine core (one data-parallel rank) modelled at the
// granularity of scheduler steps. Each step runs the decode batch for one
// token plus up to max_num_batched_tokens of (chunked) prefill, and lasts
//
//	StepBase + StepPerSeq*seqs + PrefillPerToken*prefill + StepPerKToken*kv/1000
//
// plus, in the slow-decode scenario, a periodic stall.
//
// Runs of identical decode-only steps are taken in one jump, so a week costs
// work per request, not per token. All times are integer nanoseconds since
// the start of the run, and jumps never cross a tick boundary: the state at a
// tick is therefore the same however a caller slices its calls to advance.
type engine struct {
	spec engineParams
	wl   workload
	cond func(t int64) conditions
	rng  *rand.Rand
	gap  func(*rand.Rand) float64 // unit-mean inter-arrival gap

	now     int64 // start of the next step
	iter    int64 // steps completed
	nextArr int64 // arrival time of the next request
	nextID  int64

	// The current scripted burst, how many of its requests have arrived
	// and when the next one does (math.MaxInt64: none).
	scr     script
	scrSent int
	nextScr int64

	waiting    deque
	running    []*request // in admission order; preemption takes the last
	prefilling []*request // running requests still in prefill, admission order
	dec        finishHeap // running requests in decode
	decAgg     int64      // Σ(prompt-base) over dec: their KV tokens are decAgg + len(dec)*iter
	prefHeld   int64      // KV tokens held by prefilling requests

	counters [numCounters]uint64
	hists    [numHists]histogram

	pool       []*request
	lastHiccup int64 // period index of the last hiccup

	// onFinish, when set, sees every request as it finishes at a time
	// (Sim.OnFinish); it must not change the request or the engine.
	onFinish func(r *request, at int64)
}

// engineParams is EngineSpec in integer nanoseconds and tokens.
type engineParams struct {
	maxSeqs     int
	maxBatched  int64
	capTokens   int64
	maxModelLen int64
	stepBase    int64
	perSeq      int64
	perPrefill  int64
	perCtx      int64
	tick        int64
}

// conditions is what the scenario and the traffic curve impose at a moment.
type conditions struct {
	rate      float64 // arrivals per second
	longFrac  float64 // share of arrivals that are long-context requests
	batchFrac float64 // share of arrivals that are long-generation requests
	docFrac   float64 // share of arrivals that are long-document requests
	errFrac   float64 // share of arrivals that end in error
	hiccup    int64   // a stall (ns) added to the first step of every hiccupEvery
	every     int64   // hiccup period in ns
	stalled   bool    // the engine makes no progress
	script    script  // a scripted client's burst, if any
}

// script is a burst from a scripted client, such as a load generator or a
// batch job: n requests of fixed lengths arriving evenly spaced over
// [start, start+over), each generating exactly out tokens (max_tokens with
// ignore_eos, so they finish with "length"). It draws no random numbers.
// Times are in ns since the start of the run; n == 0 means none.
type script struct {
	start, over         int64
	n                   int
	prompt, cached, out int64
}

type request struct {
	id        int64
	arrival   int64
	scheduled int64 // first scheduling
	firstTok  int64
	lastTok   int64 // last token before a preemption
	base      int64 // while decoding, tokens generated = iter - base
	finishAt  int64 // iteration count at which the last token is out
	prompt    int64
	cached    int64 // prefix-cache hit tokens on first scheduling
	out       int64 // tokens generated before finishing
	generated int64 // tokens generated before the current admission
	toPrefill int64 // tokens left to compute in the current admission
	held      int64 // KV tokens held while prefilling
	chunk     int64 // prefill tokens scheduled in the current step
	preempts  int64
	heapIdx   int
	reason    int
	started   bool
	decoding  bool
}

func newEngine(spec engineParams, wl workload, cond func(int64) conditions, rng *rand.Rand,
	gap func(*rand.Rand) float64, bounds [numHists][]float64) *engine {
	e := &engine{spec: spec, wl: wl, cond: cond, rng: rng, gap: gap, lastHiccup: -1, nextScr: math.MaxInt64}
	for h := range e.hists {
		unit := 1e9
		if h == histPreemptions {
			unit = 1
		}
		e.hists[h] = newHistogram(bounds[h], unit)
	}
	e.scheduleArrival(0)
	return e
}

// usedTokens is the KV cache occupancy in tokens. Block rounding is ignored:
// a request holds exactly its prompt and generated tokens.
func (e *engine) usedTokens() int64 {
	return e.decAgg + int64(len(e.dec))*e.iter + e.prefHeld
}

// advanceTo runs every step that starts before t.
func (e *engine) advanceTo(t int64) {
	for e.now < t {
		e.step()
	}
	e.admitArrivals()
}

// scheduleArrival draws the gap after an arrival at time at.
func (e *engine) scheduleArrival(at int64) {
	next := at
	for {
		rate := e.cond(next).rate
		if rate > 0 {
			next += max(1, int64(e.gap(e.rng)/rate*1e9))
			break
		}
		next += 1e9 // no traffic: look again a second later
	}
	e.nextArr = next
}

// admitArrivals moves requests that have arrived by now to the waiting queue.
// All randomness is drawn here, in arrival order, so the random stream does
// not depend on how steps are cut.
func (e *engine) admitArrivals() {
	for {
		switch {
		case e.nextScr <= e.now && e.nextScr <= e.nextArr:
			e.waiting.pushBack(e.newScripted(e.nextScr))
			e.scrSent++
			e.nextScr = math.MaxInt64
			if e.scrSent < e.scr.n {
				e.nextScr = e.scr.start + int64(e.scrSent)*e.scr.over/int64(e.scr.n)
			}
		case e.nextArr <= e.now:
			at := e.nextArr
			e.waiting.pushBack(e.newRequest(at))
			e.scheduleArrival(at)
		default:
			return
		}
	}
}

// startScript begins a scripted burst the conditions announce, once: the
// first step at or after its start fixes it.
func (e *engine) startScript(s script) {
	if s.n == 0 || s.start == e.scr.start && e.scr.n > 0 {
		return
	}
	e.scr, e.scrSent, e.nextScr = s, 0, s.start
	e.admitArrivals()
}

// newScripted is a request of the current script arriving at at.
func (e *engine) newScripted(at int64) *request {
	r := e.newPooled()
	e.nextID++
	r.id, r.arrival, r.heapIdx = e.nextID, at, -1
	r.scheduled, r.firstTok = -1, -1
	r.prompt, r.cached, r.out, r.reason = e.scr.prompt, e.scr.cached, e.scr.out, reasonLength
	return r
}

func (e *engine) newRequest(at int64) *request {
	r := e.newPooled()
	c := e.cond(at)
	e.nextID++
	r.id, r.arrival, r.heapIdx = e.nextID, at, -1
	r.scheduled, r.firstTok = -1, -1
	e.wl.sample(e.rng, c, e.spec.maxModelLen, r)
	return r
}

// newPooled returns a zeroed request, reusing a finished one if it can.
func (e *engine) newPooled() *request {
	if n := len(e.pool); n > 0 {
		r := e.pool[n-1]
		e.pool = e.pool[:n-1]
		*r = request{}
		return r
	}
	return new(request)
}

// step runs one engine step, or a jump over identical decode-only steps.
func (e *engine) step() {
	e.admitArrivals()
	boundary := (e.now/e.spec.tick + 1) * e.spec.tick
	c := e.cond(e.now)
	e.startScript(c.script)
	if c.stalled {
		// A hung engine: the API server still queues requests and serves
		// metrics, but no step completes.
		e.now = boundary
		return
	}

	// free is what the KV pool has left once every decoding request has a
	// slot for its next token.
	free := func() int64 { return e.spec.capTokens - e.usedTokens() - int64(len(e.dec)) }
	preempted := false
	for free() < 0 {
		e.preemptLast()
		preempted = true
	}
	budget := e.spec.maxBatched - int64(len(e.dec))
	var prefill, chunks int64

	// Continue chunked prefills, oldest first. A chunk that does not fit
	// preempts from the tail of the running list, possibly itself.
	for i := 0; i < len(e.prefilling) && budget > 0; i++ {
		r := e.prefilling[i]
		chunk := min(r.toPrefill, budget)
		self := false
		for free() < chunk && !self {
			self = e.running[len(e.running)-1] == r
			e.preemptLast()
			preempted = true
		}
		if self {
			break // r was the last running request: nothing follows it
		}
		r.chunk = chunk
		r.held += chunk
		e.prefHeld += chunk
		budget -= chunk
		prefill += chunk
		chunks++
	}

	// Admit waiting requests first come, first served; a step that had to
	// preempt admits nothing, like vLLM's V1 scheduler.
	if !preempted {
		for e.waiting.len() > 0 && budget > 0 && len(e.running) < e.spec.maxSeqs {
			r := e.waiting.front()
			hit, chunk := e.firstChunk(r, budget)
			if free() < hit+chunk {
				break // head-of-line blocked on KV blocks
			}
			e.waiting.popFront()
			if !r.started {
				r.started = true
				r.scheduled = e.now
				e.counters[counterPrefixQueries] += uint64(r.prompt)
				e.counters[counterPrefixHits] += uint64(hit)
			}
			r.toPrefill = r.prompt + r.generated - hit
			r.held = hit + chunk
			r.chunk = chunk
			e.prefHeld += r.held
			e.running = append(e.running, r)
			e.prefilling = append(e.prefilling, r)
			budget -= chunk
			prefill += chunk
			chunks++
		}
	}

	nDec := int64(len(e.dec))
	if nDec+chunks == 0 {
		// Idle until the next arrival or the tick boundary.
		e.now = max(e.now+1, min(e.nextArr, e.nextScr, boundary))
		return
	}

	d := e.spec.stepBase + e.spec.perSeq*(nDec+chunks) + e.spec.perPrefill*prefill +
		e.spec.perCtx*e.usedTokens()/1000
	k := int64(1)
	hiccup := false
	if c.hiccup > 0 {
		// The first step of each period stalls; the period boundary also
		// ends decode runs so that the next period's stall is not skipped.
		period := e.now / c.every
		hiccup = period != e.lastHiccup
		e.lastHiccup = period
		if hiccup {
			d += c.hiccup
		} else {
			boundary = min(boundary, (period+1)*c.every)
		}
	}
	if prefill == 0 && !hiccup {
		k = e.decodeRun(d, boundary, free(), budget)
	}

	e.now += k * d
	e.iter += k
	if nDec > 0 {
		e.counters[counterGenerationTokens] += uint64(k * nDec)
		e.hists[histITL].observeN(d, k*nDec)
	}
	if prefill > 0 {
		e.finishPrefillChunks()
	}
	for len(e.dec) > 0 && e.dec[0].finishAt <= e.iter {
		e.finish(e.dec.pop())
	}
}

// firstChunk returns the prefix-cache hit and the first prefill chunk of a
// waiting request if it were admitted with budget tokens left.
func (e *engine) firstChunk(r *request, budget int64) (hit, chunk int64) {
	if !r.started {
		hit = r.cached // a resumed request recomputes everything
	}
	return hit, min(r.prompt+r.generated-hit, budget)
}

// decodeRun returns how many identical decode-only steps of duration d can
// run before something changes: a request finishes, the KV pool runs out, a
// request arrives that could be admitted, or the tick ends. free is the KV
// left after this step's tokens, budget the step's unused token budget.
func (e *engine) decodeRun(d, boundary, free, budget int64) int64 {
	nDec := int64(len(e.dec))
	k := e.dec[0].finishAt - e.iter
	k = min(k, 1+free/nDec)
	k = min(k, ceilDiv(boundary-e.now, d))
	if len(e.running) < e.spec.maxSeqs {
		if e.waiting.len() > 0 {
			if hit, chunk := e.firstChunk(e.waiting.front(), budget); free >= hit+chunk {
				return 1 // it was held back by this step's preemption only
			}
		} else {
			k = min(k, ceilDiv(min(e.nextArr, e.nextScr)-e.now, d))
		}
	}
	return max(1, k)
}

func ceilDiv(a, b int64) int64 {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}

// finishPrefillChunks applies the prefill chunks of the step that just ended
// at e.now: completed prefills emit a token and join the decode batch.
func (e *engine) finishPrefillChunks() {
	kept := e.prefilling[:0]
	for _, r := range e.prefilling {
		if r.chunk == 0 {
			kept = append(kept, r)
			continue
		}
		r.toPrefill -= r.chunk
		r.chunk = 0
		if r.toPrefill > 0 {
			kept = append(kept, r)
			continue
		}
		e.prefHeld -= r.held
		r.held = 0
		if r.firstTok < 0 {
			r.firstTok = e.now
			e.hists[histTTFT].observe(e.now - r.arrival)
			e.counters[counterPromptTokens] += uint64(r.prompt)
		} else {
			// A resumed request: its next token comes after the whole
			// preemption gap, which shows up as one long inter-token latency.
			e.hists[histITL].observe(e.now - r.lastTok)
		}
		e.counters[counterGenerationTokens]++
		tokens := r.generated + 1
		r.base = e.iter - tokens
		r.finishAt = r.base + r.out
		r.decoding = true
		e.decAgg += r.prompt - r.base
		e.dec.push(r)
	}
	clear(e.prefilling[len(kept):])
	e.prefilling = kept
}

// preemptLast preempts the most recently admitted running request, freeing
// its KV cache for recompute later.
func (e *engine) preemptLast() {
	n := len(e.running) - 1
	v := e.running[n]
	e.running[n] = nil
	e.running = e.running[:n]
	if v.decoding {
		e.dec.remove(v.heapIdx)
		e.decAgg -= v.prompt - v.base
		v.generated = e.iter - v.base
		v.decoding = false
		v.lastTok = e.now
	} else {
		// The last running request, if prefilling, is the last prefilling one.
		e.prefilling[len(e.prefilling)-1] = nil
		e.prefilling = e.prefilling[:len(e.prefilling)-1]
		e.prefHeld -= v.held
		v.held, v.chunk, v.toPrefill = 0, 0, 0
		if v.firstTok >= 0 {
			v.lastTok = e.now
		}
	}
	v.preempts++
	e.counters[counterPreemptions]++
	e.waiting.pushFront(v)
}

func (e *engine) finish(r *request) {
	at := e.now
	if i := slices.Index(e.running, r); i >= 0 {
		e.running = slices.Delete(e.running, i, i+1)
	}
	e.decAgg -= r.prompt - r.base
	e.counters[counterSuccessStop+r.reason]++
	e.hists[histE2E].observe(at - r.arrival)
	e.hists[histQueue].observe(r.scheduled - r.arrival)
	e.hists[histPrefill].observe(r.firstTok - r.scheduled)
	e.hists[histDecode].observe(at - r.firstTok)
	if r.out > 1 {
		e.hists[histTPOT].observe((at - r.firstTok) / (r.out - 1))
	}
	e.hists[histPreemptions].observe(r.preempts)
	if e.onFinish != nil {
		e.onFinish(r, at)
	}
	e.pool = append(e.pool, r)
}

// reset models a process restart: in-flight requests are lost and every
// counter and histogram starts again from zero.
func (e *engine) reset() {
	e.pool = append(e.pool, e.running...)
	for e.waiting.len() > 0 {
		e.pool = append(e.pool, e.waiting.popFront())
	}
	clear(e.running)
	e.running = e.running[:0]
	clear(e.prefilling)
	e.prefilling = e.prefilling[:0]
	clear(e.dec)
	e.dec = e.dec[:0]
	e.decAgg, e.prefHeld = 0, 0
	e.counters = [numCounters]uint64{}
	for h := range e.hists {
		e.hists[h].reset()
	}
}

// skipArrivalsUntil drops the requests that arrive while the process is down.
func (e *engine) skipArrivalsUntil(t int64) {
	for e.nextArr < t {
		e.scheduleArrival(e.nextArr)
	}
	e.now = max(e.now, t)
}

// snapshot is the exposed state of one engine at a moment.
type snapshot struct {
	gauges   [numGauges]uint64
	counters [numCounters]uint64
	hists    [numHists]histogram // shares bounds; counts copied
}

func (e *engine) snapshotInto(s *snapshot) {
	s.gauges[gaugeRunning] = uint64(len(e.running))
	s.gauges[gaugeWaiting] = uint64(e.waiting.len())
	s.gauges[gaugeWaitingCapacity] = uint64(e.waiting.len())
	s.gauges[gaugeWaitingDeferred] = 0
	s.gauges[gaugeKVUsedTokens] = uint64(e.usedTokens())
	s.counters = e.counters
	for h := range e.hists {
		src := &e.hists[h]
		dst := &s.hists[h]
		dst.bounds = src.bounds
		dst.counts = append(dst.counts[:0], src.counts...)
		dst.sum = src.sum
	}
}

// kvRatio converts KV tokens to the exposed usage ratio.
func (p engineParams) kvRatio(used uint64) float64 {
	return math.Min(1, float64(used)/float64(p.capTokens))
}
