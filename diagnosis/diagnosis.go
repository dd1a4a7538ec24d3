// Package diagnosis says why an alert fires: it compares vLLM's per-phase
// signals over the alert's window with the span of the same length just
// before it, and names the one cause the shift points at, with the numbers
// behind it.
//
// The baseline is the preceding span rather than the same hours a day
// earlier: it needs no more history than the window itself, and an
// incident's start is what changed against the minutes before it. A slow
// ramp that began before the baseline shows as a smaller shift, never as a
// wrong cause: the shares below are of the rise that is seen.
package diagnosis

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// Causes a diagnosis names.
const (
	CauseQueueing    = "queueing"
	CauseKVPressure  = "kv_pressure"
	CauseLongPrefill = "long_prefill"
	CauseSlowDecode  = "slow_decode"
	CauseErrors      = "errors"
	CauseUnknown     = "unknown"
)

// Focus is what the alert measures, which decides the signals that can
// explain it: a TTFT rise is queue plus prefill, a decode one is per token.
type Focus string

// Foci.
const (
	FocusTTFT   Focus = "ttft"
	FocusDecode Focus = "decode"
	FocusE2E    Focus = "e2e"
	FocusErrors Focus = "errors"
)

// FocusOf is the focus of an alert on a vLLM metric (a short name), or of
// a ratio SLO when metric is empty.
func FocusOf(metric string) Focus {
	switch metric {
	case "":
		return FocusErrors
	case "inter_token_latency", "request_time_per_output_token", "request_decode_time":
		return FocusDecode
	case "e2e_request_latency":
		return FocusE2E
	default:
		return FocusTTFT
	}
}

// Signal is one measure over the window and over the baseline. A value is
// nil when its metric has no data (no requests, no series).
type Signal struct {
	Name     string   `json:"name"`
	Unit     string   `json:"unit,omitempty"`
	Baseline *float64 `json:"baseline"`
	Window   *float64 `json:"window"`
}

// Diagnosis is the cause named for a firing alert.
type Diagnosis struct {
	Cause string `json:"cause"`
	// Evidence is the one line a page carries: the numbers behind Cause.
	Evidence string `json:"evidence"`
	// Window is the span compared with the span of the same length just
	// before it.
	Window  rules.Duration `json:"window"`
	Signals []Signal       `json:"signals"`
}

// Thresholds of the attribution. A phase explains a rise when it carries
// at least half of it; preemptions mean KV pressure from one per hundred
// requests, when they also at least doubled.
const (
	majorShare          = 0.5
	preemptionsPerReq   = 0.01
	decodeSlowdown      = 1.3
	errorRatioFloor     = 0.001
	errorRatioIncrease  = 2.0
	kvFullForPreemption = 0.9
	// A TTFT rise is material from 50 ms and half its baseline: below
	// that, shares of it are noise.
	materialRise  = 0.05
	materialShare = 0.5
)

// Attribute names the cause of an alert with focus from its signals.
func Attribute(focus Focus, window rules.Duration, sigs []Signal) Diagnosis {
	s := signalSetOf(sigs)
	d := Diagnosis{Window: window, Signals: sigs}
	d.Cause, d.Evidence = attribute(focus, s)
	return d
}

