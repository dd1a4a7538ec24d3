//go:build unix

package dispatch_test

import (
	"path/filepath"
	"syscall"
	"testing"
)

// A FIFO in the outbox would block a read for ever: it is moved aside
// unread, and the Dispatcher starts.
func TestFIFOInTheOutbox(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"outbox/00000000000000000001.json": goodOutbox})
	if err := syscall.Mkfifo(filepath.Join(dir, damagedNotes), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	h, logs, lost := startOn(t, dir)
	if calls := h.n.all(); len(calls) != 1 || calls[0].meta.ID != "msg_ok" {
		t.Fatalf("calls %v, want msg_ok only", calls)
	}
	assertLost(t, h, logs, lost, "outbox")
}
