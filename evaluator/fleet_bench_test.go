package evaluator_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// fleetHist is one histogram family of the synthetic fleet: its bounds and
// the share of requests at or below each.
type fleetHist struct {
	name   string
	bounds []float64
	below  []float64
}

var fleetHists = []fleetHist{
	{"vllm:time_to_first_token_seconds", []float64{0.1, 0.25, 0.5, 1, 2.5}, []float64{0.5, 0.8, 0.95, 0.99, 0.999}},
	{"vllm:inter_token_latency_seconds", []float64{0.025, 0.05, 0.1}, []float64{0.6, 0.97, 0.999}},
	{"vllm:e2e_request_latency_seconds", []float64{2.5, 5, 10, 20}, []float64{0.3, 0.7, 0.97, 0.999}},
}

// writeFleet writes OpenMetrics for groups (model_name, instance) pairs:
// the three latency histograms, request_success by finish reason, and the
// gauges and counter the indicators read, one sample per scrape.
func writeFleet(b *testing.B, path string, models, instances int, start, end time.Time, scrape time.Duration) (series int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	steps := int(end.Sub(start) / scrape)
	group := func(m, i int) string {
		return fmt.Sprintf(`instance="gpu-%02d:8000",job="vllm",model_name="m%03d"`, i, m)
	}
	perScrape := func(m, i int) *rand.Rand { return rand.New(rand.NewPCG(uint64(m), uint64(i))) }
	arrivals := func(rng *rand.Rand) int { return int(2*scrape.Seconds()*0.5 + rng.Float64()*2*scrape.Seconds()) }
	line := func(name, labels string, v float64, k int) {
		fmt.Fprintf(w, "%s{%s} %s %d\n", name, labels, strconv.FormatFloat(v, 'f', -1, 64), start.Add(time.Duration(k)*scrape).Unix())
		if k == 0 {
			series++
		}
	}
	for _, h := range fleetHists {
		fmt.Fprintf(w, "# TYPE %s histogram\n", h.name)
		for m := 0; m < models; m++ {
			for i := 0; i < instances; i++ {
				// One pass per series keeps a series' samples in time order,
				// as OpenMetrics wants; the same seed gives each the same
				// arrivals.
				for bi := 0; bi <= len(h.bounds); bi++ {
					rng, acc := perScrape(m, i), 0.0
					le, share := "+Inf", 1.0
					if bi < len(h.bounds) {
						le, share = strconv.FormatFloat(h.bounds[bi], 'f', -1, 64), h.below[bi]
					}
					for k := 0; k < steps; k++ {
						acc += float64(arrivals(rng)) * share
						line(h.name+"_bucket", group(m, i)+`,le="`+le+`"`, float64(int(acc)), k)
					}
				}
				rng, acc := perScrape(m, i), 0.0
				for k := 0; k < steps; k++ {
					acc += float64(arrivals(rng))
					line(h.name+"_count", group(m, i), acc, k)
				}
			}
		}
	}
	fmt.Fprintf(w, "# TYPE vllm:request_success counter\n")
	for m := 0; m < models; m++ {
		for i := 0; i < instances; i++ {
			for _, r := range []struct {
				reason string
				share  float64
			}{{"stop", 0.7}, {"length", 0.2995}, {"error", 0.0005}} {
				rng, acc := perScrape(m, i), 0.0
				for k := 0; k < steps; k++ {
					acc += float64(arrivals(rng)) * r.share
					line("vllm:request_success_total", group(m, i)+`,finished_reason="`+r.reason+`"`, float64(int(acc)), k)
				}
			}
		}
	}
	fmt.Fprintf(w, "# TYPE vllm:num_preemptions counter\n")
	for m := 0; m < models; m++ {
		for i := 0; i < instances; i++ {
			for k := 0; k < steps; k++ {
				line("vllm:num_preemptions_total", group(m, i), 0, k)
			}
		}
	}
	for _, g := range []struct {
		name string
		v    func(*rand.Rand) float64
	}{
		{"vllm:num_requests_waiting", func(r *rand.Rand) float64 { return float64(r.IntN(2)) }},
		{"vllm:num_requests_running", func(r *rand.Rand) float64 { return float64(20 + r.IntN(10)) }},
		{"vllm:kv_cache_usage_perc", func(r *rand.Rand) float64 { return 0.3 + 0.2*r.Float64() }},
	} {
		fmt.Fprintf(w, "# TYPE %s gauge\n", g.name)
		for m := 0; m < models; m++ {
			for i := 0; i < instances; i++ {
				rng := perScrape(m, i)
				for k := 0; k < steps; k++ {
					line(g.name, group(m, i), g.v(rng), k)
				}
			}
		}
	}
	fmt.Fprintf(w, "# EOF\n")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return series
}

