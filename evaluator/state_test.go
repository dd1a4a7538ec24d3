package evaluator

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
