package dispatch_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

// Files as a previous run leaves them, and as damage leaves them. The
// alerts fire from t0 for 4m.
const (
	goodAlert    = `{"labels":{"alertname":"SLOBurnRate","model_name":"a"},"annotations":{},"startsAt":"1970-01-01T00:00:00Z","endsAt":"1970-01-01T00:04:00Z","generatorURL":""}`
	otherAlert   = `{"labels":{"alertname":"SLOBurnRate","model_name":"b"},"annotations":{},"startsAt":"1970-01-01T00:00:00Z","endsAt":"1970-01-01T00:04:00Z","generatorURL":""}`
	goodOutbox   = `{"version":1,"seq":1,"id":"msg_ok","group_key":"{}:{}","group_labels":{},"created":"1970-01-01T00:00:00Z","alerts":[` + goodAlert + `]}`
	goodGroups   = `{"version":1,"group_by":["alertname"],"groups":[` + goodGroup + `]}`
	goodGroup    = `{"labels":{"alertname":"SLOBurnRate"},"alerts":[` + goodAlert + `],"next_flush":"1970-01-01T00:05:00Z","flushed":true,"last_notified":{"firing":["` + goodAlertFP + `"],"resolved":[],"at":"1970-01-01T00:00:00Z"}}`
	goodAlertFP  = "322e811bc760465f"
	damagedNotes = "outbox/00000000000000000002.json"
)

// damagedOutboxFiles are what can be found in place of notification 2.
var damagedOutboxFiles = map[string]string{
	"truncated":          `{"version":1,"seq":2,"id":"msg_2","created":"1970-01-01T00:00:00Z","alerts":[{"labels":`,
	"random bytes":       "\x8b\x00\xffG\x13\x07{\xfe\"\x01",
	"empty":              "",
	"array":              `[` + goodOutbox + `]`,
	"string":             `"msg_2"`,
	"null":               `null`,
	"wrong field types":  `{"version":"1","seq":"2","id":2,"alerts":{}}`,
	"unknown version":    `{"version":2,"seq":2,"id":"msg_2","created":"1970-01-01T00:00:00Z","alerts":[` + goodAlert + `]}`,
	"null alerts":        `{"version":1,"seq":2,"id":"msg_2","created":"1970-01-01T00:00:00Z","alerts":null}`,
	"only null alerts":   `{"version":1,"seq":2,"id":"msg_2","created":"1970-01-01T00:00:00Z","alerts":[null,null]}`,
	"no alerts":          `{"version":1,"seq":2,"id":"msg_2","created":"1970-01-01T00:00:00Z","alerts":[]}`,
	"no id":              `{"version":1,"seq":2,"created":"1970-01-01T00:00:00Z","alerts":[` + goodAlert + `]}`,
	"id with line break": `{"version":1,"seq":2,"id":"msg_2\r\nX-Evil: 1","created":"1970-01-01T00:00:00Z","alerts":[` + goodAlert + `]}`,
	"no creation time":   `{"version":1,"seq":2,"id":"msg_2","alerts":[` + goodAlert + `]}`,
	"wrong seq":          `{"version":1,"seq":7,"id":"msg_2","created":"1970-01-01T00:00:00Z","alerts":[` + goodAlert + `]}`,
	"bad label name":     `{"version":1,"seq":2,"id":"msg_2","created":"1970-01-01T00:00:00Z","alerts":[{"labels":{"":"x"}}]}`,
	"bad time":           `{"version":1,"seq":2,"id":"msg_2","created":"yesterday","alerts":[` + goodAlert + `]}`,
}

// damagedGroupsFiles are what can be found in place of groups.json,
// none of it readable.
var damagedGroupsFiles = map[string]string{
	"truncated":         goodGroups[:len(goodGroups)/2],
	"random bytes":      "\x00\x01\x02\xfe\xff",
	"empty":             "",
	"array":             `[` + goodGroups + `]`,
	"null":              `null`,
	"unknown version":   `{"version":2,"group_by":["alertname"],"groups":[]}`,
	"no version":        `{"group_by":["alertname"],"groups":[]}`,
	"groups not a list": `{"version":1,"group_by":["alertname"],"groups":{"a":1}}`,
	"bad alert":         `{"version":1,"group_by":["alertname"],"groups":[{"labels":{},"alerts":[{"startsAt":7}]}]}`,
}

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// lostRecorder collects what OnStateLost is told.
type lostRecorder struct {
	mu   sync.Mutex
	errs []error
}

