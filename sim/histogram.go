package sim

import (
	"math"
	"sort"
)

// histogram accumulates observations in integer units (nanoseconds for
// latencies, plain counts for preemptions). Integer sums make the state at a
// time independent of how the run was cut into steps, so a live server and a
// backfill of the same seed report the same numbers.
type histogram struct {
	bounds []int64  // upper bounds in units, ascending; +Inf is implicit
	counts []uint64 // per bucket, not cumulative; len(bounds)+1 (last is +Inf)
	sum    int64    // in units
}

func newHistogram(bounds []float64, unitsPerSecond float64) histogram {
	h := histogram{bounds: make([]int64, len(bounds)), counts: make([]uint64, len(bounds)+1)}
	for i, b := range bounds {
		// Observations are integers, so v <= b exactly when v <= floor(b);
		// the epsilon absorbs decimal bounds such as 0.3e9 landing a hair
		// below the integer.
		h.bounds[i] = int64(math.Floor(b*unitsPerSecond + 1e-6))
	}
	return h
}

// bucket returns the index of the first bucket whose bound is >= v.
func (h *histogram) bucket(v int64) int {
	return sort.Search(len(h.bounds), func(i int) bool { return h.bounds[i] >= v })
}

func (h *histogram) observe(v int64) {
	h.counts[h.bucket(v)]++
	h.sum += v
}

// observeN records n observations of the same value.
func (h *histogram) observeN(v int64, n int64) {
	if n <= 0 {
		return
	}
	h.counts[h.bucket(v)] += uint64(n)
	h.sum += v * n
}

func (h *histogram) reset() {
	clear(h.counts)
	h.sum = 0
}