// fleetSLOs are ten SLOs over the three histograms and the error ratio.
func fleetSLOs(b *testing.B) []*rules.SLO {
	var out []*rules.SLO
	for _, c := range []struct {
		metric    string
		threshold float64
	}{{"time_to_first_token", 0.25}, {"time_to_first_token", 0.5}, {"time_to_first_token", 1}, {"time_to_first_token", 2.5},
		{"inter_token_latency", 0.05}, {"inter_token_latency", 0.1}, {"e2e_request_latency", 5}, {"e2e_request_latency", 10}, {"e2e_request_latency", 20}} {
		spec := ttftSpec(b)
		spec.Name = fmt.Sprintf("%s-%g", c.metric, c.threshold)
		spec.SLI.Latency = &rules.LatencySLI{Metric: c.metric, Threshold: rules.Seconds(c.threshold)}
		out = append(out, fleetSLO(b, spec))
	}
	return append(out, fleetSLO(b, errorsSpec(b)))
}

func fleetSLO(b *testing.B, spec rules.SLOSpec) *rules.SLO {
	s, err := rules.Compile(rules.NewPromQL(), spec, rules.Defaults{GroupBy: []string{"model_name", "instance"}})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func fleetIndicators(b *testing.B) []*rules.Indicator {
	th := rules.Seconds(2.5)
	var out []*rules.Indicator
	for _, spec := range []rules.IndicatorSpec{
		{Name: "queue-growth", Kind: rules.KindQueueGrowth}, {Name: "preemptions", Kind: rules.KindPreemptionRate},
		{Name: "kv-cache", Kind: rules.KindKVCachePressure}, {Name: "stall", Kind: rules.KindQueueStall},
		{Name: "ttft-p99", Kind: rules.KindLatencyPercentile, Metric: "time_to_first_token", Percentile: 99, Threshold: &th},
	} {
		in, err := rules.CompileIndicator(rules.NewPromQL(), spec, rules.Defaults{GroupBy: []string{"model_name", "instance"}})
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, in)
	}
	return out
}

