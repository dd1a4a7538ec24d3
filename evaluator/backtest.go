package evaluator

import (
	"context"
	"fmt"
	"time"
)

// BacktestReport is the outcome of a replay.
type BacktestReport struct {
	Transitions []Transition `json:"transitions"`
	// NoData counts evaluations at which an SLO's or indicator's metric
	// was absent (e.g. before the history starts); they are not errors.
	NoData int `json:"no_data_evaluations"`
	// Absent counts those evaluations by what was absent for whom:
	// "indicator kv-cache: vllm:kv_cache_usage_perc".
	Absent map[string]int `json:"absent,omitempty"`
}

// Backtest replays [from, to] at step through the engine's own cycle, the
// same code path as the live loop and eval, and collects the transitions
// each cycle reports. A query that fails stops the replay with its error: a
// replay that silently skipped evaluations would claim a quiet history it
// never saw. progress, if set, is called after each step. The engine should
// have no sender and no state directory.
func Backtest(ctx context.Context, e *Engine, from, to time.Time, step time.Duration, progress func(done, total int, ts time.Time)) (*BacktestReport, error) {
	rep := &BacktestReport{Absent: map[string]int{}}
	total := int(to.Sub(from)/step) + 1
	i := 0
	for ts := from; !ts.After(to); ts = ts.Add(step) {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		cycle := e.Cycle(ctx, ts)
		noData := false
		for _, se := range cycle.Errors {
			if se.Absent == "" {
				return rep, fmt.Errorf("evaluation at %s: %s: %s", ts.UTC().Format(time.RFC3339), se.Subject(), se.Error)
			}
			rep.Absent[se.Subject()+": "+se.Absent]++
			noData = true
		}
		if noData {
			rep.NoData++
		}
		rep.Transitions = append(rep.Transitions, cycle.Transitions...)
		i++
		if progress != nil {
			progress(i, total, ts)
		}
	}
	return rep, nil
}
