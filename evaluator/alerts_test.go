package evaluator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

var t0 = time.Unix(0, 0).UTC()

func at(d time.Duration) time.Time { return t0.Add(d) }

func cond(name string) Condition {
	return Condition{Labels: model.LabelSet{"alertname": model.LabelValue(name)}, Annotations: model.LabelSet{"summary": "x"}}
}

func TestAlertLifecycle(t *testing.T) {
	s := NewAlertSet(Timing{For: 2 * time.Minute, KeepFiringFor: time.Minute})
	const interval = 30 * time.Second
	m := time.Minute
	steps := []struct {
		ts     time.Duration
		active bool
		state  AlertState // StateInactive with gone=true: removed
		sent   bool
		gone   bool
	}{
		{0, true, StatePending, false, false},
		{90 * time.Second, true, StatePending, false, false},
		{2 * m, true, StateFiring, true, false},              // fires after `for`
		{150 * time.Second, true, StateFiring, false, false}, // not re-sent within resend
		{3 * m, true, StateFiring, true, false},              // resend interval passed
		{4 * m, true, StateFiring, true, false},
		{270 * time.Second, false, StateFiring, false, false},  // keep_firing_for holds it from the first miss
		{5 * m, false, StateFiring, true, false},               // still held; the resend interval passed
		{330 * time.Second, false, StateInactive, true, false}, // 1m since the first miss: resolved, sent at once
		{6 * m, false, StateInactive, false, false},
		{390 * time.Second, false, StateInactive, true, false}, // resolve re-sent
		{330*time.Second + ResolvedRetention + interval, false, StateInactive, false, true},
	}
	for _, st := range steps {
		ts := at(st.ts)
		var conds []Condition
		if st.active {
			conds = []Condition{cond("A")}
		}
		s.Update(ts, conds)
		a := s.Active[cond("A").Labels.Fingerprint()]
		if st.gone {
			if a != nil {
				t.Fatalf("%v: resolved alert kept past retention", st.ts)
			}
			continue
		}
		if a == nil || a.State != st.state {
			t.Fatalf("%v: alert %+v, want state %v", st.ts, a, st.state)
		}
		due := s.Due(ts, time.Minute, interval, "http://sentinel/")
		if got := len(due) == 1; got != st.sent {
			t.Fatalf("%v: sent %v, want %v", st.ts, got, st.sent)
		}
		if !st.sent {
			continue
		}
		d := due[0]
		if !d.StartsAt.Equal(at(2 * m)) {
			t.Errorf("%v: startsAt %v, want the firing time", st.ts, d.StartsAt)
		}
		wantEnd := ts.Add(4 * m) // 4 x max(resend 1m, interval 30s)
		if a.State == StateInactive {
			wantEnd = at(330 * time.Second)
		}
		if !d.EndsAt.Equal(wantEnd) {
			t.Errorf("%v: endsAt %v, want %v", st.ts, d.EndsAt, wantEnd)
		}
		if d.GeneratorURL != "http://sentinel/" {
			t.Errorf("generatorURL %q", d.GeneratorURL)
		}
	}
}

func TestPendingThatClearsIsNeverSent(t *testing.T) {
	s := NewAlertSet(Timing{For: 5 * time.Minute})
	s.Update(at(0), []Condition{cond("A")})
	s.Update(at(time.Minute), nil)
	if len(s.Active) != 0 || len(s.Due(at(time.Minute), time.Minute, time.Minute, "")) != 0 {
		t.Fatal("a pending alert that cleared was kept or sent")
	}
}

