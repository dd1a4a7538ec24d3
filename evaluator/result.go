package evaluator

import (
	"encoding/json"
	"math"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/diagnosis"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
	"github.com/vllm-sentinel/vllm-sentinel/tracing"
)

// SLO states.
const (
	StateOK      = "ok"
	StateBurning = "burning"
	StateNoData  = "no_data"
	// StateErrorsAbsent is a ratio SLO with events but no series at all on
	// its errors side: zero errors cannot be told from a selector that
	// matches nothing, so it is not reported as ok.
	StateErrorsAbsent = "errors_absent"
	// StateWarming is an SLO whose event store does not hold its long
	// windows yet (a first start backfills them): not ok, not a page.
	StateWarming = "warming"
)

// Result is one evaluation at one time.
type Result struct {
	Time       time.Time         `json:"time"`
	SLOs       []SLOResult       `json:"slos"`
	Indicators []IndicatorResult `json:"indicators"`
	// Errors are SLOs that could not be evaluated this time; the others
	// were.
	Errors []EvalError `json:"errors,omitempty"`
	// TargetsDown are the vLLM scrape targets (job, instance) that served
	// metrics lately and now fail their scrape.
	TargetsDown []map[string]string `json:"targets_down,omitempty"`
	// AllTargetsDown is set when targets are down and no vLLM server
	// serves metrics at all: every absence is theirs, and says nothing
	// about the SLOs' own selectors.
	AllTargetsDown bool `json:"all_targets_down,omitempty"`
	// TraceLookupsFailed counts this evaluation's trace lookups that the
	// backend did not answer in time.
	TraceLookupsFailed int `json:"-"`
}

// EvalError is an SLO or indicator whose evaluation failed.
type EvalError struct {
	SLO       string `json:"slo,omitempty"`
	Indicator string `json:"indicator,omitempty"`
	Query     string `json:"query,omitempty"`
	Error     string `json:"error"`
	// Unavailable is set when Prometheus could not be reached or failed
	// (network, timeout, 5xx), as opposed to refusing the query.
	Unavailable bool `json:"unavailable,omitempty"`
	// Absent names the metric that has no series, when that is the cause.
	Absent string `json:"absent,omitempty"`
}

// Subject names what failed: "SLO ttft" or "indicator kv-cache".
func (e EvalError) Subject() string {
	if e.Indicator != "" {
		return "indicator " + e.Indicator
	}
	return "SLO " + e.SLO
}

// IndicatorResult is one indicator for one group (instance and model).
type IndicatorResult struct {
	Indicator string            `json:"indicator"`
	Labels    map[string]string `json:"labels"`
	Value     Float             `json:"value"`
	Threshold Float             `json:"threshold"`
	// Active says the condition holds at this evaluation.
	Active bool `json:"active"`
	// Diagnosis and Traces explain a firing indicator, as SLOResult's do.
	Diagnosis *Diagnosis `json:"diagnosis,omitempty"`
	TraceLookup
}

// Group is the result's group: its labels without the indicator's name.
func (r IndicatorResult) Group() map[string]string {
	out := make(map[string]string, len(r.Labels))
	for k, v := range r.Labels {
		if k != "indicator" {
			out[k] = v
		}
	}
	return out
}

// SLOResult is one SLO for one group (e.g. one model).
type SLOResult struct {
	SLO       string            `json:"slo"`
	Labels    map[string]string `json:"labels"`
	Objective float64           `json:"objective"`
	// Metric is the metric the SLI was computed from, as found in Prometheus.
	Metric string `json:"metric,omitempty"`
	// Approximate is set when the threshold was interpolated inside a bucket.
	Approximate bool   `json:"approximate,omitempty"`
	Note        string `json:"note,omitempty"`
	// Warning says what makes the result doubtful, e.g. an errors selector
	// that matches no series.
	Warning string         `json:"warning,omitempty"`
	Windows []WindowResult `json:"windows"`
	Firing  []FiringPair   `json:"firing"`
	// Budget is the SLO window's own numbers: error ratio and events over the
	// whole window (or calendar period so far).
	Budget          WindowResult `json:"budget"`
	BudgetRemaining *float64     `json:"budget_remaining"`
	Exhaustion      *Duration    `json:"exhaustion"`
	State           string       `json:"state"`
	// Diagnosis says why the SLO burns, while a pair fires; Traces are
	// slow requests from inside the firing window.
	Diagnosis *Diagnosis `json:"diagnosis,omitempty"`
	TraceLookup
}