func attribute(focus Focus, s signalSet) (cause, evidence string) {
	if focus == FocusErrors {
		if s.rose(SignalErrorRatio, errorRatioIncrease, errorRatioFloor) {
			return CauseErrors, s.join(s.shift(SignalErrorRatio), s.latencyContext())
		}
		return CauseUnknown, s.join("error ratio "+s.shiftText(SignalErrorRatio)+", no rise against the span before", s.latencyContext())
	}
	// Preemptions first: a full KV cache also queues requests (they wait
	// for blocks), so queueing is the symptom and the cache the cause.
	if pre := s.window(SignalPreemptions); pre != nil && *pre >= preemptionsPerReq && s.rose(SignalPreemptions, 2, preemptionsPerReq) {
		return CauseKVPressure, s.join(s.shift(SignalPreemptions), s.kvText(), s.phaseShare(focus, SignalQueue))
	}
	switch focus {
	case FocusDecode:
		if s.rose(SignalDecodePerToken, decodeSlowdown, 0) {
			return CauseSlowDecode, s.join(s.shift(SignalDecodePerToken), s.kvText(), s.preemptionText(), s.runningText())
		}
		return CauseUnknown, s.join("decode time per token "+s.shiftText(SignalDecodePerToken), s.kvText(), s.preemptionText())
	case FocusE2E:
		// The phase whose mean grew most is the one to look at.
		best, bestRise := "", 0.0
		for _, name := range []string{SignalQueue, SignalPrefill, SignalDecode} {
			if r, ok := s.rise(name); ok && r > bestRise {
				best, bestRise = name, r
			}
		}
		total, ok := s.rise(SignalE2E)
		if best != "" && ok && total > 0 && bestRise >= majorShare*total {
			return phaseCause(best), s.join(s.phaseShare(focus, best), s.kvText(), s.preemptionText())
		}
		return CauseUnknown, s.join("e2e "+s.shiftText(SignalE2E), s.shift(SignalQueue), s.shift(SignalPrefill), s.shift(SignalDecode))
	}
	// A warning can come before TTFT moves at all: then no phase carries
	// a rise, and the signal that moved is the cause.
	if rise, ok := s.rise(SignalTTFT); ok && rise < max(materialRise, materialShare**s[SignalTTFT].Baseline) {
		return s.beforeTheRise()
	}
	// TTFT is the time in the queue plus prefill: the one that carries
	// the rise is the cause.
	if share, ok := s.share(SignalQueue); ok && share >= majorShare {
		return CauseQueueing, s.join(s.phaseShare(focus, SignalQueue), s.shift(SignalPrefill), s.kvText(), s.preemptionText(), s.waitingText())
	}
	if share, ok := s.share(SignalPrefill); ok && share >= majorShare {
		return CauseLongPrefill, s.join(s.phaseShare(focus, SignalPrefill), s.shift(SignalPromptTokens), s.shift(SignalPrefixHitRatio), s.shift(SignalQueue))
	}
	return CauseUnknown, s.join("TTFT "+s.shiftText(SignalTTFT), s.shift(SignalQueue), s.shift(SignalPrefill), s.kvText(), s.preemptionText())
}

// beforeTheRise names what moved while TTFT has not yet: a KV cache near
// full, a queue forming, or prompts growing.
func (s signalSet) beforeTheRise() (cause, evidence string) {
	flat := "TTFT " + s.shiftText(SignalTTFT)
	switch {
	case s.window(SignalKVUsage) != nil && *s.window(SignalKVUsage) >= kvFullForPreemption:
		return CauseKVPressure, s.join(s.kvText(), s.preemptionText(), flat, s.shift(SignalRunning))
	case s.rose(SignalWaiting, 2, 5):
		return CauseQueueing, s.join(s.shift(SignalWaiting), s.shift(SignalQueue), flat, s.kvText())
	case s.rose(SignalPromptTokens, 1.5, 0):
		return CauseLongPrefill, s.join(s.shift(SignalPromptTokens), s.shift(SignalPrefill), flat, s.shift(SignalPrefixHitRatio))
	}
	return CauseUnknown, s.join(flat, s.shift(SignalQueue), s.shift(SignalPrefill), s.kvText(), s.preemptionText())
}

func phaseCause(name string) string {
	switch name {
	case SignalQueue:
		return CauseQueueing
	case SignalPrefill:
		return CauseLongPrefill
	default:
		return CauseSlowDecode
	}
}

// signalSet looks signals up by name.
type signalSet map[string]Signal

func signalSetOf(sigs []Signal) signalSet {
	s := signalSet{}
	for _, g := range sigs {
		s[g.Name] = g
	}
	return s
}

func (s signalSet) window(name string) *float64 { return s[name].Window }

// rise is the signal's window value minus its baseline, when both exist.
func (s signalSet) rise(name string) (float64, bool) {
	g := s[name]
	if g.Window == nil || g.Baseline == nil {
		return 0, false
	}
	return *g.Window - *g.Baseline, true
}

// rose says the signal grew by factor over its baseline and is at least
// floor; without a baseline, being at least floor (and above zero) is a
// rise.
func (s signalSet) rose(name string, factor, floor float64) bool {
	g := s[name]
	if g.Window == nil || *g.Window <= 0 || *g.Window < floor {
		return false
	}
	if g.Baseline == nil {
		return true
	}
	return *g.Window >= factor**g.Baseline && *g.Window > *g.Baseline
}

