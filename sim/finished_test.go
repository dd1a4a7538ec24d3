package sim

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// TestFinishCallbackLeavesBackfillUnchanged: a backfill with a finish
// callback on every engine is byte for byte the backfill without, and the
// callbacks saw every request the counters counted.
func TestFinishCallbackLeavesBackfillUnchanged(t *testing.T) {
	cfg := Config{Scenario: ScenarioSurge, Models: []string{"a", "b"}, Engines: 2, IncidentAt: 15 * time.Minute}
	dur := 40 * time.Minute
	want, _ := backfill(t, cfg, testStart, dur)
	var seen atomic.Int64
	var got bytes.Buffer
	_, err := writeOpenMetrics(context.Background(), &got, cfg, testStart, testStart.Add(dur), func(e *simEngine) {
		e.onFinish = func(r *request, at int64) {
			if at < r.firstTok || r.firstTok < r.scheduled || r.scheduled < r.arrival {
				t.Errorf("request %d: arrival %d scheduled %d first token %d finish %d out of order", r.id, r.arrival, r.scheduled, r.firstTok, at)
			}
			seen.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("backfill with a finish callback differs: %d bytes, want %d", got.Len(), len(want))
	}
	// Every success counter at the last scrape, summed over engines and reasons.
	o := parseOM(t, want)
	var total float64
	last := testStart.Add(dur).UnixMilli()
	for _, model := range cfg.Models {
		for _, eng := range []string{"0", "1"} {
			for _, reason := range finishReasonNames {
				v, ok := o.get(t, "vllm:request_success_total", "model_name", model, "engine", eng, "finished_reason", reason).at(last)
				if !ok {
					t.Fatalf("no success counter for %s/%s/%s at the end", model, eng, reason)
				}
				total += v
			}
		}
	}
	if total == 0 || float64(seen.Load()) != total {
		t.Fatalf("callbacks saw %d requests, the counters count %v", seen.Load(), total)
	}
}

// TestOnFinishLeavesCollectorUnchanged: the live collector exposes the same
// text with and without OnFinish, and requests arrive in model order.
func TestOnFinishLeavesCollectorUnchanged(t *testing.T) {
	cfg := Config{Scenario: ScenarioRestart, Models: []string{"a", "b"}, Engines: 2, IncidentAt: 5 * time.Minute}
	plain, err := New(cfg, testStart)
	if err != nil {
		t.Fatal(err)
	}
	traced, _ := New(cfg, testStart)
	var n int
	var lastEnd time.Time
	traced.OnFinish(func(r FinishedRequest) {
		if r.Finished.Before(lastEnd) {
			t.Errorf("request %s/%s/%d finished at %v, after one at %v", r.Model, r.Engine, r.ID, r.Finished, lastEnd)
		}
		lastEnd = r.Finished
		n++
	})
	text := func(s *Sim) string {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(s)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				t.Fatal(err)
			}
		}
		return b.String()
	}
	for at := 7 * time.Second; at < 12*time.Minute; at += 37 * time.Second {
		plain.AdvanceTo(testStart.Add(at))
		traced.AdvanceTo(testStart.Add(at))
		if a, b := text(plain), text(traced); a != b {
			t.Fatalf("+%v: metrics differ with OnFinish", at)
		}
	}
	if n == 0 {
		t.Fatal("OnFinish saw no request")
	}
}