// BenchmarkFleet runs the daemon's evaluation over a fleet of 1,000
// (model, instance) groups with 10 SLOs and the 5 built-in indicators, on a
// day of history (60s scrapes by default), and prints per steady-state
// cycle: samples Prometheus read (against the input series), the
// sentinel's CPU, its peak RSS, the bytes of the answers, and the store's
// bytes per group. Not part of make test:
//
//	go test -run '^$' -bench Fleet -benchtime 1x -timeout 60m ./evaluator/
//
// VLLM_SENTINEL_FLEET_MODELS and _INSTANCES size the fleet (100 x 10).
func BenchmarkFleet(b *testing.B) {
	models, instances := envInt("VLLM_SENTINEL_FLEET_MODELS", 100), envInt("VLLM_SENTINEL_FLEET_INSTANCES", 10)
	if os.Getenv("GOGC") == "" {
		// As the daemon runs.
		defer debug.SetGCPercent(debug.SetGCPercent(evaluator.GCPercent))
	}
	start := simtest.Start
	end := start.Add(25 * time.Hour)
	scrape := time.Minute
	om := filepath.Join(b.TempDir(), "fleet.om")
	began := time.Now()
	series := writeFleet(b, om, models, instances, start, end, scrape)
	b.Logf("wrote %d series of %d groups over %s in %s", series, models*instances, end.Sub(start), time.Since(began).Round(time.Second))
	prom := promtest.StartPrometheus(b, promtest.PrometheusOptions{OpenMetrics: []string{om}})
	if err := os.Remove(om); err != nil {
		b.Fatal(err)
	}
	sq := &statsQuerier{base: prom.URL}
	step := 30 * time.Second
	ctx := context.Background()
	ev := evaluator.New(sq, fleetSLOs(b), fleetIndicators(b), evaluator.Options{Events: &evaluator.EventOptions{Step: step, Ranges: sq, Dir: b.TempDir()}})
	eval := func(ts time.Time) {
		res, err := ev.Eval(ctx, ts)
		if err != nil || len(res.Errors) > 0 {
			b.Fatalf("evaluation at %s: %v %+v", ts, err, res.Errors)
		}
		if want := 10 * models * instances; len(res.SLOs) != want {
			b.Fatalf("evaluation at %s: %d SLO results, want %d", ts, len(res.SLOs), want)
		}
	}
	from := end.Add(-30 * time.Minute)
	cpu0, began := selfCPU(), time.Now()
	eval(from)
	coldSamples, _ := sq.take()
	coldBytes := sq.bytes.Swap(0)
	b.Logf("cold build: %d samples, %d MB of answers, %s wall, %s CPU, peak RSS %d MB", coldSamples, coldBytes>>20,
		time.Since(began).Round(time.Millisecond), (selfCPU() - cpu0).Round(time.Millisecond), peakRSS()>>20)
	// The cold build's garbage goes back to the kernel as the runtime's
	// scavenger would over the next minutes; the steady state's peak is
	// measured from there.
	debug.FreeOSMemory()
	resetPeakRSS()

	cycles := 10
	sq.byKind = map[string]int64{}
	// VLLM_SENTINEL_FLEET_PROFILE=dir writes CPU and heap profiles of the
	// steady-state cycles alone.
	profile := os.Getenv("VLLM_SENTINEL_FLEET_PROFILE")
	if profile != "" {
		f, err := os.Create(filepath.Join(profile, "cpu.pprof"))
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
	}
	cpu0, began = selfCPU(), time.Now()
	for k := 1; k <= cycles; k++ {
		eval(from.Add(time.Duration(k) * step))
	}
	if profile != "" {
		pprof.StopCPUProfile()
		f, err := os.Create(filepath.Join(profile, "heap.pprof"))
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	cpu := (selfCPU() - cpu0) / time.Duration(cycles)
	wall := time.Since(began) / time.Duration(cycles)
	samples, queries := sq.take()
	bytes := sq.bytes.Swap(0)
	groups, storeBytes := ev.EventStoreSize()
	perGroup := 0
	if groups > 0 {
		perGroup = storeBytes / groups
	}
	b.ReportMetric(float64(samples)/float64(cycles), "samples/cycle")
	b.ReportMetric(float64(series), "input-series")
	b.ReportMetric(cpu.Seconds(), "cpu-s/cycle")
	b.ReportMetric(float64(peakRSS()>>20), "peak-rss-MB")
	b.ReportMetric(float64(perGroup), "store-bytes/group")
	b.Logf("steady state over %d cycles: %d samples/cycle for %d input series (%.2f per series), %d queries/cycle, %d kB of answers/cycle, "+
		"CPU %s/cycle, wall %s/cycle, peak RSS %d MB; stores: %d groups, %d bytes per group",
		cycles, samples/int64(cycles), series, float64(samples)/float64(cycles)/float64(series), queries/int64(cycles), bytes/int64(cycles)>>10,
		cpu.Round(time.Millisecond), wall.Round(time.Millisecond), peakRSS()>>20, groups, perGroup)
	for kind, n := range sq.byKind {
		b.Logf("  %s: %d samples/cycle (%.2f per input series)", kind, n/int64(cycles), float64(n)/float64(cycles)/float64(series))
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS starts VmHWM again from the current RSS (Linux clear_refs 5),
// so the steady state's peak is not the cold build's.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
