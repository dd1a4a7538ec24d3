package sim

import (
	"context"
	"io"
	"testing"
	"time"
)

// BenchmarkWriteOpenMetricsWeek generates the acceptance workload: 7 days of
// 2 models x 2 engines at 15s, every family, formatted but discarded. With
// -benchtime=1x it reports one run's figures.
func BenchmarkWriteOpenMetricsWeek(b *testing.B) {
	cfg := Config{Models: []string{"llama-3.1-8b", "qwen2.5-7b"}, Engines: 2}
	var st Stats
	for b.Loop() {
		var err error
		st, err = WriteOpenMetrics(context.Background(), io.Discard, cfg, testStart, testStart.Add(7*24*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.Samples), "samples")
	b.ReportMetric(float64(st.Bytes), "bytes")
	b.ReportMetric(float64(st.Samples)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkSimulateEngineWeek is the model alone: one engine for a week of
// healthy traffic (about 1.7 million requests).
func BenchmarkSimulateEngineWeek(b *testing.B) {
	for b.Loop() {
		s, err := New(Config{}, testStart)
		if err != nil {
			b.Fatal(err)
		}
		s.AdvanceTo(testStart.Add(7 * 24 * time.Hour))
	}
}
