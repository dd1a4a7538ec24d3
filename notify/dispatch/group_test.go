package dispatch

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestNeedsUpdate(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0).Add(10 * time.Hour)
	set := func(fps ...model.Fingerprint) map[model.Fingerprint]bool {
		m := map[model.Fingerprint]bool{}
		for _, fp := range fps {
			m[fp] = true
		}
		return m
	}
	recent := now.Add(-time.Minute)
	for _, tc := range []struct {
		name             string
		last             *sent
		firing, resolved map[model.Fingerprint]bool
		sendResolved     bool
		want             bool
	}{
		{"new group firing", nil, set(1), set(), false, true},
		{"new group only resolved", nil, set(), set(1), true, false},
		{"no change", &sent{firing: set(1, 2), resolved: set(), at: recent}, set(1, 2), set(), true, false},
		{"a new alert fires", &sent{firing: set(1), resolved: set(), at: recent}, set(1, 2), set(), false, true},
		{"one resolves, resolves sent", &sent{firing: set(1, 2), resolved: set(), at: recent}, set(1), set(2), true, true},
		{"one resolves, resolves not sent", &sent{firing: set(1, 2), resolved: set(), at: recent}, set(1), set(2), false, false},
		{"resolve already told", &sent{firing: set(1), resolved: set(2), at: recent}, set(1), set(2), true, false},
		{"all resolved", &sent{firing: set(1), resolved: set(), at: recent}, set(), set(1), false, true},
		{"all resolved, receiver knew none", &sent{firing: set(), resolved: set(1), at: recent}, set(), set(2), true, false},
		{"repeat interval passed", &sent{firing: set(1), resolved: set(), at: now.Add(-4 * time.Hour)}, set(1), set(), false, true},
		{"repeat interval not yet", &sent{firing: set(1), resolved: set(), at: now.Add(-4*time.Hour + time.Second)}, set(1), set(), false, false},
	} {
		if got := needsUpdate(tc.last, tc.firing, tc.resolved, tc.sendResolved, 4*time.Hour, now); got != tc.want {
			t.Errorf("%s: needsUpdate = %v, want %v", tc.name, got, tc.want)
		}
	}
}
