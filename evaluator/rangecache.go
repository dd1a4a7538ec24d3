package evaluator

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// RangeQuerier runs a range query: the same expression evaluated at every
// step, as Prometheus's /api/v1/query_range does.
type RangeQuerier interface {
	QueryRange(ctx context.Context, query string, r v1.Range) (model.Value, error)
}

// RangeCache is a Querier for replaying history: the first instant query of
// an expression at a time on the grid from, from+step, ... to fetches a whole
// chunk of steps with one range query, and later times are served from it.
// A range query's value at a step is, by definition, the instant query's
// value at that time, so every evaluation sees what it would have seen one
// query at a time. Times off the grid go to the instant API.
type RangeCache struct {
	instant    Querier
	rq         RangeQuerier
	from, to   time.Time
	step       time.Duration
	chunkSteps int

	mu     sync.Mutex
	chunks map[chunkKey]*chunk
}

type chunkKey struct {
	query string
	index int
}

type chunk struct {
	once sync.Once
	// at maps a step's index on the grid to its vector. Indices, not
	// timestamps: Prometheus rounds the range start to the millisecond, so
	// a grid anchored at a sub-millisecond time would never match.
	at  map[int]model.Vector
	err error
}

// NewRangeCache serves the grid [from, to] at step. chunkSteps bounds the
// steps of one range query, which keeps it under Prometheus's
// --query.max-samples for long windows (default 288: a day at 5m).
func NewRangeCache(instant Querier, rq RangeQuerier, from, to time.Time, step time.Duration, chunkSteps int) *RangeCache {
	if chunkSteps <= 0 {
		chunkSteps = 288
	}
	return &RangeCache{instant: instant, rq: rq, from: from, to: to, step: step, chunkSteps: chunkSteps, chunks: map[chunkKey]*chunk{}}
}

// Query implements Querier.
func (c *RangeCache) Query(ctx context.Context, q string, ts time.Time) (model.Value, error) {
	off := ts.Sub(c.from)
	if ts.Before(c.from) || ts.After(c.to) || off%c.step != 0 {
		return c.instant.Query(ctx, q, ts)
	}
	idx := int(off/c.step) / c.chunkSteps
	c.mu.Lock()
	ch, ok := c.chunks[chunkKey{q, idx}]
	if !ok {
		ch = &chunk{}
		c.chunks[chunkKey{q, idx}] = ch
	}
	c.mu.Unlock()
	ch.once.Do(func() { ch.at, ch.err = c.fetch(ctx, q, idx) })
	if ch.err != nil {
		// Not cached: a later cycle (or a retry) fetches again.
		c.mu.Lock()
		delete(c.chunks, chunkKey{q, idx})
		c.mu.Unlock()
		return nil, ch.err
	}
	vec := ch.at[int(off/c.step)]
	if vec == nil {
		vec = model.Vector{}
	}
	return vec, nil
}

func (c *RangeCache) fetch(ctx context.Context, q string, idx int) (map[int]model.Vector, error) {
	start := c.from.Add(time.Duration(idx*c.chunkSteps) * c.step)
	end := start.Add(time.Duration(c.chunkSteps-1) * c.step)
	if end.After(c.to) {
		end = c.to
	}
	v, err := c.rq.QueryRange(ctx, q, v1.Range{Start: start, End: end, Step: c.step})
	if err != nil {
		return nil, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, &QueryError{Query: q, Err: fmt.Errorf("range result is %s, want a matrix", valueType(v))}
	}
	at := map[int]model.Vector{}
	stepMs, fromMs := float64(c.step.Milliseconds()), float64(c.from.UnixNano())/1e6
	for _, ss := range m {
		for _, p := range ss.Values {
			k := int(math.Round((float64(p.Timestamp) - fromMs) / stepMs))
			at[k] = append(at[k], &model.Sample{Metric: ss.Metric, Value: p.Value, Timestamp: p.Timestamp})
		}
	}
	return at, nil
}

// apiRangeQuerier adapts client_golang's v1.API.
type apiRangeQuerier struct {
	api v1.API
}

func (a apiRangeQuerier) QueryRange(ctx context.Context, q string, r v1.Range) (model.Value, error) {
	v, _, _, err := a.api.QueryRange(ctx, q, r)
	if err == nil {
		err = checkAnswer(v)
	}
	if err != nil {
		return nil, &QueryError{Query: q, Err: err}
	}
	return v, nil
}