func TestRestoreKeepsFiringWithoutRepage(t *testing.T) {
	s := NewAlertSet(Timing{})
	s.Update(at(0), []Condition{cond("A")})
	if n := len(s.Due(at(0), time.Minute, 30*time.Second, "")); n != 1 {
		t.Fatalf("first fire sent %d", n)
	}
	saved := s.Snapshot()

	// Restart 20s later: the alert still fires, keeps its startsAt, and is
	// not re-sent before its resend interval.
	r := NewAlertSet(Timing{})
	r.Restore(at(20*time.Second), saved, at(10*time.Second), time.Hour)
	r.Update(at(20*time.Second), []Condition{cond("A")})
	if due := r.Due(at(20*time.Second), time.Minute, 30*time.Second, ""); len(due) != 0 {
		t.Fatalf("restart re-paged: %v", due)
	}
	due := r.Due(at(time.Minute), time.Minute, 30*time.Second, "")
	if len(due) != 1 || !due[0].StartsAt.Equal(at(0)) {
		t.Fatalf("resend after restart: %v", due)
	}
	// The breach ends: the resolve is sent.
	r.Update(at(90*time.Second), nil)
	due = r.Due(at(90*time.Second), time.Minute, 30*time.Second, "")
	if len(due) != 1 || !due[0].EndsAt.Equal(at(90*time.Second)) {
		t.Fatalf("resolve after restart: %v", due)
	}
}

func TestRestorePendingHonoursOutageTolerance(t *testing.T) {
	s := NewAlertSet(Timing{For: 10 * time.Minute})
	s.Update(at(0), []Condition{cond("A")})
	saved := s.Snapshot()
	// Down from 4m to 5m: the 4 minutes pending before count, the outage
	// does not, so the alert fires at 11m, not 10m.
	short := NewAlertSet(Timing{For: 10 * time.Minute})
	short.Restore(at(5*time.Minute), saved, at(4*time.Minute), time.Hour)
	short.Update(at(10*time.Minute), []Condition{cond("A")})
	if short.Active[cond("A").Labels.Fingerprint()].State != StatePending {
		t.Error("the outage was counted toward 'for'")
	}
	short.Update(at(11*time.Minute), []Condition{cond("A")})
	if short.Active[cond("A").Labels.Fingerprint()].State != StateFiring {
		t.Error("pending time lost over a short outage")
	}
	long := NewAlertSet(Timing{For: 10 * time.Minute})
	long.Restore(at(3*time.Hour), saved, at(time.Minute), time.Hour)
	long.Update(at(3*time.Hour), []Condition{cond("A")})
	if a := long.Active[cond("A").Labels.Fingerprint()]; a.State != StatePending || !a.ActiveAt.Equal(at(3*time.Hour)) {
		t.Errorf("pending kept over a long outage: %+v", a)
	}
}

// A pending alert whose condition stops is dropped, as Prometheus drops it
// from ALERTS, and the cycle says so: a replay of a condition that blinks
// shows each short pending run, not one pending alert from the first run
// until the alert at last fires.
func TestPendingThatClearsIsATransition(t *testing.T) {
	for2m, keep := rules.Duration(2*time.Minute), rules.Duration(time.Minute)
	in, err := rules.CompileIndicator(rules.NewPromQL(), rules.IndicatorSpec{Name: "deep-queue",
		Expr: "max by (instance) (vllm:num_requests_waiting) > 10", For: &for2m, KeepFiringFor: &keep}, rules.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	// The condition at each 30s step: on, off, on, and then on for good.
	held := []bool{true, true, false, true, false, false, true, true, true, true, true}
	var step int
	q := QuerierFunc(func(_ context.Context, q string, _ time.Time) (model.Value, error) {
		switch {
		case strings.HasPrefix(q, "count by (__name__)"):
			return model.Vector{{Metric: model.Metric{"__name__": "vllm:num_requests_waiting"}, Value: 1}}, nil
		case strings.HasSuffix(q, "> 10") && held[step]:
			return model.Vector{{Metric: model.Metric{"instance": "a"}, Value: 42}}, nil
		}
		return model.Vector{}, nil
	})
	eng, err := NewEngine(New(q, nil, []*rules.Indicator{in}, Options{}), nil, EngineOptions{Interval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for step = range held {
		rep := eng.Cycle(context.Background(), at(time.Duration(step)*30*time.Second))
		for _, tr := range rep.Transitions {
			if tr.Alertname == "DeepQueue" {
				got = append(got, fmt.Sprintf("%s %s", tr.Time.Sub(t0), tr.To))
			}
		}
	}
	want := []string{"0s pending", "1m0s inactive", "1m30s pending", "2m0s inactive", "3m0s pending", "5m0s firing"}
	if !slices.Equal(got, want) {
		t.Errorf("transitions %q, want %q", got, want)
	}
}
