package sim

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestNormalizeRejects(t *testing.T) {
	tests := map[string]struct {
		cfg  Config
		want string
	}{
		"scenario":        {Config{Scenario: "meltdown"}, `unknown scenario "meltdown"`},
		"flavour":         {Config{Flavour: "v2"}, `unknown flavour "v2"`},
		"duplicate model": {Config{Models: []string{"a", "a"}}, `model "a" listed twice`},
		"quoted model":    {Config{Models: []string{`a"b`}}, "has a quote"},
		"engines":         {Config{Engines: -1}, "engines = -1"},
		"interval":        {Config{ScrapeInterval: 1500 * time.Millisecond}, "whole number of seconds"},
		"rate":            {Config{Rate: -1}, "rate -1"},
		"arrivals":        {Config{Arrivals: "uniform"}, `arrivals "uniform"`},
		"bucket name":     {Config{Buckets: map[string][]float64{"ttft": {1}}}, `unknown histogram "ttft"`},
		"bucket order":    {Config{Buckets: map[string][]float64{"time_to_first_token_seconds": {1, 0.5}}}, "bounds must increase"},
		"kv pool":         {Config{Engine: EngineSpec{KVBlocks: 10}}, "cannot hold one max_model_len"},
		"batched tokens":  {Config{Engine: EngineSpec{MaxNumSeqs: 512, MaxNumBatchedTokens: 256}}, "below max_num_seqs"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := tc.cfg.Normalize()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Normalize() error = %v, want ErrInvalidConfig containing %q", err, tc.want)
			}
		})
	}
}

