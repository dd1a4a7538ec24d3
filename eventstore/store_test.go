package eventstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// feed adds random events every step over [from, to) for two groups and
// returns them, so a test can sum any window itself.
type event struct {
	at         time.Time
	bad, total float64
	group      int
}

func feed(t *testing.T, s *Store, from, to time.Time, step time.Duration, rng *rand.Rand) []event {
	t.Helper()
	var evs []event
	groups := []model.LabelSet{{"model_name": "a"}, {"model_name": "b"}}
	for at := from; at.Before(to); at = at.Add(step) {
		for gi, ls := range groups {
			total := float64(rng.IntN(50))
			if rng.IntN(10) == 0 {
				total = 0 // idle steps
			}
			bad := math.Floor(total * rng.Float64() * 0.2)
			if err := s.Add(ls, at, at.Add(step), bad, total); err != nil {
				t.Fatal(err)
			}
			evs = append(evs, event{at, bad, total, gi})
		}
	}
	s.Extend(from, to, step)
	return evs
}

func exact(evs []event, group int, from, to time.Time) (bad, total float64) {
	for _, e := range evs {
		if e.group == group && !e.at.Before(from) && e.at.Before(to) {
			bad += e.bad
			total += e.total
		}
	}
	return bad, total
}

func TestWindowsOnTheGridAreExact(t *testing.T) {
	step := 30 * time.Second
	s := New("ttft", Tiers(step, 28*24*time.Hour))
	end := t0.Add(29 * 24 * time.Hour)
	evs := feed(t, s, t0, end, step, rand.New(rand.NewPCG(1, 2)))
	for _, w := range []time.Duration{5 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 24 * time.Hour, 72 * time.Hour, 28 * 24 * time.Hour} {
		gs, ok := s.Sum(end.Add(-w), end)
		if !ok || len(gs) != 2 {
			t.Fatalf("%s: ok=%v, %d groups", w, ok, len(gs))
		}
		for _, g := range gs {
			i := 0
			if g.Labels["model_name"] == "b" {
				i = 1
			}
			bad, total := exact(evs, i, end.Add(-w), end)
			if !near(g.Total, total, 1e-6) || !near(g.Bad, bad, 1e-6) {
				t.Errorf("%s %v: bad %g of %g, want %g of %g", w, g.Labels, g.Bad, g.Total, bad, total)
			}
		}
	}
}

// A window whose start cuts a slot is off by at most that slot's events.
func TestWindowOffTheGridIsWithinOneSlot(t *testing.T) {
	step := 30 * time.Second
	s := New("ttft", Tiers(step, 28*24*time.Hour))
	end := t0.Add(3 * 24 * time.Hour)
	evs := feed(t, s, t0, end, step, rand.New(rand.NewPCG(3, 4)))
	for _, c := range []struct {
		w, slot time.Duration
	}{{5*time.Minute + 30*time.Second, step}, {6*time.Hour + 90*time.Second, 5 * time.Minute}, {48*time.Hour + 7*time.Minute, time.Hour}} {
		from := end.Add(-c.w)
		gs, ok := s.Sum(from, end)
		if !ok {
			t.Fatalf("%s: not covered", c.w)
		}
		if gs[0].Labels["model_name"] != "a" {
			gs[0] = gs[1]
		}
		bad, total := exact(evs, 0, from, end)
		edgeBad, edgeTotal := exact(evs, 0, from.Truncate(c.slot), from.Truncate(c.slot).Add(c.slot))
		if math.Abs(gs[0].Total-total) > edgeTotal+1e-6 || math.Abs(gs[0].Bad-bad) > edgeBad+1e-6 {
			t.Errorf("%s: bad %g of %g, want %g of %g within one slot (%g of %g)", c.w, gs[0].Bad, gs[0].Total, bad, total, edgeBad, edgeTotal)
		}
	}
}

func TestWindowOlderThanTheDataIsNotCovered(t *testing.T) {
	step := 30 * time.Second
	s := New("ttft", Tiers(step, 28*24*time.Hour))
	end := t0.Add(2 * time.Hour)
	feed(t, s, t0, end, step, rand.New(rand.NewPCG(5, 6)))
	if _, ok := s.Sum(end.Add(-time.Hour), end); !ok {
		t.Error("1h window of 2h of data: not covered")
	}
	if _, ok := s.Sum(end.Add(-6*time.Hour), end); ok {
		t.Error("6h window of 2h of data: covered, want warming")
	}
	if _, ok := s.Sum(end.Add(-time.Hour), end.Add(time.Minute)); ok {
		t.Error("a window ending after the data is covered")
	}
	// The 5m tier keeps 12 hours: all of the data, back to its start.
	if got := s.CoveredAt(5 * time.Minute); !got.Equal(t0) {
		t.Errorf("CoveredAt(5m) = %s, want %s", got, t0)
	}
}

// Coarse history (a backfill at 1h) serves long windows but not the tiers
// whose slots are finer than it.
func TestCoarseHistoryFeedsCoarseTiersOnly(t *testing.T) {
	s := New("ttft", Tiers(30*time.Second, 28*24*time.Hour))
	mid := t0.Add(10 * 24 * time.Hour)
	end := mid.Add(time.Hour)
	feed(t, s, t0, mid, time.Hour, rand.New(rand.NewPCG(7, 8)))
	feed(t, s, mid, end, 30*time.Second, rand.New(rand.NewPCG(9, 10)))
	if _, ok := s.Sum(end.Add(-3*24*time.Hour), end); !ok {
		t.Error("3d window over 1h history: not covered")
	}
	if _, ok := s.Sum(end.Add(-2*time.Hour), end); ok {
		t.Error("2h window summed from 5m slots that only ever got hourly events")
	}
	if got := s.CoveredAt(6 * time.Hour); !got.Equal(t0) {
		t.Errorf("CoveredAt(6h) = %s, want %s", got, t0)
	}
}

