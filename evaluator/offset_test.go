package evaluator_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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

// What an interrupted save left behind is swept at the first save.
func TestEventStoreSweepsInterruptedSaves(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "events", ".tmp-ttft.events-123")
	if err := os.MkdirAll(filepath.Dir(tmp), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("half a store"), 0o600); err != nil {
		t.Fatal(err)
	}
	ev := evaluator.New(evaluator.QuerierFunc(func(context.Context, string, time.Time) (model.Value, error) { return model.Vector{}, nil }),
		nil, nil, evaluator.Options{Events: &evaluator.EventOptions{Step: 30 * time.Second, Dir: dir}})
	if err := ev.SaveEvents(time.Now(), true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file of an interrupted save still there: %v", err)
	}
}