// Diagnosis is why an alert fires (see package diagnosis), and Signal
// one of the measures behind it.
type (
	Diagnosis = diagnosis.Diagnosis
	Signal    = diagnosis.Signal
)

// TraceLookup is what the tracing backend gave for a firing alert: example
// slow requests, or TracesUnavailable when it did not answer in time (the
// alert went out without them).
type TraceLookup struct {
	Traces            []Trace `json:"traces,omitempty"`
	TracesUnavailable bool    `json:"traces_unavailable,omitempty"`
	TracesError       string  `json:"traces_error,omitempty"`
}

// Trace is one slow request from the tracing backend.
type Trace = tracing.Trace

// WindowResult is the SLI over one window. ErrorRatio and BurnRate are null
// when the window saw no events: no traffic is not "healthy".
type WindowResult struct {
	Window     rules.Duration `json:"window"`
	ErrorRatio *float64       `json:"error_ratio"`
	BurnRate   *float64       `json:"burn_rate"`
	Events     float64        `json:"events"`
	// ErrorRatioLowerBound is the Wilson lower bound of the error ratio at
	// the SLO's alerting.confidence: what a pair compares with its
	// threshold, so that a handful of events cannot page.
	ErrorRatioLowerBound *float64 `json:"error_ratio_lower_bound,omitempty"`
	// Warming is a window the event store does not hold yet: its numbers
	// are unknown, never zero.
	Warming bool `json:"warming,omitempty"`
}

// FiringPair is a window pair whose long and short burn rates both exceed
// its factor.
type FiringPair struct {
	LongWindow    rules.Duration `json:"long_window"`
	ShortWindow   rules.Duration `json:"short_window"`
	Severity      string         `json:"severity"`
	Tier          rules.Tier     `json:"tier"`
	Factor        float64        `json:"factor"`
	LongBurnRate  float64        `json:"long_burn_rate"`
	ShortBurnRate float64        `json:"short_burn_rate"`
}

// Window is the pair as the rules describe it.
func (f FiringPair) Window() rules.Window {
	return rules.Window{Long: f.LongWindow.D(), Short: f.ShortWindow.D(), Factor: f.Factor, Tier: f.Tier, Severity: f.Severity}
}

// Duration prints as Prometheus writes durations (4d3h) in JSON and tables,
// rounded to the second.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d Duration) String() string {
	r := time.Duration(d).Round(time.Second)
	if r <= 0 {
		return "0s"
	}
	return rules.Duration(r).String()
}

// Window returns the result for window w, if evaluated.
func (r *SLOResult) Window(w time.Duration) *WindowResult {
	for i := range r.Windows {
		if r.Windows[i].Window.D() == w {
			return &r.Windows[i]
		}
	}
	return nil
}

// Float is a value from Prometheus, which may be NaN or infinite (a ratio
// over nothing, a quantile of no requests). JSON has no such numbers, so
// they are written as Prometheus's API writes them: "NaN", "+Inf", "-Inf".
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads what MarshalJSON writes, so state files round-trip.
func (f *Float) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = Float(math.NaN())
	case `"+Inf"`:
		*f = Float(math.Inf(1))
	case `"-Inf"`:
		*f = Float(math.Inf(-1))
	default:
		var v float64
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = Float(v)
	}
	return nil
}