func TestGroupsUnseenForTheRetentionArePruned(t *testing.T) {
	s := New("ttft", Tiers(time.Minute, 24*time.Hour))
	if err := s.Add(model.LabelSet{"model_name": "old"}, t0, t0.Add(time.Minute), 1, 2); err != nil {
		t.Fatal(err)
	}
	feed(t, s, t0, t0.Add(26*time.Hour), time.Minute, rand.New(rand.NewPCG(1, 1)))
	if n := s.Prune(); n != 1 || s.Len() != 2 {
		t.Errorf("Prune() = %d, %d groups left; want 1 and 2", n, s.Len())
	}
}

func TestFullStoreRefusesNewGroups(t *testing.T) {
	s := New("ttft", Tiers(time.Minute, 24*time.Hour))
	s.maxGroups = 1
	if err := s.Add(model.LabelSet{"model_name": "a"}, t0, t0.Add(time.Minute), 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(model.LabelSet{"model_name": "b"}, t0, t0.Add(time.Minute), 0, 1); err == nil || s.Refused() != 1 {
		t.Errorf("second group in a store of one: err %v, refused %d", err, s.Refused())
	}
}

func TestAddRefusesWhatIsNoCount(t *testing.T) {
	s := New("ttft", Tiers(time.Minute, 24*time.Hour))
	for _, c := range [][2]float64{{math.NaN(), 1}, {0, math.Inf(1)}, {-1, 3}} {
		if err := s.Add(model.LabelSet{}, t0, t0.Add(time.Minute), c[0], c[1]); err == nil {
			t.Errorf("Add(bad %g, total %g) accepted", c[0], c[1])
		}
	}
	if err := s.Add(model.LabelSet{}, t0, t0, 0, 1); err == nil {
		t.Error("empty interval accepted")
	}
}

func TestEncodeDecodeKeepsEverySum(t *testing.T) {
	step := time.Minute
	s := New("ttft|v1", Tiers(step, 7*24*time.Hour))
	end := t0.Add(8 * 24 * time.Hour)
	feed(t, s, t0, end, step, rand.New(rand.NewPCG(11, 12)))
	var buf bytes.Buffer
	if err := s.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if back.ID() != s.ID() || !back.Through().Equal(s.Through()) || !back.CoveredAt(time.Hour).Equal(s.CoveredAt(time.Hour)) {
		t.Fatalf("decoded %s through %s covered %s; want %s, %s, %s", back.ID(), back.Through(), back.CoveredAt(time.Hour), s.ID(), s.Through(), s.CoveredAt(time.Hour))
	}
	for _, w := range []time.Duration{5 * time.Minute, 6 * time.Hour, 7 * 24 * time.Hour} {
		a, _ := s.Sum(end.Add(-w), end)
		b, _ := back.Sum(end.Add(-w), end)
		sums := func(gs []Group) map[string][2]float64 {
			m := map[string][2]float64{}
			for _, g := range gs {
				m[g.Labels.String()] = [2]float64{g.Bad, g.Total}
			}
			return m
		}
		if sa, sb := sums(a), sums(b); len(sa) != 2 || fmt.Sprint(sa) != fmt.Sprint(sb) {
			t.Errorf("%s: %v before, %v after", w, sa, sb)
		}
	}
	t.Logf("7d store at 1m: %d bytes encoded, %d in memory for %d groups", buf.Len(), s.Bytes(), s.Len())
}

func TestDecodeRefusesWhatEncodeCannotWrite(t *testing.T) {
	s := New("ttft", Tiers(time.Minute, 24*time.Hour))
	feed(t, s, t0, t0.Add(time.Hour), time.Minute, rand.New(rand.NewPCG(1, 3)))
	var buf bytes.Buffer
	if err := s.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for name, data := range map[string][]byte{
		"empty":     nil,
		"foreign":   []byte(`{"version":1}`),
		"truncated": good[:len(good)/2],
		"garbage":   append([]byte(magic), 0xff, 0x00, 0x13),
	} {
		if _, err := Decode(data); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
}

func near(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// The slot being filled holds events only up to Through: its events count
// in full in a window that ends there, so an outage of the last ten
// minutes weighs as much in the 1d window as in the 1h one.
func TestNewestSlotCountsInFull(t *testing.T) {
	step := 30 * time.Second
	s := New("ttft", Tiers(step, 28*24*time.Hour))
	end := t0.Add(29*24*time.Hour + 10*time.Minute)
	for at := t0; at.Before(end); at = at.Add(step) {
		bad := 0.0
		if !at.Before(end.Add(-10 * time.Minute)) {
			bad = 30
		}
		if err := s.Add(model.LabelSet{"model_name": "a"}, at, at.Add(step), bad, 30); err != nil {
			t.Fatal(err)
		}
	}
	s.Extend(t0, end, step)
	for _, w := range []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 72 * time.Hour, 28 * 24 * time.Hour} {
		gs, ok := s.Sum(end.Add(-w), end)
		if !ok || len(gs) != 1 {
			t.Fatalf("%s: ok=%v %v", w, ok, gs)
		}
		if !near(gs[0].Bad, 600, 1e-6) || !near(gs[0].Total, w.Seconds(), 1e-6) {
			t.Errorf("%s: bad %g of %g, want 600 of %g", w, gs[0].Bad, gs[0].Total, w.Seconds())
		}
	}
}
