package evaluator_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// The timeline of forTimeline: bursts of 15s, 45s and 90s, twenty minutes
// apart, then the same condition sustained for 15 minutes.
var (
	forStart     = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	forBursts    = []struct{ at, length time.Duration }{{30 * time.Minute, 15 * time.Second}, {50 * time.Minute, 45 * time.Second}, {70 * time.Minute, 90 * time.Second}}
	forSustained = 2 * time.Hour
	forEnd       = forSustained + 30*time.Minute
)

// forTimeline writes every signal a built-in indicator reads, scraped every
// 15s from one engine: healthy, except in the bursts and the sustained
// spell, where each signal is past its threshold at once.
func forTimeline(t *testing.T) string {
	t.Helper()
	const step = 15 * time.Second
	type point struct {
		ts                           float64
		waiting, running, kv         float64
		preempt, success, fast, slow float64
	}
	var pts []point
	var preempt, success, fast, slow float64
	for at := time.Duration(0); at <= forEnd; at += step {
		bad := at >= forSustained && at < forSustained+15*time.Minute
		into := at - forSustained
		for _, b := range forBursts {
			if at >= b.at && at < b.at+b.length {
				bad, into = true, at-b.at
			}
		}
		p := point{ts: float64(forStart.Add(at).Unix()), running: 50, kv: 0.3}
		if bad {
			// Growing 4 a scrape from 6: 0.27/s; the engine finishes
			// nothing, runs its full batch, preempts and serves slowly.
			p.waiting, p.running, p.kv = 6+4*float64(into/step), 100, 0.97
			preempt += 5
			slow += 10
		} else {
			success += 10
			fast += 10
		}
		p.preempt, p.success, p.fast, p.slow = preempt, success, fast, slow
		pts = append(pts, p)
	}
	var b strings.Builder
	ls := `instance="e",model_name="m"`
	gauge := func(name string, v func(point) float64) {
		fmt.Fprintf(&b, "# TYPE %s gauge\n", name)
		for _, p := range pts {
			fmt.Fprintf(&b, "%s{%s} %g %g\n", name, ls, v(p), p.ts)
		}
	}
	counter := func(name string, v func(point) float64) {
		fmt.Fprintf(&b, "# TYPE %s counter\n", name)
		for _, p := range pts {
			fmt.Fprintf(&b, "%s_total{%s} %g %g\n", name, ls, v(p), p.ts)
		}
	}
	gauge("vllm:num_requests_waiting", func(p point) float64 { return p.waiting })
	gauge("vllm:num_requests_running", func(p point) float64 { return p.running })
	gauge("vllm:kv_cache_usage_perc", func(p point) float64 { return p.kv })
	counter("vllm:num_preemptions", func(p point) float64 { return p.preempt })
	counter("vllm:request_success", func(p point) float64 { return p.success })
	// Queue time: fast requests wait 10ms, the slow ones 3s.
	fmt.Fprintf(&b, "# TYPE vllm:request_queue_time_seconds histogram\n")
	for _, p := range pts {
		fmt.Fprintf(&b, "vllm:request_queue_time_seconds_bucket{%s,le=\"+Inf\"} %g %g\n", ls, p.fast+p.slow, p.ts)
		fmt.Fprintf(&b, "vllm:request_queue_time_seconds_count{%s} %g %g\n", ls, p.fast+p.slow, p.ts)
		fmt.Fprintf(&b, "vllm:request_queue_time_seconds_sum{%s} %g %g\n", ls, 0.01*p.fast+3*p.slow, p.ts)
	}
	fmt.Fprintf(&b, "# TYPE vllm:time_to_first_token_seconds histogram\n")
	for _, p := range pts {
		for _, bk := range []struct {
			le string
			v  float64
		}{{"1.0", p.fast}, {"2.5", p.fast}, {"5.0", p.fast}, {"+Inf", p.fast + p.slow}} {
			fmt.Fprintf(&b, "vllm:time_to_first_token_seconds_bucket{%s,le=%q} %g %g\n", ls, bk.le, bk.v, p.ts)
		}
		fmt.Fprintf(&b, "vllm:time_to_first_token_seconds_count{%s} %g %g\n", ls, p.fast+p.slow, p.ts)
		fmt.Fprintf(&b, "vllm:time_to_first_token_seconds_sum{%s} %g %g\n", ls, 0.2*p.fast+8*p.slow, p.ts)
	}
	b.WriteString("# EOF\n")
	path := filepath.Join(t.TempDir(), "bursts.om")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Each built-in kind, with its defaults, fires on none of the bursts
// shorter than its "for" — the longest lasts 90s — and fires on the
// sustained condition once it has held for "for", no sooner, and within
// the windows it rounds "for" up to. On Prometheus 2 and 3 alike.
func TestBuiltinForMeansWhatItSays(t *testing.T) {
	om := forTimeline(t)
	th, seqs := rules.Seconds(2.5), 100
	specs := []rules.IndicatorSpec{
		{Name: "queue", Kind: rules.KindQueueGrowth},
		{Name: "preemptions", Kind: rules.KindPreemptionRate},
		{Name: "kv", Kind: rules.KindKVCachePressure},
		{Name: "stall", Kind: rules.KindQueueStall},
		{Name: "ttft-p99", Kind: rules.KindLatencyPercentile, Metric: "time_to_first_token", Percentile: 99, Threshold: &th},
		{Name: "saturation", Kind: rules.KindSaturation, MaxNumSeqs: &seqs},
		{Name: "queue-time", Kind: rules.KindQueueTime},
	}
	p := rules.NewPromQL()
	names := func(s string) string { return rules.MetricName(s, rules.FlavourV1) }
	for _, v3 := range []bool{false, true} {
		backend := "Prometheus 2"
		if v3 {
			backend = "Prometheus 3"
		}
		prom := promtest.StartPrometheus(t, promtest.PrometheusOptions{Version3: v3, OpenMetrics: []string{om}})
		api := prom.API(t)
		for _, spec := range specs {
			in, err := rules.CompileIndicator(p, spec, rules.Defaults{GroupBy: []string{"model_name"}})
			if err != nil {
				t.Fatal(err)
			}
			q := in.Query(p, names)
			v, _, _, err := api.QueryRange(context.Background(), q, rangeOf(forStart.Add(20*time.Minute), forStart.Add(forEnd), 15*time.Second))
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			var first time.Time
			for _, s := range v.(model.Matrix) {
				for _, pt := range s.Values {
					at := pt.Timestamp.Time()
					if at.Before(forStart.Add(forSustained)) {
						if !afterBurstOfFor(at, in.For, in.Lookback()) {
							t.Errorf("%s: %s fires at %v on a burst shorter than its for (%v)", backend, spec.Name, at.Sub(forStart), in.For)
						}
						continue
					}
					if first.IsZero() || at.Before(first) {
						first = at
					}
				}
			}
			// It reads windows ending at the evaluation, so the
			// earliest it can see "for" of the condition is for
			// after its start; the windows round up by two at most.
			onset := forStart.Add(forSustained)
			latest := onset.Add(in.Lookback() + 30*time.Second)
			switch {
			case first.IsZero():
				t.Errorf("%s: %s never fires on 15 minutes of its condition: %s", backend, spec.Name, q)
			case first.Before(onset.Add(in.For - 15*time.Second)):
				t.Errorf("%s: %s fires %v after the onset, before its for of %v", backend, spec.Name, first.Sub(onset), in.For)
			case first.After(latest):
				t.Errorf("%s: %s fires %v after the onset, later than its lookback %v", backend, spec.Name, first.Sub(onset), in.Lookback())
			default:
				t.Logf("%s: %s (for %v) fires %v after the onset", backend, spec.Name, in.For, first.Sub(onset))
			}
		}
	}
}

// afterBurstOfFor reports whether at is within lookback of a burst that
// lasted at least for: that one may fire.
func afterBurstOfFor(at time.Time, f, lookback time.Duration) bool {
	for _, b := range forBursts {
		start := forStart.Add(b.at)
		if b.length >= f && !at.Before(start) && !at.After(start.Add(b.length+lookback)) {
			return true
		}
	}
	return false
}

func rangeOf(from, to time.Time, step time.Duration) v1.Range {
	return v1.Range{Start: from, End: to, Step: step}
}
