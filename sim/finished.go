package sim

import (
	"cmp"
	"slices"
	"time"
)

// FinishedRequest is a request that has finished, with the times and sizes
// vLLM reports for it in its per-request trace span (see package
// sim/simtrace). Times are model times; the intervals between them are the
// ones the latency histograms observe for the same request.
type FinishedRequest struct {
	Model  string // model_name
	Engine string // engine label, "0".."N-1"
	// ID is unique per model and engine within a run (a sequence number).
	ID int64

	Arrival    time.Time // queued: the span's start
	Scheduled  time.Time // first scheduled: end of time_in_queue
	FirstToken time.Time // end of prefill
	Finished   time.Time // last token: the span's end

	PromptTokens     int64
	CachedTokens     int64 // prefix-cache hits on first scheduling
	CompletionTokens int64
	// FinishedReason is the finished_reason label of
	// vllm:request_success_total it was counted under: stop, length, abort
	// or error.
	FinishedReason string
	Preemptions    int64
}

// Queue is time_in_queue: arrival to first scheduling.
func (r FinishedRequest) Queue() time.Duration { return r.Scheduled.Sub(r.Arrival) }

// TTFT is the time to first token from arrival.
func (r FinishedRequest) TTFT() time.Duration { return r.FirstToken.Sub(r.Arrival) }

// Prefill is time_in_model_prefill: first scheduling to first token.
func (r FinishedRequest) Prefill() time.Duration { return r.FirstToken.Sub(r.Scheduled) }

// Decode is time_in_model_decode: first token to last.
func (r FinishedRequest) Decode() time.Duration { return r.Finished.Sub(r.FirstToken) }

// Inference is time_in_model_inference: first scheduling to last token.
func (r FinishedRequest) Inference() time.Duration { return r.Finished.Sub(r.Scheduled) }

// E2E is the end-to-end latency: arrival to last token.
func (r FinishedRequest) E2E() time.Duration { return r.Finished.Sub(r.Arrival) }

// finishedRec is a finished request as an engine records it, in ns since the
// start of the run.
type finishedRec struct {
	id                                   int64
	arrival, scheduled, firstTok, finish int64
	prompt, cached, out, preempts        int64
	reason                               int
}

func recordOf(r *request, at int64) finishedRec {
	return finishedRec{id: r.id, arrival: r.arrival, scheduled: r.scheduled, firstTok: r.firstTok, finish: at,
		prompt: r.prompt, cached: r.cached, out: r.out, preempts: r.preempts, reason: r.reason}
}

// OnFinish registers fn to receive every request that finishes from now on
// (nil: none, the default). The metrics are the same with or without it: it
// only reads the requests the model finishes. Each AdvanceTo delivers
// exactly the requests that vllm:request_success_total counted during it,
// sorted by finish time (ties in Config order of model and engine), so the
// requests delivered between two model times are the increase of the
// counter between them. A step under way at a tick is run to its end and
// counted at that tick (see AdvanceTo), so a request can finish a fraction
// of a step after the tick that delivers it, and one delivery may end later
// than the first request of the next on another engine; each engine's
// requests arrive in finish order. fn runs while AdvanceTo holds the
// simulation's lock, so it must not call the Sim's methods.
func (s *Sim) OnFinish(fn func(FinishedRequest)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onFinish = fn
	for _, e := range s.engines {
		e.finished = e.finished[:0]
		if fn == nil {
			e.engine.onFinish = nil
			continue
		}
		e.engine.onFinish = func(r *request, at int64) { e.finished = append(e.finished, recordOf(r, at)) }
	}
}

// deliverFinished passes what the engines finished during the last advance
// to the OnFinish callback, merged in model order.
func (s *Sim) deliverFinished() {
	if s.onFinish == nil {
		return
	}
	type item struct {
		e   *simEngine
		rec finishedRec
	}
	var all []item
	for _, e := range s.engines {
		for _, rec := range e.finished {
			all = append(all, item{e, rec})
		}
		e.finished = e.finished[:0]
	}
	// Engines are in Config order and each list in finish order, so a
	// stable sort by time keeps ties in Config order.
	slices.SortStableFunc(all, func(a, b item) int { return cmp.Compare(a.rec.finish, b.rec.finish) })
	at := func(ns int64) time.Time { return s.start.Add(time.Duration(ns)) }
	for _, it := range all {
		r := it.rec
		s.onFinish(FinishedRequest{
			Model: it.e.model, Engine: it.e.index, ID: r.id,
			Arrival: at(r.arrival), Scheduled: at(r.scheduled), FirstToken: at(r.firstTok), Finished: at(r.finish),
			PromptTokens: r.prompt, CachedTokens: r.cached, CompletionTokens: r.out,
			FinishedReason: finishReasonNames[r.reason], Preemptions: r.preempts,
		})
	}
}
