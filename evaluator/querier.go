package evaluator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/internal/clock"
)

// Querier runs an instant query at an explicit time. It is all the evaluator
// needs of Prometheus (or Thanos, Mimir, VictoriaMetrics).
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time) (model.Value, error)
}

// QuerierFunc adapts a function to Querier; tests use it for fakes.
type QuerierFunc func(ctx context.Context, query string, ts time.Time) (model.Value, error)

// Query implements Querier.
func (f QuerierFunc) Query(ctx context.Context, query string, ts time.Time) (model.Value, error) {
	return f(ctx, query, ts)
}

// QueryError is a query that failed, with the query text for the reader.
type QueryError struct {
	Query    string
	Attempts int
	Err      error
}

func (e *QueryError) Error() string {
	if e.Attempts > 1 {
		return fmt.Sprintf("query %q failed after %d attempts: %v", e.Query, e.Attempts, e.Err)
	}
	return fmt.Sprintf("query %q: %v", e.Query, e.Err)
}

func (e *QueryError) Unwrap() error { return e.Err }

// apiQuerier adapts client_golang's v1.API, whose Query also returns
// warnings and infos: those are logged, not lost.
type apiQuerier struct {
	api    v1.API
	logger *slog.Logger
}

// NewAPIQuerier wraps a client_golang Prometheus API.
func NewAPIQuerier(api v1.API, logger *slog.Logger) Querier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &apiQuerier{api: api, logger: logger}
}

func (a *apiQuerier) Query(ctx context.Context, q string, ts time.Time) (model.Value, error) {
	v, warnings, infos, err := a.api.Query(ctx, q, ts)
	for _, w := range warnings {
		a.logger.Warn("query warning", "query", q, "warning", w)
	}
	for _, i := range infos {
		a.logger.Debug("query info", "query", q, "info", i)
	}
	if err != nil {
		return nil, err
	}
	if err := checkAnswer(v); err != nil {
		return nil, &QueryError{Query: q, Err: err}
	}
	return v, nil
}

// ErrMalformedAnswer is an answer that says success but carries no usable
// result: no data, a null sample, a series without a name map. A broken
// proxy in front of Prometheus answers like that; it is treated as
// Prometheus being unavailable, never as an empty (healthy) result.
var ErrMalformedAnswer = errors.New("malformed answer from Prometheus")

// checkAnswer refuses answers that would otherwise be read as data.
func checkAnswer(v model.Value) error {
	switch v := v.(type) {
	case nil:
		return fmt.Errorf("%w: success without data", ErrMalformedAnswer)
	case model.Vector:
		for _, s := range v {
			if s == nil {
				return fmt.Errorf("%w: a null sample in a vector", ErrMalformedAnswer)
			}
		}
	case model.Matrix:
		for _, ss := range v {
			if ss == nil {
				return fmt.Errorf("%w: a null series in a matrix", ErrMalformedAnswer)
			}
		}
	case *model.Scalar:
		if v == nil {
			return fmt.Errorf("%w: a null scalar", ErrMalformedAnswer)
		}
	case *model.String:
		if v == nil {
			return fmt.Errorf("%w: a null string", ErrMalformedAnswer)
		}
	}
	return nil
}

// Retry policy of a query: a few quick attempts within the cycle.
type RetryPolicy struct {
	Attempts int
	Backoff  time.Duration
}

// DefaultRetry retries a failing query twice, 500ms then 1s later.
var DefaultRetry = RetryPolicy{Attempts: 3, Backoff: 500 * time.Millisecond}

type retryQuerier struct {
	q      Querier
	policy RetryPolicy
	sleep  func(ctx context.Context, d time.Duration) error
}

// WithRetry retries queries whose error says a retry may succeed (timeouts,
// server errors, network errors), never bad_data or execution errors, which
// would fail again the same way. Every error names its query.
func WithRetry(q Querier, p RetryPolicy) Querier {
	if p.Attempts < 1 {
		p.Attempts = 1
	}
	return &retryQuerier{q: q, policy: p, sleep: clock.Sleep}
}

func (r *retryQuerier) Query(ctx context.Context, q string, ts time.Time) (model.Value, error) {
	backoff := r.policy.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		var v model.Value
		v, err = r.q.Query(ctx, q, ts)
		if err == nil {
			return v, nil
		}
		if attempt >= r.policy.Attempts || !Retriable(err) || ctx.Err() != nil {
			return nil, &QueryError{Query: q, Attempts: attempt, Err: err}
		}
		if serr := r.sleep(ctx, backoff); serr != nil {
			return nil, &QueryError{Query: q, Attempts: attempt, Err: err}
		}
		backoff *= 2
	}
}

// Retriable reports whether a query error may go away on its own.
func Retriable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrMalformedAnswer) {
		return true
	}
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		switch apiErr.Type {
		case v1.ErrTimeout, v1.ErrServer:
			return true
		default: // bad_data, execution, client_error, canceled: the same query fails again
			return false
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// valueType names the type of a result for an error; a nil one too.
func valueType(v model.Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().String()
}