func (r *lostRecorder) record(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *lostRecorder) all() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// startOn starts a Dispatcher on dir, with GroupBy alertname as the good
// files have it, and lets it load.
func startOn(t *testing.T, dir string) (*harness, *notifytest.LogBuffer, *lostRecorder) {
	t.Helper()
	return startOnWithin(t, dir, 5*time.Second)
}

// startOnWithin is startOn for a load that may take up to wait.
func startOnWithin(t *testing.T, dir string, wait time.Duration) (*harness, *notifytest.LogBuffer, *lostRecorder) {
	t.Helper()
	logs := &notifytest.LogBuffer{}
	lost := &lostRecorder{}
	h := newHarness(t, dispatch.Options{
		OutboxDir: dir, GroupBy: []string{"alertname"}, GroupWait: 10 * time.Second, GroupInterval: 5 * time.Minute,
		Logger: notifytest.NewLogger(logs), OnStateLost: lost.record,
	})
	notifytest.SyncWithin(t, h.d, wait)
	return h, logs, lost
}

// assertLost checks that the loss was logged at error level, counted and
// reported once.
func assertLost(t *testing.T, h *harness, logs *notifytest.LogBuffer, lost *lostRecorder, file string) {
	t.Helper()
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "moved aside") {
		t.Errorf("the damage is not logged as an error:\n%s", logs)
	}
	if got := h.metric("vllm_sentinel_outbox_corrupt_total", "notifier", "hooks", "file", file); got != 1 {
		t.Errorf("vllm_sentinel_outbox_corrupt_total{file=%q} = %v, want 1", file, got)
	}
	errs := lost.all()
	if len(errs) != 1 || !errors.Is(errs[0], dispatch.ErrStateLost) {
		t.Errorf("OnStateLost told %v, want one error wrapping ErrStateLost", errs)
	}
	if err := h.d.StateLost(); !errors.Is(err, dispatch.ErrStateLost) {
		t.Errorf("StateLost() = %v, want ErrStateLost", err)
	}
}

// movedAside returns the files moved aside under dir.
func movedAside(t *testing.T, dir string) []string {
	t.Helper()
	a, _ := filepath.Glob(filepath.Join(dir, "*.corrupt-*"))
	b, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.corrupt-*"))
	return append(a, b...)
}

// A damaged notification is moved aside and counted, the Dispatcher starts
// and delivers the good one, and says that state was lost.
func TestDamagedOutboxFile(t *testing.T) {
	t.Parallel()
	for name, content := range damagedOutboxFiles {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"outbox/00000000000000000001.json": goodOutbox, damagedNotes: content, "groups.json": goodGroups})
			h, logs, lost := startOn(t, dir)
			if calls := h.n.all(); len(calls) != 1 || calls[0].meta.ID != "msg_ok" {
				t.Fatalf("calls %v, want msg_ok only", calls)
			}
			if aside := movedAside(t, dir); len(aside) != 1 || !strings.HasPrefix(aside[0], filepath.Join(dir, damagedNotes)+".corrupt-") {
				t.Errorf("moved aside %v, want %s only", aside, damagedNotes)
			}
			assertLost(t, h, logs, lost, "outbox")
			if got := h.metric("vllm_sentinel_notifications_dropped_total", "notifier", "hooks", "reason", "corrupt"); got < 1 {
				t.Errorf("dropped corrupt = %v, want at least 1", got)
			}
		})
	}
}

// A notification whose alerts include nulls keeps the others: the file is
// moved aside and written again without the nulls, and the rest is
// delivered.
func TestOutboxFileWithNullAlertsKeepsTheRest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		damagedNotes: `{"version":1,"seq":2,"id":"msg_2","created":"1970-01-01T00:00:00Z","alerts":[null,` + goodAlert + `,null,` + otherAlert + `]}`,
	})
	h, logs, lost := startOn(t, dir)
	calls := h.n.all()
	if len(calls) != 1 || calls[0].meta.ID != "msg_2" || !calls[0].states["a"] || !calls[0].states["b"] || len(calls[0].states) != 2 {
		t.Fatalf("calls %v, want msg_2 with a and b", calls)
	}
	if aside := movedAside(t, dir); len(aside) != 1 {
		t.Errorf("moved aside %v, want the damaged file", aside)
	}
	assertLost(t, h, logs, lost, "outbox")
	if got := h.metric("vllm_sentinel_notifications_dropped_total", "notifier", "hooks", "reason", "corrupt"); got != 0 {
		t.Errorf("dropped corrupt = %v, want 0: no alert was lost", got)
	}
}