// share is the part of the TTFT rise that a phase's rise carries. Without
// a baseline, or when TTFT did not rise, it is the phase's share of the
// window's TTFT.
func (s signalSet) share(name string) (float64, bool) {
	if total, ok := s.rise(SignalTTFT); ok && total > 0 {
		if r, ok := s.rise(name); ok {
			return r / total, true
		}
	}
	t, p := s.window(SignalTTFT), s.window(name)
	if t == nil || p == nil || *t <= 0 {
		return 0, false
	}
	return *p / *t, true
}

// phaseShare writes a phase's shift and the share of the rise it carries.
func (s signalSet) phaseShare(focus Focus, name string) string {
	text := s.shift(name)
	if text == "" {
		return ""
	}
	of, total := "TTFT", SignalTTFT
	if focus == FocusE2E {
		of, total = "e2e latency", SignalE2E
	}
	if t, ok := s.rise(total); ok && t > 0 {
		if r, ok := s.rise(name); ok {
			return fmt.Sprintf("%s, %.0f %% of the %s rise", text, 100*r/t, of)
		}
	}
	if t, p := s.window(total), s.window(name); t != nil && p != nil && *t > 0 {
		return fmt.Sprintf("%s, %.0f %% of %s", text, 100**p / *t, of)
	}
	return text
}

// shift writes "queue time 0.08 s → 6.4 s", or "" when the window has no
// value.
func (s signalSet) shift(name string) string {
	if s[name].Window == nil {
		return ""
	}
	return labelOf(name) + " " + s.shiftText(name)
}

func (s signalSet) shiftText(name string) string {
	g := s[name]
	switch {
	case g.Window == nil:
		return "unknown"
	case g.Baseline == nil:
		return FormatValue(*g.Window, g.Unit) + " (no baseline)"
	case sameFigure(*g.Baseline, *g.Window, g.Unit):
		return "flat at " + FormatValue(*g.Window, g.Unit)
	}
	return FormatValue(*g.Baseline, g.Unit) + " → " + FormatValue(*g.Window, g.Unit)
}

func (s signalSet) kvText() string {
	if v := s.window(SignalKVUsage); v != nil {
		return "KV peak " + strconv.FormatFloat(math.Round(*v*100)/100, 'f', -1, 64)
	}
	return ""
}

func (s signalSet) preemptionText() string {
	v := s.window(SignalPreemptions)
	switch {
	case v == nil:
		return ""
	case *v == 0:
		return "no preemptions"
	}
	return s.shift(SignalPreemptions)
}

func (s signalSet) waitingText() string {
	w, r := s.window(SignalWaiting), s.window(SignalRunning)
	if w == nil || r == nil {
		return ""
	}
	return fmt.Sprintf("%s waiting vs %s running", FormatValue(*w, ""), FormatValue(*r, ""))
}

func (s signalSet) runningText() string {
	if s.window(SignalRunning) == nil {
		return ""
	}
	return s.shift(SignalRunning)
}

// latencyContext is what an error page adds: whether latency moved too.
func (s signalSet) latencyContext() string { return s.shift(SignalTTFT) }

// join writes the non-empty parts as one line.
func (s signalSet) join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// FormatValue writes a signal's value in its unit with two significant
// figures (whole numbers from 100), as people read them on a page.
func FormatValue(v float64, unit string) string {
	switch unit {
	case UnitRatio:
		return strconv.FormatFloat(sig(v*100, 2), 'f', -1, 64) + " %"
	case UnitSeconds:
		if v != 0 && math.Abs(v) < 0.1 {
			return strconv.FormatFloat(sig(v*1000, 2), 'f', -1, 64) + " ms"
		}
		return strconv.FormatFloat(sig(v, 2), 'f', -1, 64) + " s"
	case "":
		return strconv.FormatFloat(sig(v, 2), 'f', -1, 64)
	}
	return strconv.FormatFloat(sig(v, 2), 'f', -1, 64) + " " + unit
}

// sig rounds v to n significant figures, keeping whole numbers whole.
func sig(v float64, n int) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	mag := math.Floor(math.Log10(math.Abs(v)))
	if mag+1 > float64(n) {
		return math.Round(v)
	}
	p := math.Pow(10, float64(n)-1-mag)
	return math.Round(v*p) / p
}

func sameFigure(a, b float64, unit string) bool { return FormatValue(a, unit) == FormatValue(b, unit) }
