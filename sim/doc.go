// Package sim is a discrete-time model of vLLM engines that produces vLLM's
// Prometheus metrics without a GPU: for tests, benchmarks, the demo and dry
// runs of the sentinel.
//
// Each engine (one per model and data-parallel index) runs vLLM's V1
// scheduling loop at the granularity of engine steps: a FIFO waiting queue,
// a running batch capped at max_num_seqs, a token budget per step with
// chunked prefill, a KV cache pool consumed per token, and recompute
// preemption of the newest running request when the pool is full. A step's
// duration grows with the batch, the prefill tokens it carries and the KV
// it reads, so inter-token latency rises with load and TTFT is queue wait
// plus prefill. Requests arrive as a Poisson or gamma (bursty) process whose
// rate follows a diurnal curve and the scenario's script; their prompt and
// output lengths are lognormal, and they finish with stop, length, abort or
// error.
//
// The model is deterministic: all randomness comes from one stream per
// engine, derived from the seed, the model name and the engine index, and
// drawn in arrival order; time is integer nanoseconds and steps never cross
// a one-second tick. The state at a tick is therefore the same for the live
// collector (Sim) and the backfill writer (WriteOpenMetrics), however either
// got there.
//
// Sim.OnFinish hands every finished request (its arrival, first scheduling,
// first and last token, and token counts) to a callback, for vLLM's
// per-request trace spans (package sim/simtrace); without one the model
// does no extra work, and with one its metrics are the same.
package sim