// The repaired notification is on disk again until it is delivered, so a
// restart before that still has it.
func TestRepairedOutboxFileSurvivesARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		damagedNotes: `{"version":1,"seq":2,"id":"msg_2","created":"1970-01-01T00:00:00Z","alerts":[null,` + goodAlert + `]}`,
	})
	logs := &notifytest.LogBuffer{}
	h := newHarness(t, dispatch.Options{OutboxDir: dir, Backoff: time.Hour, MaxBackoff: time.Hour, Logger: notifytest.NewLogger(logs)})
	h.n.setRespond(func(int) (bool, error) { return true, errors.New("down") })
	h.sync()
	h.restart()
	h.n.setRespond(nil)
	h.sync()
	calls := h.n.all()
	if len(calls) != 2 || calls[1].meta.ID != "msg_2" || !calls[1].ok {
		t.Fatalf("calls %v, want msg_2 retried and delivered after the restart", calls)
	}
	if err := h.d.StateLost(); err != nil {
		t.Errorf("second start: StateLost() = %v, want nil: the repaired file is whole", err)
	}
}

// A damaged groups file is moved aside; the outbox is still delivered.
func TestDamagedGroupsFile(t *testing.T) {
	t.Parallel()
	for name, content := range damagedGroupsFiles {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"outbox/00000000000000000001.json": goodOutbox, "groups.json": content})
			h, logs, lost := startOn(t, dir)
			if calls := h.n.all(); len(calls) != 1 || calls[0].meta.ID != "msg_ok" {
				t.Fatalf("calls %v, want msg_ok only", calls)
			}
			if aside := movedAside(t, dir); len(aside) != 1 || !strings.HasPrefix(aside[0], filepath.Join(dir, "groups.json.corrupt-")) {
				t.Errorf("moved aside %v, want groups.json only", aside)
			}
			assertLost(t, h, logs, lost, "groups")
		})
	}
}

// A groups file with null entries or an unreadable record of what was sent
// keeps what can be read: it is moved aside and saved again without the
// damage, and the groups it kept still deduplicate.
func TestGroupsFileKeepsWhatIsReadable(t *testing.T) {
	t.Parallel()
	for name, groups := range map[string]string{
		"null group":  `[null,` + goodGroup + `,null]`,
		"null alerts": `[` + strings.Replace(goodGroup, `"alerts":[`, `"alerts":[null,`, 1) + `]`,
		"bad fingerprint of another group": `[` + goodGroup + `,{"labels":{"alertname":"Other"},"alerts":[` +
			strings.Replace(otherAlert, "SLOBurnRate", "Other", 1) + `],"next_flush":"1970-01-01T00:05:00Z","flushed":true,"last_notified":{"firing":["not hex"],"resolved":[],"at":"1970-01-01T00:00:00Z"}}]`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"groups.json": `{"version":1,"group_by":["alertname"],"groups":` + groups + `}`})
			h, logs, lost := startOn(t, dir)
			assertLost(t, h, logs, lost, "groups")
			if aside := movedAside(t, dir); len(aside) != 1 {
				t.Errorf("moved aside %v, want groups.json", aside)
			}
			b, err := os.ReadFile(filepath.Join(dir, "groups.json"))
			if err != nil {
				t.Fatalf("the readable groups were not saved again: %v", err)
			}
			var saved struct {
				Groups []*struct {
					Labels map[string]string  `json:"labels"`
					Alerts []*json.RawMessage `json:"alerts"`
				} `json:"groups"`
			}
			if err := json.Unmarshal(b, &saved); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, g := range saved.Groups {
				if g == nil || slices.Contains(g.Alerts, nil) {
					t.Errorf("saved groups still hold a null: %s", b)
				}
				found = found || g != nil && g.Labels["alertname"] == "SLOBurnRate"
			}
			if !found {
				t.Errorf("saved groups %s lost the readable group", b)
			}
			// The kept group was notified of a at t0: resending a is no news.
			h.send(firing("a", t0, t0))
			h.advance(10*time.Minute, time.Minute)
			for _, c := range h.n.all() {
				if _, ok := c.states["a"]; ok {
					t.Errorf("a notified again after the restart: %v", c)
				}
			}
		})
	}
}

