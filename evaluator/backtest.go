package evaluator

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// Transition is an alert changing state during a replay.
type Transition struct {
	Time      time.Time      `json:"time"`
	Alertname string         `json:"alertname"`
	Labels    model.LabelSet `json:"labels"`
	// To is pending, firing or resolved.
	To    string `json:"to"`
	Value Float  `json:"value"`
}

// BacktestReport is the outcome of a replay.
type BacktestReport struct {
	Transitions []Transition `json:"transitions"`
	// NoData counts evaluations at which an SLO's metric was absent (e.g.
	// before the history starts); they are not errors.
	NoData int `json:"no_data_evaluations"`
}

// Backtest replays [from, to] at step through the engine's own cycle, the
// same code path as the live loop and eval, and returns every alert state
// change. A query that fails stops the replay with its error: a replay that
// silently skipped evaluations would claim a quiet history it never saw.
// progress, if set, is called after each step. The engine should have no
// sender and no state directory.
func Backtest(ctx context.Context, e *Engine, from, to time.Time, step time.Duration, progress func(done, total int, ts time.Time)) (*BacktestReport, error) {
	rep := &BacktestReport{}
	total := int(to.Sub(from)/step) + 1
	prev := map[model.Fingerprint]AlertState{}
	i := 0
	for ts := from; !ts.After(to); ts = ts.Add(step) {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		res := e.Cycle(ctx, ts)
		for _, se := range res.Errors {
			if se.Absent == "" {
				return rep, fmt.Errorf("evaluation at %s: SLO %s: %s", ts.UTC().Format(time.RFC3339), se.SLO, se.Error)
			}
			rep.NoData++
		}
		cur := map[model.Fingerprint]AlertState{}
		for _, a := range e.Alerts() {
			fp := a.Labels.Fingerprint()
			cur[fp] = a.State
			was, seen := prev[fp]
			if seen && was == a.State {
				continue
			}
			if !seen && a.State == StateInactive {
				continue
			}
			to := a.State.String()
			if a.State == StateInactive {
				to = "resolved"
			}
			rep.Transitions = append(rep.Transitions, Transition{Time: ts, Alertname: string(a.Labels[model.AlertNameLabel]), Labels: a.Labels, To: to, Value: a.Value})
		}
		prev = cur
		i++
		if progress != nil {
			progress(i, total, ts)
		}
	}
	return rep, nil
}
