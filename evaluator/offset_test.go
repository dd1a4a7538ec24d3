package evaluator_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// query_offset evaluates behind the time asked for: every query, the probe
// and the SLOs' included, is at ts - offset.
func TestQueryOffsetShiftsEveryQuery(t *testing.T) {
	var mu sync.Mutex
	seen := map[time.Time]int{}
	q := evaluator.QuerierFunc(func(_ context.Context, _ string, ts time.Time) (model.Value, error) {
		mu.Lock()
		seen[ts]++
		mu.Unlock()
		return model.Vector{}, nil
	})
	ts := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	for _, events := range []*evaluator.EventOptions{nil, {Step: 30 * time.Second}} {
		clear(seen)
		ev := evaluator.New(q, []*rules.SLO{mustSLO(t, errorsSpec(t))}, nil, evaluator.Options{QueryOffset: 2 * time.Minute, Events: events})
		res, err := ev.Eval(context.Background(), ts)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Time.Equal(ts) {
			t.Errorf("result time %s, want %s", res.Time, ts)
		}
		if len(seen) != 1 || seen[ts.Add(-2*time.Minute)] == 0 {
			t.Errorf("events %v: queries at %v, want all at %s", events != nil, seen, ts.Add(-2*time.Minute))
		}
	}
}
