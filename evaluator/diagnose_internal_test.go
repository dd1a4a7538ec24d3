package evaluator

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/tracing"
)

// finder answers from a script: each call takes the next answer; a nil
// answer blocks until the lookup's deadline.
type finder struct {
	mu      sync.Mutex
	calls   []tracing.Query
	answers []func(ctx context.Context) ([]tracing.Trace, error)
}

func (f *finder) SlowRequests(ctx context.Context, q tracing.Query) ([]tracing.Trace, error) {
	f.mu.Lock()
	f.calls = append(f.calls, q)
	a := f.answers[0]
	f.answers = f.answers[1:]
	f.mu.Unlock()
	return a(ctx)
}

func hang(ctx context.Context) ([]tracing.Trace, error) { <-ctx.Done(); return nil, ctx.Err() }

// A backend that hangs costs the cycle its timeout and marks the alert's
// traces unavailable; the lookup is tried again after Retry, and once it
// has traces it is not asked again while the alert fires.
func TestFindTracesRetriesAndKeeps(t *testing.T) {
	f := &finder{answers: []func(context.Context) ([]tracing.Trace, error){
		hang,
		func(context.Context) ([]tracing.Trace, error) { return nil, errors.New("connection refused") },
		func(context.Context) ([]tracing.Trace, error) {
			return []tracing.Trace{{TraceID: "abc", TTFT: 3}}, nil
		},
	}}
	x := newExplainer(&TraceOptions{Finder: f, Timeout: 50 * time.Millisecond, Retry: time.Minute})
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var tl TraceLookup
	var diag *Diagnosis
	s := &subject{key: "slo:ttft@1h", window: time.Hour, groupBy: []string{"model_name"}, traces: true, minTTFT: 1,
		groups: []groupRef{{labels: map[string]string{"model_name": "llama"}, diag: &diag, tl: &tl}}}
	step := func(ts time.Time) int {
		tl = TraceLookup{}
		return x.findTraces(context.Background(), []*subject{s}, ts, map[string]bool{})
	}
	if failed := step(t0); failed != 1 || !tl.TracesUnavailable || tl.TracesError == "" {
		t.Fatalf("hanging backend: failed %d, lookup %+v", failed, tl)
	}
	if q := f.calls[0]; q.Model != "llama" || q.MinTTFT != 1 || q.Limit != 3 || !q.Start.Equal(t0.Add(-time.Hour)) || !q.End.Equal(t0) {
		t.Errorf("query %+v", q)
	}
	// Within Retry: not asked again, still unavailable, not counted again.
	if failed := step(t0.Add(30 * time.Second)); failed != 0 || !tl.TracesUnavailable || len(f.calls) != 1 {
		t.Fatalf("within retry: failed %d, calls %d, lookup %+v", failed, len(f.calls), tl)
	}
	if failed := step(t0.Add(time.Minute)); failed != 1 || len(f.calls) != 2 {
		t.Fatalf("retry: failed %d, calls %d", failed, len(f.calls))
	}
	if failed := step(t0.Add(2 * time.Minute)); failed != 0 || len(tl.Traces) != 1 || tl.TracesUnavailable {
		t.Fatalf("found: failed %d, lookup %+v", failed, tl)
	}
	if step(t0.Add(5 * time.Minute)); len(f.calls) != 3 || len(tl.Traces) != 1 {
		t.Fatalf("kept: calls %d, lookup %+v", len(f.calls), tl)
	}
}
