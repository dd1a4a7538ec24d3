package promreg

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func counter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"})
}

func TestRegisterNilRegistererRegistersNothing(t *testing.T) {
	t.Parallel()
	c := counter()
	got, err := Register(nil, c)
	if err != nil || got != c {
		t.Fatalf("Register(nil) = %v, %v; want the collector itself", got, err)
	}
}

// A second registration of the same metric is a reload: it gets the first
// collector, whose count goes on.
func TestRegisterAdoptsExisting(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	first, err := Register(reg, counter())
	if err != nil {
		t.Fatal(err)
	}
	first.Inc()
	second, err := Register(reg, counter())
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Fatal("the second registration did not adopt the first collector")
	}
}

func TestRegisterRefusesClash(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	if _, err := Register(reg, counter()); err != nil {
		t.Fatal(err)
	}
	// Same name, other help: a different metric, not a reload.
	_, err := Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "other"}))
	if err == nil || !strings.Contains(err.Error(), "register metrics") {
		t.Fatalf("Register = %v, want a registration error", err)
	}
	// Same descriptor, other collector type: adopting it would mistype it.
	_, err = Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "x"}))
	if err == nil {
		t.Fatal("a gauge adopted a counter")
	}
}
