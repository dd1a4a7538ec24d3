package rules

import (
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestObjectiveBudgetIsExact(t *testing.T) {
	for _, tc := range []struct {
		in     string
		budget float64
		ratio  float64
	}{
		{"99.9", 0.001, 0.999},
		{"99", 0.01, 0.99},
		{"99.99", 0.0001, 0.9999},
		{"95.5", 0.045, 0.955},
		{"99.95%", 0.0005, 0.9995},
	} {
		o, err := ParseObjective(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if o.Budget() != tc.budget || o.Ratio() != tc.ratio {
			t.Errorf("%s: budget %v ratio %v, want %v %v", tc.in, o.Budget(), o.Ratio(), tc.budget, tc.ratio)
		}
	}
	for _, bad := range []string{"100", "0", "-1", "abc", "150"} {
		if _, err := ParseObjective(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestDurationAndSeconds(t *testing.T) {
	var v struct {
		D []Duration `yaml:"d"`
		S []Seconds  `yaml:"s"`
	}
	if err := yaml.Unmarshal([]byte("d: [30s, 5m, 28d, 1w, 1h30m]\ns: [1s, 250ms, 0.5, 2]"), &v); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{30 * time.Second, 5 * time.Minute, 28 * 24 * time.Hour, 7 * 24 * time.Hour, 90 * time.Minute}
	for i, d := range v.D {
		if d.D() != want[i] {
			t.Errorf("duration %d: %v want %v", i, d.D(), want[i])
		}
	}
	wantS := []Seconds{1, 0.25, 0.5, 2}
	for i, s := range v.S {
		if s != wantS[i] {
			t.Errorf("seconds %d: %v want %v", i, s, wantS[i])
		}
	}
	if err := yaml.Unmarshal([]byte("s: [nan, inf]"), &v); err == nil {
		t.Error("non-finite thresholds accepted")
	}
	err := yaml.Unmarshal([]byte("d: [5x, 1m]\ns: [fast]"), &v)
	if err == nil {
		t.Fatal("bad durations accepted")
	}
	te, ok := err.(*yaml.TypeError)
	if !ok || len(te.Errors) != 2 {
		t.Fatalf("want both errors collected, got %v", err)
	}
}
