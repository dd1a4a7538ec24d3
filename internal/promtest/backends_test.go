package promtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The querier over two replicas holding the same history answers every
// history query as one Prometheus does, with one series where the replicas
// hold two: it deduplicates on the replica label.
func TestThanosDeduplicatesReplicas(t *testing.T) {
	t.Parallel()
	th := StartThanos(t, ThanosOptions{OpenMetrics: []string{writeHistory(t)}})
	checkQueries(t, th.API(t), historyCases())
	for _, p := range th.Replicas {
		checkQueries(t, p.API(t), historyCases()[:1])
	}
}

// History imported from the OpenMetrics file promtool backfills answers the
// same queries with the same numbers: timestamps in seconds are read as
// such. VictoriaMetrics refuses samples more than two days ahead of the
// clock, so the cases at the far-future sample are left out.
func TestVictoriaMetricsImportsOpenMetrics(t *testing.T) {
	t.Parallel()
	vm := StartVictoriaMetrics(t, VictoriaMetricsOptions{OpenMetrics: []string{writeHistory(t)}})
	var cases []queryCase
	for _, c := range historyCases() {
		if c.at.Before(tFuture().Add(-24 * time.Hour)) {
			cases = append(cases, c)
		}
	}
	if len(cases) < 8 {
		t.Fatalf("only %d cases left", len(cases))
	}
	checkQueries(t, vm.API(t), cases)
}

// A line VictoriaMetrics cannot parse fails the import with the count, not
// a test that later finds less data than it wrote.
func TestVictoriaMetricsImportRefusesBadLines(t *testing.T) {
	t.Parallel()
	vm := StartVictoriaMetrics(t, VictoriaMetricsOptions{})
	path := filepath.Join(t.TempDir(), "bad.om")
	body := "# TYPE x gauge\nx{a=\"1\"} 1 1767225600\nx{a=\"1\" 2 1767225660\n# EOF\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	err := vm.importFile(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), "1 lines refused") || !strings.Contains(err.Error(), path) {
		t.Fatalf("import of a bad line: %v", err)
	}
}