// Damage of the directory's shape: an outbox that is a file, a groups file
// that is a directory. The Dispatcher is built, starts and works.
func TestDamagedDirectoryShape(t *testing.T) {
	t.Parallel()
	t.Run("outbox is a file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"outbox": "not a directory"})
		h, logs, lost := startOn(t, dir)
		assertLost(t, h, logs, lost, "outbox")
		h.send(firing("a", t0, t0))
		h.advance(10*time.Second, 10*time.Second)
		if calls := h.n.all(); len(calls) != 1 {
			t.Fatalf("calls %v, want one notification", calls)
		}
		h.n.setRespond(func(int) (bool, error) { return true, errors.New("down") })
		// A group of its own, so that it flushes after group_wait.
		b := firing("b", t0, h.clock.Now())
		b.Labels["alertname"] = "Other"
		h.send(b)
		h.advance(10*time.Second, 10*time.Second)
		if files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.json")); len(files) != 1 {
			t.Errorf("outbox files %v, want the pending notification on disk", files)
		}
	})
	t.Run("groups file is a directory", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "groups.json", "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		h, logs, lost := startOn(t, dir)
		assertLost(t, h, logs, lost, "groups")
		h.send(firing("a", t0, t0))
		h.advance(10*time.Second, 10*time.Second)
		if _, err := os.Stat(filepath.Join(dir, "groups.json")); err != nil {
			t.Errorf("groups not saved: %v", err)
		}
	})
}

// Times from a clock that ran ahead do not park a group: it flushes within
// group_interval of the start.
func TestGroupFromTheFutureFlushes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	future := strings.NewReplacer(`"next_flush":"1970-01-01T00:05:00Z"`, `"next_flush":"9999-01-01T00:00:00Z"`,
		`"at":"1970-01-01T00:00:00Z"`, `"at":"9999-01-01T00:00:00Z"`).Replace(goodGroup)
	future = strings.Replace(future, `"firing":["`+goodAlertFP+`"]`, `"firing":[]`, 1)
	future = strings.Replace(future, `"endsAt":"1970-01-01T00:04:00Z"`, `"endsAt":"1970-01-01T01:00:00Z"`, 1)
	writeFiles(t, dir, map[string]string{"groups.json": `{"version":1,"group_by":["alertname"],"groups":[` + future + `]}`})
	h, _, lost := startOn(t, dir)
	h.advance(5*time.Minute, time.Minute)
	if calls := h.n.all(); len(calls) != 1 || !calls[0].states["a"] {
		t.Fatalf("calls %v, want a notified within group_interval", calls)
	}
	if errs := lost.all(); len(errs) != 0 {
		t.Errorf("OnStateLost told %v: nothing was damaged", errs)
	}
}

// A start on a sound directory loses nothing and says so.
func TestNoStateLost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"outbox/00000000000000000001.json": goodOutbox, "groups.json": goodGroups})
	h, logs, lost := startOn(t, dir)
	if errs := lost.all(); len(errs) != 0 || h.d.StateLost() != nil {
		t.Errorf("OnStateLost told %v, StateLost() = %v; want nothing", errs, h.d.StateLost())
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs)
	}
	if aside := movedAside(t, dir); len(aside) != 0 {
		t.Errorf("moved aside %v", aside)
	}
}

// The last sequence number is refused: the next one would wrap around and
// overwrite older notifications on disk.
func TestLastSequenceNumberRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	last := "18446744073709551615"
	writeFiles(t, dir, map[string]string{
		"outbox/00000000000000000001.json": goodOutbox,
		"outbox/" + last + ".json":         strings.Replace(strings.Replace(goodOutbox, `"seq":1`, `"seq":`+last, 1), "msg_ok", "msg_last", 1),
	})
	h, logs, lost := startOn(t, dir)
	if calls := h.n.all(); len(calls) != 1 || calls[0].meta.ID != "msg_ok" {
		t.Fatalf("calls %v, want msg_ok only", calls)
	}
	assertLost(t, h, logs, lost, "outbox")
}