func TestNormalizeDefaults(t *testing.T) {
	cfg, err := Config{Scenario: ScenarioSurge}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ScrapeInterval != 15*time.Second || cfg.Engines != 1 || cfg.Flavour != FlavourV1 ||
		cfg.IncidentAt != time.Hour || cfg.Rate != 3 || len(cfg.Models) != 1 || cfg.Engine != DefaultEngineSpec() {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestScenariosDocumented(t *testing.T) {
	want := []string{ScenarioHealthy, ScenarioSurge, ScenarioKVPressure, ScenarioStall, ScenarioSlowDecode, ScenarioErrorBurst, ScenarioRestart, ScenarioLowTraffic, ScenarioFlapping,
		ScenarioHealthyBursty, ScenarioSlowRamp, ScenarioLongPrompts, ScenarioKVSpike}
	if got := ScenarioNames(); !slices.Equal(got, want) {
		t.Fatalf("ScenarioNames() = %v, want %v", got, want)
	}
	for _, s := range Scenarios() {
		if s.Description == "" || s.Signature == "" || len(s.ShouldFire) == 0 {
			t.Errorf("scenario %s is not fully documented: %+v", s.Name, s)
		}
		if (s.Name == ScenarioHealthy || s.Name == ScenarioLowTraffic || s.Name == ScenarioHealthyBursty) != (s.IncidentAt == 0) {
			t.Errorf("scenario %s: incident offset %v", s.Name, s.IncidentAt)
		}
	}
}

// TestWriteOpenMetricsDeterministic: the same config gives the same bytes,
// another seed different ones, and every engine its own stream.
func TestWriteOpenMetricsDeterministic(t *testing.T) {
	for _, name := range ScenarioNames() {
		t.Run(name, func(t *testing.T) {
			// The incident early, but not before the scenario's lead.
			sc, _ := lookupScenario(name)
			cfg := Config{Scenario: name, Models: []string{"m"}, Engines: 2, IncidentAt: max(20*time.Minute, sc.info.Lead), Seed: 7}
			a, _ := backfill(t, cfg, testStart, 40*time.Minute)
			b, _ := backfill(t, cfg, testStart, 40*time.Minute)
			if !bytes.Equal(a, b) {
				t.Fatal("two runs of the same config differ")
			}
			cfg.Seed = 8
			c, _ := backfill(t, cfg, testStart, 40*time.Minute)
			if bytes.Equal(a, c) {
				t.Fatal("seeds 7 and 8 give the same output")
			}
			o := parseOM(t, a)
			e0 := o.get(t, "vllm:prompt_tokens_total", "engine", "0")
			e1 := o.get(t, "vllm:prompt_tokens_total", "engine", "1")
			if slices.Equal(e0.vals, e1.vals) {
				t.Fatal("engines 0 and 1 have identical prompt token counters")
			}
		})
	}
}

// TestOpenMetricsStructure checks every family, the label sets, vLLM's
// buckets, histogram consistency and counter monotonicity on every scenario.
func TestOpenMetricsStructure(t *testing.T) {
	for _, name := range ScenarioNames() {
		t.Run(name, func(t *testing.T) {
			sc, _ := lookupScenario(name)
			cfg := Config{Scenario: name, Models: []string{"a", "b"}, IncidentAt: max(30*time.Minute, sc.info.Lead)}
			data, stats := backfill(t, cfg, testStart, 90*time.Minute)
			o := parseOM(t, data)
			checkStructure(t, o, FlavourV1, 2, 1)
			if got := int64(len(o.series)); got != stats.Series {
				t.Errorf("Stats.Series = %d, parsed %d", stats.Series, got)
			}
			var samples int64
			for _, s := range o.series {
				samples += int64(len(s.ts))
			}
			if samples != stats.Samples {
				t.Errorf("Stats.Samples = %d, parsed %d", stats.Samples, samples)
			}
			restartAt := int64(-1)
			if name == ScenarioRestart {
				restartAt = testStart.Add(30 * time.Minute).UnixMilli()
			}
			checkHistograms(t, o)
			checkCounters(t, o, restartAt)
		})
	}
}

func checkStructure(t *testing.T, o *om, flavour string, models, engines int) {
	t.Helper()
	fams, err := Families(flavour)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, f := range fams {
		want[strings.TrimSuffix(f.Name, "_total")] = f.Type
	}
	if len(o.types) != len(want) {
		t.Errorf("families %v, want %v", o.types, want)
	}
	for fam, typ := range want {
		if o.types[fam] != typ {
			t.Errorf("family %s has type %q, want %q", fam, o.types[fam], typ)
		}
	}
	perEngine := map[string]int{}
	for _, s := range o.series {
		if s.labels["model_name"] == "" || s.labels["engine"] == "" {
			t.Fatalf("series %s%v lacks model_name or engine", s.name, s.labels)
		}
		perEngine[s.labels["model_name"]+"/"+s.labels["engine"]]++
		extra := len(s.labels) - 2
		switch {
		case strings.HasSuffix(s.name, "_bucket"):
			extra--
		case strings.HasSuffix(s.family, "request_success"), strings.HasSuffix(s.family, "waiting_by_reason"):
			extra--
		}
		if extra != 0 {
			t.Errorf("series %s has labels %v", s.name, s.labels)
		}
	}
	if len(perEngine) != models*engines {
		t.Errorf("series for %d engines, want %d", len(perEngine), models*engines)
	}
	// 5 gauges, 9 counters, histograms of 22, 19, 19, 21x4 and 7 bounds
	// with +Inf, _count and _sum.
	const perEngineWant = 5 + 9 + (22 + 3) + 2*(19+3) + 4*(21+3) + (7 + 3)
	for e, n := range perEngine {
		if n != perEngineWant {
			t.Errorf("engine %s has %d series, want %d", e, n, perEngineWant)
		}
	}
}

func checkHistograms(t *testing.T, o *om) {
	t.Helper()
	for fam, typ := range o.types {
		if typ != "histogram" {
			continue
		}
		for _, count := range o.all(fam + "_count") {
			lbl := []string{"model_name", count.labels["model_name"], "engine", count.labels["engine"]}
			buckets := o.all(fam+"_bucket", lbl...)
			slices.SortFunc(buckets, func(a, b *omSeries) int {
				if leValue(a) < leValue(b) {
					return -1
				}
				return 1
			})
			if buckets[len(buckets)-1].labels["le"] != "+Inf" {
				t.Fatalf("%s: no +Inf bucket", fam)
			}
			sum := o.get(t, fam+"_sum", lbl...)
			for i, ms := range count.ts {
				prev := -1.0
				for _, b := range buckets {
					v, ok := b.at(ms)
					if !ok {
						t.Fatalf("%s le=%s: no sample at %d", fam, b.labels["le"], ms)
					}
					if v < prev {
						t.Fatalf("%s at %d: bucket le=%s = %v below the previous bucket %v", fam, ms, b.labels["le"], v, prev)
					}
					prev = v
				}
				if prev != count.vals[i] {
					t.Fatalf("%s at %d: +Inf bucket %v != count %v", fam, ms, prev, count.vals[i])
				}
				if s, ok := sum.at(ms); !ok || s < 0 || (count.vals[i] == 0 && s != 0) {
					t.Fatalf("%s at %d: sum %v with count %v", fam, ms, s, count.vals[i])
				}
			}
		}
	}
}

// checkCounters: counters and histogram series never decrease, except all
// at once at restartAt (ms; -1 for none).
func checkCounters(t *testing.T, o *om, restartAt int64) {
	t.Helper()
	for _, s := range o.series {
		cumulative := o.types[s.family] == "counter" || (o.types[s.family] == "histogram" && !strings.HasSuffix(s.name, "_sum"))
		if !cumulative {
			continue
		}
		for i := 1; i < len(s.vals); i++ {
			if s.vals[i] >= s.vals[i-1] {
				continue
			}
			if restartAt >= 0 && s.ts[i-1] < restartAt && s.ts[i] >= restartAt {
				continue
			}
			t.Fatalf("%s%v decreases at %d: %v -> %v", s.name, s.labels, s.ts[i], s.vals[i-1], s.vals[i])
		}
	}
}

func TestFlavoursAndBuckets(t *testing.T) {
	for _, flavour := range Flavours() {
		t.Run(flavour, func(t *testing.T) {
			cfg := Config{Flavour: flavour, Buckets: map[string][]float64{
				"time_to_first_token_seconds": {0.1, 0.5, 1, 1.5, 2},
			}}
			data, _ := backfill(t, cfg, testStart, 5*time.Minute)
			o := parseOM(t, data)
			checkStructureFlavour(t, o, flavour)
			var les []string
			for _, b := range o.all(familyName("time_to_first_token_seconds", flavour) + "_bucket") {
				les = append(les, b.labels["le"])
			}
			want := []string{"0.1", "0.5", "1.0", "1.5", "2.0", "+Inf"}
			if namingOf(flavour).otlpLe {
				want = []string{"0.1", "0.5", "1", "1.5", "2", "+Inf"}
			}
			if !slices.Equal(les, want) {
				t.Fatalf("custom TTFT buckets le = %v, want %v", les, want)
			}
		})
	}
}

func checkStructureFlavour(t *testing.T, o *om, flavour string) {
	t.Helper()
	has := func(name string) bool { _, ok := o.types[name]; return ok }
	switch flavour {
	case FlavourV1:
		if !has("vllm:kv_cache_usage_perc") || !has("vllm:inter_token_latency_seconds") {
			t.Fatalf("v1 names missing: %v", o.types)
		}
	case FlavourV0:
		if !has("vllm:gpu_cache_usage_perc") || !has("vllm:time_per_output_token_seconds") || has("vllm:kv_cache_usage_perc") {
			t.Fatalf("v0 names wrong: %v", o.types)
		}
	case FlavourUnderscore:
		if !has("vllm_kv_cache_usage_perc") || !has("vllm_request_success") {
			t.Fatalf("underscore names wrong: %v", o.types)
		}
		for name := range o.types {
			if strings.Contains(name, ":") {
				t.Fatalf("underscore flavour has %s", name)
			}
		}
	}
}

func TestFormatLe(t *testing.T) {
	for v, want := range map[float64]string{0.001: "0.001", 1: "1.0", 2560: "2560.0", 7.5: "7.5", 1e-5: "1e-05", math.Inf(1): "+Inf"} {
		if got := string(formatLe(nil, v)); got != want {
			t.Errorf("formatLe(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestAdvanceIsPathIndependent: the state at a tick does not depend on how
// the caller got there, which is what lets serve and backfill agree.
func TestAdvanceIsPathIndependent(t *testing.T) {
	cfg := Config{Scenario: ScenarioKVPressure, IncidentAt: 10 * time.Minute, Rate: 5}
	fine, err := New(cfg, testStart)
	if err != nil {
		t.Fatal(err)
	}
	coarse, _ := New(cfg, testStart)
	var a, b snapshot
	for sec := 1; sec <= 40*60; sec++ {
		fine.AdvanceTo(testStart.Add(time.Duration(sec) * time.Second))
		if sec%97 == 0 || sec == 40*60 {
			// Odd, sub-tick targets round down to the tick.
			coarse.AdvanceTo(testStart.Add(time.Duration(sec)*time.Second + 300*time.Millisecond))
			fine.engines[0].snapshotInto(&a)
			coarse.engines[0].snapshotInto(&b)
			if a.gauges != b.gauges || a.counters != b.counters {
				t.Fatalf("at +%ds: stepwise %v %v, in jumps %v %v", sec, a.gauges, a.counters, b.gauges, b.counters)
			}
			for h := range a.hists {
				if !slices.Equal(a.hists[h].counts, b.hists[h].counts) || a.hists[h].sum != b.hists[h].sum {
					t.Fatalf("at +%ds: histogram %d differs", sec, h)
				}
			}
		}
	}
	if a.counters[counterPreemptions] == 0 {
		t.Fatal("the kv-pressure run had no preemptions; the test does not exercise them")
	}
}

// TestCollectorMatchesBackfill: the live collector reports exactly what the
// backfill file holds for the same time.
func TestCollectorMatchesBackfill(t *testing.T) {
	cfg := Config{Scenario: ScenarioRestart, Models: []string{"a", "b"}, IncidentAt: 10 * time.Minute}
	data, _ := backfill(t, cfg, testStart, 30*time.Minute)
	o := parseOM(t, data)
	s, err := New(cfg, testStart)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	for _, at := range []time.Duration{5 * time.Minute, 10*time.Minute + 30*time.Second, 25 * time.Minute} {
		s.AdvanceTo(testStart.Add(at))
		if s.Down() {
			t.Fatalf("down at +%v", at)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		ms := testStart.Add(at).UnixMilli()
		checked := 0
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				lbl := []string{}
				for _, lp := range m.GetLabel() {
					lbl = append(lbl, lp.GetName(), lp.GetValue())
				}
				expect := func(name string, got float64, extra ...string) {
					t.Helper()
					want, ok := o.get(t, name, append(slices.Clone(lbl), extra...)...).at(ms)
					if !ok || want != got {
						t.Errorf("+%v %s%v: live %v, backfill %v", at, name, lbl, got, want)
					}
					checked++
				}
				switch {
				case m.GetGauge() != nil:
					expect(mf.GetName(), m.GetGauge().GetValue())
				case m.GetCounter() != nil:
					expect(mf.GetName(), m.GetCounter().GetValue())
				case m.GetHistogram() != nil:
					h := m.GetHistogram()
					expect(mf.GetName()+"_count", float64(h.GetSampleCount()))
					expect(mf.GetName()+"_sum", h.GetSampleSum())
					for _, b := range h.GetBucket() {
						expect(mf.GetName()+"_bucket", float64(b.GetCumulativeCount()), "le", string(formatLe(nil, b.GetUpperBound())))
					}
				}
			}
		}
		// +Inf is the count: client_golang does not list it as a bucket.
		if checked != 2*(5+9+24+2*21+4*23+9) {
			t.Fatalf("+%v: checked %d values", at, checked)
		}
	}
	// The outage: no samples, and the live server would answer 503.
	s, _ = New(cfg, testStart)
	s.AdvanceTo(testStart.Add(10*time.Minute + 14*time.Second))
	if !s.Down() {
		t.Fatal("not down 14s after the restart")
	}
	if _, ok := o.get(t, "vllm:num_requests_running", "model_name", "a").at(testStart.Add(10 * time.Minute).UnixMilli()); ok {
		t.Fatal("backfill has a sample during the outage")
	}
}

func TestHistogramBounds(t *testing.T) {
	h := newHistogram([]float64{0.3, 1, 2.5}, 1e9)
	for _, v := range []int64{300_000_000, 300_000_001, 1e9, 2_500_000_000, 3e9} {
		h.observe(v)
	}
	if want := []uint64{1, 2, 1, 1}; !slices.Equal(h.counts, want) {
		t.Fatalf("counts %v, want %v (bounds are inclusive)", h.counts, want)
	}
	p := newHistogram([]float64{1, 1.5, 2}, 1)
	p.observe(1)
	p.observe(2)
	if want := []uint64{1, 0, 1, 0}; !slices.Equal(p.counts, want) {
		t.Fatalf("count histogram %v, want %v", p.counts, want)
	}
}

func TestCapacityEstimate(t *testing.T) {
	// The scenarios scale their load by the estimate; it must match what
	// the model sustains at saturation within 5%.
	cfg, _ := Config{}.Normalize()
	p := cfg.Engine.params()
	wl := defaultWorkload()
	est := estimateCapacity(p, wl, wl.chat)
	cond := func(int64) conditions { return conditions{rate: 2 * est} }
	e := newEngine(p, wl, cond, newRand(1, 1), gapSampler(ArrivalsPoisson, 1), cfg.bucketsFor())
	e.advanceTo(int64(5 * time.Minute))
	before := e.counters
	e.advanceTo(int64(25 * time.Minute))
	var done uint64
	for r := range numReasons {
		done += e.counters[counterSuccessStop+r] - before[counterSuccessStop+r]
	}
	measured := float64(done) / (20 * 60)
	if math.Abs(measured-est)/est > 0.05 {
		t.Fatalf("capacity estimate %.2f req/s, measured %.2f", est, measured)
	}
	t.Logf("capacity: estimated %.2f req/s, measured %.2f", est, measured)
}

func TestTimestamps(t *testing.T) {
	ts := timestamps(time.UnixMilli(1_700_000_000_500), 15*time.Second, 2)
	if string(ts[0]) != "1700000000.500" || string(ts[1]) != "1700000015.500" {
		t.Fatalf("timestamps %q", ts)
	}
	ts = timestamps(time.Unix(1_700_000_000, 0), time.Second, 1)
	if string(ts[0]) != "1700000000" {
		t.Fatalf("timestamps %q", ts)
	}
	if got := strconv.Quote(string(timestamps(time.UnixMilli(-1500), time.Second, 1)[0])); got != `"-1.500"` {
		t.Fatalf("negative timestamp %s", got)
	}
}
