package dispatch_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A file just over its cap, 64 MiB for a notification and 256 MiB for the
// groups, is damage: it is moved aside, not read whole, and the Dispatcher
// starts and delivers the rest. The files are sparse, so the test costs
// next to no disk. The load reads up to the cap into memory, which the race
// detector makes slow (seconds for the groups file): the first load may
// take a minute, and the subtests run one after the other.
func TestFileOverItsCapIsDamage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, content, kind string
		limit                     int64
	}{
		{"outbox file", damagedNotes, `{"version":1,"seq":2,"id":"msg_2","created":"1970-01-01T00:00:00Z","alerts":[` + goodAlert + `]}`, "outbox", 64 << 20},
		{"groups file", "groups.json", goodGroups, "groups", 256 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{"outbox/00000000000000000001.json": goodOutbox, "groups.json": goodGroups}
			files[tc.file] = tc.content
			writeFiles(t, dir, files)
			path := filepath.Join(dir, tc.file)
			if err := os.Truncate(path, tc.limit+1); err != nil {
				t.Fatal(err)
			}
			h, logs, lost := startOnWithin(t, dir, time.Minute)
			if calls := h.n.all(); len(calls) != 1 || calls[0].meta.ID != "msg_ok" {
				t.Fatalf("calls %v, want msg_ok only", calls)
			}
			aside := movedAside(t, dir)
			if len(aside) != 1 || !strings.HasPrefix(aside[0], path+".corrupt-") {
				t.Fatalf("moved aside %v, want %s only", aside, tc.file)
			}
			if fi, err := os.Stat(aside[0]); err != nil || fi.Size() != tc.limit+1 {
				t.Errorf("moved-aside file: %v, %v; want it whole, %d bytes", fi, err, tc.limit+1)
			}
			assertLost(t, h, logs, lost, tc.kind)
			if errs := lost.all(); len(errs) != 1 || !strings.Contains(errs[0].Error(), fmt.Sprintf("more than %d bytes", tc.limit)) {
				t.Errorf("OnStateLost told %v, want the file over its cap of %d bytes", errs, tc.limit)
			}
		})
	}
}
