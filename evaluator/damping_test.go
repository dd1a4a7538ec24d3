package evaluator

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// togglingFake burns in every window, or, when calm, has a clean 5m window:
// the 1h/5m pair then stops.
type togglingFake struct {
	mu   sync.Mutex
	calm bool
	f    *bucketFake
}

func (t *togglingFake) Query(ctx context.Context, q string, ts time.Time) (model.Value, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.f.counts["5m"] = window(map[string]float64{"1.0": 500, "+Inf": 1000})
	if t.calm {
		t.f.counts["5m"] = window(map[string]float64{"1.0": 1000, "+Inf": 1000})
	}
	return t.f.Query(ctx, q, ts)
}

// An incident that stops and starts again within the pair's short window
// for half an hour is one page, resolved once after it has been calm for
// that long.
func TestOscillatingBurnIsOnePage(t *testing.T) {
	f := &togglingFake{f: &bucketFake{les: vllmTTFTBounds, counts: map[string]map[string]map[string]float64{}}}
	for _, w := range []string{"30m", "1h", "2h", "6h", "1d", "3d", "4w"} {
		f.f.counts[w] = window(map[string]float64{"1.0": 500, "+Inf": 1000})
	}
	sender := &recordingSender{}
	eng, err := NewEngine(New(f, []*rules.SLO{compile(t, latencySpec(1, ""))}, nil, Options{}), sender, EngineOptions{Interval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	page := func(alerts []*model.Alert) []*model.Alert {
		var out []*model.Alert
		for _, a := range named(alerts, AlertSLOBurnRate) {
			if a.Labels["short_window"] == "5m" {
				out = append(out, a)
			}
		}
		return out
	}
	var ts time.Duration
	starts := map[time.Time]bool{}
	for ; ts < 30*time.Minute; ts += 30 * time.Second {
		// Two minutes calm, one burning, over and over.
		f.mu.Lock()
		f.calm = (ts/time.Minute)%3 != 2 && ts > 0
		f.mu.Unlock()
		eng.Cycle(context.Background(), at(ts))
		for _, a := range page(sender.take()) {
			starts[a.StartsAt] = true
			if !a.EndsAt.After(at(ts)) {
				t.Fatalf("resolve sent at %s while the incident oscillates: %v", ts, a)
			}
		}
	}
	if len(starts) != 1 {
		t.Errorf("oscillating incident: pages starting at %v, want one", starts)
	}
	f.mu.Lock()
	f.calm = true
	f.mu.Unlock()
	resolvedAt := time.Duration(-1)
	for end := ts + 10*time.Minute; ts < end && resolvedAt < 0; ts += 30 * time.Second {
		eng.Cycle(context.Background(), at(ts))
		for _, a := range page(sender.take()) {
			if !a.EndsAt.After(at(ts)) {
				resolvedAt = ts
			}
		}
	}
	if resolvedAt < 0 {
		t.Fatal("never resolved after the incident ended")
	}
	// The first calm cycle was at 30m: resolved the short window, 5m, later,
	// counted from there as Prometheus's keep_firing_for is.
	if want := 35 * time.Minute; resolvedAt != want {
		t.Errorf("resolved at %s, want %s", resolvedAt, want)
	}
}
