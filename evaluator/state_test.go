package evaluator

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestStoreRoundTripAndCorruptFile(t *testing.T) {
	dir := t.TempDir()
	st, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := st.Load(at(0))
	if err != nil || len(sf.Rules) != 0 {
		t.Fatalf("missing file: %v %v", sf, err)
	}
	s := NewAlertSet(Timing{})
	s.Update(at(0), []Condition{cond("A")})
	s.Due(at(0), time.Minute, time.Minute, "")
	sf.Rules[ruleKey{kindSLO, "ttft"}] = s.Snapshot()
	sf.SavedAt = at(0)
	if err := st.Save(sf); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	a := got.Rules[ruleKey{kindSLO, "ttft"}][0]
	if a.State != StateFiring || !a.FiredAt.Equal(at(0)) || !a.LastSentAt.Equal(at(0)) || a.SentState() != StateFiring || a.Labels["alertname"] != "A" {
		t.Errorf("round trip lost state: %+v", a)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	if err := os.WriteFile(st.Path(), []byte(`{"version": 1, "rules": {"x": [{"state": `), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = st.Load(at(2 * time.Minute))
	if !errors.Is(err, ErrCorruptState) || len(got.Rules) != 0 {
		t.Fatalf("corrupt file: %v %v", got, err)
	}
	aside := st.Path() + ".corrupt-120"
	if _, serr := os.Stat(aside); serr != nil || !strings.Contains(err.Error(), filepath.Base(aside)) {
		t.Errorf("corrupt file not moved aside to %s: %v", aside, err)
	}
	if _, serr := os.Stat(st.Path()); !os.IsNotExist(serr) {
		t.Error("corrupt file still in place")
	}
}

// A non-finite value (a ratio over nothing) does not stop the state from
// being saved, and it comes back as it was.
func TestStoreSavesNonFiniteValues(t *testing.T) {
	st, err := NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := NewAlertSet(Timing{})
	c := cond("A")
	c.Value = math.Inf(1)
	s.Update(at(0), []Condition{c})
	if err := st.Save(&stateFile{SavedAt: at(0), Rules: map[ruleKey][]*Alert{{kindIndicator, "x"}: s.Snapshot()}}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if v := float64(got.Rules[ruleKey{kindIndicator, "x"}][0].Value); !math.IsInf(v, 1) {
		t.Errorf("value %v, want +Inf", v)
	}
}

// A damaged state file never stops the engine: it is moved aside, the
// engine starts empty, SentinelStateLost fires, and the next save is
// readable again.
func TestDamagedStateStartsEmptyWithAnAlert(t *testing.T) {
	for name, content := range map[string]string{
		"null entry":      `{"version": 1, "saved_at": "2026-01-01T00:00:00Z", "rules": {"slo:ttft": [null]}}`,
		"truncated":       `{"version": 1, "rules": {"slo:ttft": [{"labels": {"alertname": "A"}, "state": "fir`,
		"random bytes":    "\x00\xff\x13\x37garbage\x01",
		"empty":           "",
		"wrong shape":     `[1, 2, 3]`,
		"unknown version": `{"version": 99, "rules": {}}`,
		"rules a list":    `{"version": 1, "rules": [1]}`,
		"unknown state":   `{"version": 1, "rules": {"slo:ttft": [{"labels": {"alertname": "A"}, "state": "exploded"}]}}`,
		"no labels":       `{"version": 1, "rules": {"slo:ttft": [{"state": "firing", "fired_at": "2026-01-01T00:00:00Z"}]}}`,
		"firing unfired":  `{"version": 1, "rules": {"slo:ttft": [{"labels": {"alertname": "A"}, "state": "firing"}]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "alerts.json"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			sender := &recordingSender{}
			ev := New(QuerierFunc(func(context.Context, string, time.Time) (model.Value, error) { return model.Vector{}, nil }), nil, nil, Options{})
			eng, err := NewEngine(ev, sender, EngineOptions{StateDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.Restore(at(0)); err != nil {
				t.Fatalf("restore refused to start: %v", err)
			}
			eng.Cycle(context.Background(), at(0))
			lost := named(sender.take(), AlertStateLost)
			if len(lost) != 1 || lost[0].Labels["state"] != "alerts" || !strings.Contains(string(lost[0].Annotations["description"]), "moved aside") {
				t.Errorf("SentinelStateLost not sent: %v", lost)
			}
			if matches, _ := filepath.Glob(filepath.Join(dir, "alerts.json.corrupt-*")); len(matches) != 1 {
				t.Errorf("damaged file not kept aside: %v", matches)
			}
			again, err := NewEngine(ev, nil, EngineOptions{StateDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if err := again.Restore(at(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if matches, _ := filepath.Glob(filepath.Join(dir, "alerts.json.corrupt-*")); len(matches) != 1 {
				t.Errorf("the state saved after the loss does not load: %v", matches)
			}
		})
	}
}

// SentinelStateLost fires for its hour across a restart, instead of
// resolving at the first cycle after it.
func TestStateLostSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "alerts.json"), []byte(`{"version": 1, "rules": {"slo:ttft": [null]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ev := New(QuerierFunc(func(context.Context, string, time.Time) (model.Value, error) { return model.Vector{}, nil }), nil, nil, Options{})
	start := func(ts time.Time) (*Engine, *recordingSender) {
		sender := &recordingSender{}
		eng, err := NewEngine(ev, sender, EngineOptions{StateDir: dir, Interval: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.Restore(ts); err != nil {
			t.Fatal(err)
		}
		return eng, sender
	}
	eng, _ := start(at(0))
	eng.Cycle(context.Background(), at(0))
	again, sender := start(at(10 * time.Minute))
	again.Cycle(context.Background(), at(10*time.Minute))
	for _, a := range named(sender.take(), AlertStateLost) {
		if !a.EndsAt.After(at(10 * time.Minute)) {
			t.Errorf("SentinelStateLost resolved by the restart: %v", a)
		}
	}
	again.Cycle(context.Background(), at(StateLostFor+time.Minute))
	if lost := named(sender.take(), AlertStateLost); len(lost) != 1 || lost[0].EndsAt.After(at(StateLostFor+time.Minute)) {
		t.Errorf("SentinelStateLost does not resolve after its hour: %v", lost)
	}
}
