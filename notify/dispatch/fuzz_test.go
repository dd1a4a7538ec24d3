package dispatch_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
)

// FuzzLoad starts a Dispatcher on a directory that holds a good
// notification, a fuzzed one after it and fuzzed groups. Whatever the
// files hold, it starts without panicking, delivers the good notification
// first, moves aside what it cannot read and reports exactly then that
// state was lost, keeps working on what it loaded, and leaves a directory
// that the next start reads without loss.
func FuzzLoad(f *testing.F) {
	seq2 := strings.Replace(strings.Replace(goodOutbox, `"seq":1`, `"seq":2`, 1), "msg_ok", "msg_2", 1)
	for _, content := range damagedOutboxFiles {
		f.Add([]byte(content), []byte(goodGroups))
	}
	for _, content := range damagedGroupsFiles {
		f.Add([]byte(seq2), []byte(content))
	}
	for _, groups := range []string{
		goodGroups,
		`{"version":1,"group_by":["alertname"],"groups":[]}`,
		`{"version":1,"group_by":["alertname"],"groups":null}`,
		`{"version":1,"group_by":["model_name"],"groups":[` + goodGroup + `]}`,
		`{"version":1,"group_by":["alertname"],"groups":[null,` + goodGroup + `]}`,
		`{"version":1,"group_by":["alertname"],"groups":[` + strings.Replace(goodGroup, `"alerts":[`, `"alerts":[null,`, 1) + `]}`,
		`{"version":1,"group_by":["alertname"],"groups":[` + strings.Replace(goodGroup, goodAlertFP, "not hex", 1) + `]}`,
		`{"version":1,"group_by":["alertname"],"groups":[` + strings.Replace(goodGroup, `"1970-01-01T00:05:00Z"`, `"9999-12-31T23:59:59-23:59"`, 1) + `]}`,
		`{"version":1,"group_by":["alertname"],"groups":[{"labels":null,"alerts":null,"last_notified":null}]}`,
	} {
		f.Add([]byte(seq2), []byte(groups))
	}
	f.Add([]byte(`{"version":1,"seq":2,"id":"msg_2","created":"1970-01-01T00:00:00Z","alerts":[null,`+goodAlert+`]}`), []byte(goodGroups))
	f.Add([]byte(strings.Replace(seq2, `"1970-01-01T00:04:00Z"`, `"9999-12-31T23:59:59-23:59"`, 1)), []byte(goodGroups))
	f.Fuzz(func(t *testing.T, outbox, groups []byte) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"outbox/00000000000000000001.json": goodOutbox, damagedNotes: string(outbox), "groups.json": string(groups)})
		lost := &lostRecorder{}
		h := newHarness(t, dispatch.Options{
			OutboxDir: dir, GroupBy: []string{"alertname"}, GroupWait: 10 * time.Second, GroupInterval: time.Minute,
			Logger: slog.New(slog.DiscardHandler), OnStateLost: lost.record,
		})
		h.sync()
		if calls := h.n.all(); len(calls) == 0 || calls[0].meta.ID != "msg_ok" {
			t.Fatalf("calls %v, want msg_ok first", calls)
		}
		aside := movedAside(t, dir)
		errs, stateLost := lost.all(), h.d.StateLost()
		switch {
		case len(aside) > 0 && (len(errs) != 1 || !errors.Is(stateLost, dispatch.ErrStateLost)):
			t.Fatalf("moved aside %v, but OnStateLost told %v and StateLost() = %v", aside, errs, stateLost)
		case len(aside) == 0 && (len(errs) != 0 || stateLost != nil):
			t.Fatalf("nothing moved aside, but OnStateLost told %v and StateLost() = %v", errs, stateLost)
		}
		// What was loaded is worked on.
		h.send(firing("a", t0, h.clock.Now()), resolved("b", t0, h.clock.Now()))
		h.advance(time.Minute, time.Minute)
		h.restart()
		h.sync()
		if err := h.d.StateLost(); err != nil {
			t.Fatalf("the second start lost state too: %v", err)
		}
		if again := movedAside(t, dir); len(again) != len(aside) {
			t.Fatalf("the second start moved aside %v", again)
		}
	})
}
