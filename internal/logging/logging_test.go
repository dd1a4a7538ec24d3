package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDurationsReadable(t *testing.T) {
	var b bytes.Buffer
	l, err := New(&b, FormatJSON, slog.LevelInfo, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("cycle", "took", 90*time.Second)
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["took"] != 90.0 {
		t.Errorf("JSON duration %v (%T), want 90 seconds", rec["took"], rec["took"])
	}
	b.Reset()
	l, _ = New(&b, FormatText, slog.LevelInfo, nil)
	l.Info("cycle", "took", 90*time.Second, "window", 28*24*time.Hour, "fast", 1500*time.Microsecond)
	if s := b.String(); !strings.Contains(s, "took=1m30s") || !strings.Contains(s, "window=4w") || !strings.Contains(s, "fast=1.5ms") {
		t.Errorf("text durations: %s", s)
	}
}

// The same failure every cycle is one line a minute, then one line that
// says how many were held; other failures and other scopes are not held.
func TestRepeatedFailuresAreCounted(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(0, 0)
	l, _ := New(&b, FormatText, slog.LevelInfo, func() time.Time { return now })
	am := l.With("notifier", "am")
	for i := 0; i < 8; i++ {
		l.Error("SLO evaluation failed", "slo", "ttft", "err", errors.New("connection refused"))
		am.Error("SLO evaluation failed", "err", errors.New("other scope"))
		l.Info("cycle done")
		now = now.Add(5 * time.Second)
	}
	l.Error("SLO evaluation failed", "slo", "errors", "err", errors.New("connection refused"), "eval_time", now)
	l.Warn("metric name detection failed")
	now = now.Add(time.Minute)
	l.Error("SLO evaluation failed", "slo", "ttft", "err", errors.New("connection refused"))
	out := b.String()
	if n := strings.Count(out, `msg="SLO evaluation failed" slo=ttft`); n != 2 {
		t.Errorf("%d lines of the repeated failure, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "repeated=7 repeated_within=1m") {
		t.Errorf("no count of the held lines:\n%s", out)
	}
	if n := strings.Count(out, "notifier=am"); n != 1 {
		t.Errorf("the other scope logged %d times, want 1", n)
	}
	if n := strings.Count(out, "cycle done"); n != 8 {
		t.Errorf("info held back: %d", n)
	}
	if !strings.Contains(out, "metric name detection failed") {
		t.Error("another failure held back")
	}
	if !strings.Contains(out, "slo=errors") {
		t.Errorf("another SLO's failure held back as a repeat:\n%s", out)
	}
}
