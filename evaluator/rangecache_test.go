package evaluator

import (
	"context"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

type fakeRange struct{ calls int }

// QueryRange answers like Prometheus: one point per step, timestamps
// rounded to the millisecond, value = seconds since the epoch.
func (f *fakeRange) QueryRange(_ context.Context, _ string, r v1.Range) (model.Value, error) {
	f.calls++
	ss := &model.SampleStream{Metric: model.Metric{"job": "vllm"}}
	for ts := r.Start; !ts.After(r.End); ts = ts.Add(r.Step) {
		ms := model.TimeFromUnixNano(ts.Round(time.Millisecond).UnixNano())
		ss.Values = append(ss.Values, model.SamplePair{Timestamp: ms, Value: model.SampleValue(ts.Unix())})
	}
	return model.Matrix{ss}, nil
}

// A grid anchored at a sub-millisecond time (eval --at now) still finds
// every step, and one range query serves a whole chunk.
func TestRangeCacheServesTheGrid(t *testing.T) {
	from := time.Unix(1_700_000_000, 123_789_000) // rounds up to .124 in Prometheus
	step := 30 * time.Second
	rq := &fakeRange{}
	instant := QuerierFunc(func(context.Context, string, time.Time) (model.Value, error) {
		t.Fatal("a grid time went to the instant API")
		return nil, nil
	})
	c := NewRangeCache(instant, rq, from, from.Add(20*step), step, 0)
	for i := 0; i <= 20; i++ {
		ts := from.Add(time.Duration(i) * step)
		v, err := c.Query(context.Background(), "up", ts)
		if err != nil {
			t.Fatal(err)
		}
		vec := v.(model.Vector)
		if len(vec) != 1 || int64(vec[0].Value) != ts.Unix() {
			t.Fatalf("step %d: %v", i, vec)
		}
	}
	if rq.calls != 1 {
		t.Errorf("%d range queries, want 1", rq.calls)
	}
}
