package rules

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// typeError reports a bad scalar as a yaml.TypeError so that the decoder
// collects it and carries on: every problem in a file is reported in one run.
func typeError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, args...))}}
}

// Duration accepts Prometheus duration strings, including days and weeks
// (30s, 5m, 1h30m, 28d, 1w), which time.ParseDuration does not.
type Duration time.Duration

// ParseDuration parses a Prometheus-style duration.
func ParseDuration(s string) (Duration, error) {
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 30s, 5m, 1h, 28d, 1w)", s)
	}
	return Duration(d), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "expected a duration such as 5m or 28d")
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return typeError(n, "%v", err)
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText lets durations print as 28d rather than nanoseconds in JSON.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String formats the duration as Prometheus does (28d, 1h30m).
func (d Duration) String() string { return model.Duration(d).String() }

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Seconds is a latency threshold. It accepts a duration (250ms, 1s) or a bare
// number of seconds (0.25, 1), because bucket bounds are written in seconds.
type Seconds float64

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Seconds) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "expected a latency such as 1s, 250ms or 0.5")
	}
	if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return typeError(n, "latency threshold must be a finite number, got %s", n.Value)
		}
		if f < 0 {
			return typeError(n, "threshold must not be negative, got %s", n.Value)
		}
		*s = Seconds(f)
		return nil
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		return typeError(n, "invalid latency %q (want e.g. 1s, 250ms or 0.5)", n.Value)
	}
	if d <= 0 {
		return typeError(n, "latency threshold must be positive, got %s", n.Value)
	}
	*s = Seconds(d.Seconds())
	return nil
}

// String formats the threshold as Go writes durations (1s, 250ms).
func (s Seconds) String() string {
	return time.Duration(float64(s) * float64(time.Second)).String()
}

// Objective is the percentage of good events. It keeps the decimal text the
// user wrote so that the error budget is exact: 99.9 gives 0.001, not
// 0.0010000000000000009.
type Objective struct {
	text string
	rat  *big.Rat
}

// decimalRE is a percentage as people write one: 99.9, 99, .5, 9.99e1. It
// keeps out what big.Rat also reads (1/3, 0x63, 1_0) and exponents whose
// powers of ten would take long to compute.
var decimalRE = regexp.MustCompile(`^\+?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?$`)

// ParseObjective parses a percentage in (0, 100).
func ParseObjective(s string) (Objective, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "%")
	r, ok := new(big.Rat), decimalRE.MatchString(s)
	if ok {
		_, ok = r.SetString(s)
	}
	if !ok {
		return Objective{}, fmt.Errorf("objective %q is not a number", s)
	}
	if r.Sign() <= 0 || r.Cmp(big.NewRat(100, 1)) >= 0 {
		return Objective{}, fmt.Errorf("objective %s must be a percentage strictly between 0 and 100 (e.g. 99.9)", s)
	}
	// The evaluation is in float64: an objective or budget that rounds to
	// 0 or 100 percent there would alert on nothing or divide by zero.
	o := Objective{text: s, rat: r}
	if p, b := o.Percent(), o.Budget(); !(p > 0 && p < 100 && b > 0 && b < 1) {
		return Objective{}, fmt.Errorf("objective %s is too close to 0 or 100 to evaluate (e.g. 99.9)", s)
	}
	return o, nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (o *Objective) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "expected an objective in percent such as 99.9")
	}
	v, err := ParseObjective(n.Value)
	if err != nil {
		// Remember that one was written, so validation does not also
		// call it missing.
		*o = Objective{text: n.Value}
		return typeError(n, "%v", err)
	}
	*o = v
	return nil
}

// IsZero reports whether the objective was not set.
func (o Objective) IsZero() bool { return o.rat == nil && o.text == "" }

// Percent returns the objective in percent (99.9).
func (o Objective) Percent() float64 {
	if o.rat == nil {
		return 0
	}
	f, _ := o.rat.Float64()
	return f
}

// Ratio returns the objective as a ratio of good events (0.999).
func (o Objective) Ratio() float64 {
	if o.rat == nil {
		return 0
	}
	f, _ := new(big.Rat).Quo(o.rat, big.NewRat(100, 1)).Float64()
	return f
}

// Budget returns the error budget 1 - objective as the float nearest to the
// exact decimal result.
func (o Objective) Budget() float64 {
	if o.rat == nil {
		return 0
	}
	b := new(big.Rat).Sub(big.NewRat(100, 1), o.rat)
	f, _ := b.Quo(b, big.NewRat(100, 1)).Float64()
	return f
}

// String returns the objective as written, e.g. "99.9".
func (o Objective) String() string { return o.text }

// MarshalJSON writes the objective as a number. It is formatted from the
// value, not the text: 099, .5 and +99 are not JSON.
func (o Objective) MarshalJSON() ([]byte, error) {
	if o.rat == nil {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, o.Percent(), 'g', -1, 64), nil
}

// MarshalYAML implements yaml.Marshaler.
func (o Objective) MarshalYAML() (any, error) { return o.Percent(), nil }
