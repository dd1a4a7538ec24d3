// Package logging builds the daemon's and the CLI's slog handlers: tint for
// people on a terminal, JSON for machines, durations each can read, and
// repeated failures logged once with a count instead of every cycle.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lmittmann/tint"
	"github.com/prometheus/common/model"
)

// Formats of New.
const (
	FormatTint = "tint"
	FormatText = "text"
	FormatJSON = "json"
)

// RepeatWindow is how long a repeated warning or error is held back after
// it was logged; the next one after the window says how many were held.
const RepeatWindow = time.Minute

// New returns a logger writing format at level to w.
func New(w io.Writer, format string, level slog.Level, now func() time.Time) (*slog.Logger, error) {
	var h slog.Handler
	switch format {
	case FormatTint:
		h = tint.NewTextHandler(w, &tint.Options{Level: level, TimeFormat: time.TimeOnly, ReplaceAttr: humanDurations})
	case FormatText:
		h = slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: humanDurations})
	case FormatJSON:
		h = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: secondsDurations})
	default:
		return nil, fmt.Errorf("unknown log format %q", format)
	}
	if now == nil {
		now = time.Now
	}
	return slog.New(newRepeats(h, RepeatWindow, now)), nil
}

// humanDurations writes durations as Prometheus writes them: 1m30s, 28d.
func humanDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		d := a.Value.Duration()
		if d > 0 && d%time.Millisecond == 0 {
			return slog.String(a.Key, model.Duration(d).String())
		}
		return slog.String(a.Key, d.String())
	}
	return a
}

// secondsDurations writes durations as seconds, the unit log pipelines and
// Prometheus itself use, rather than slog's nanoseconds.
func secondsDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	}
	return a
}

// repeats holds back a warning or error whose message was already logged
// within window: with Prometheus down, every cycle fails the same way, and
// a line per SLO per cycle would bury everything else. Info and debug pass.
type repeats struct {
	slog.Handler
	// scope tells apart loggers narrowed with With (one per notifier, per
	// component): each repeats on its own.
	scope  string
	window time.Duration
	now    func() time.Time
	state  *repeatState
}

type repeatState struct {
	mu   sync.Mutex
	seen map[string]*repeat
}

type repeat struct {
	logged time.Time
	held   int
}

func newRepeats(h slog.Handler, window time.Duration, now func() time.Time) *repeats {
	return &repeats{Handler: h, window: window, now: now, state: &repeatState{seen: map[string]*repeat{}}}
}

func (r *repeats) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level < slog.LevelWarn {
		return r.Handler.Handle(ctx, rec)
	}
	key := r.scope + "\x00" + rec.Level.String() + "\x00" + rec.Message + "\x00" + subject(rec)
	now := r.now()
	r.state.mu.Lock()
	rp := r.state.seen[key]
	if rp != nil && now.Sub(rp.logged) < r.window {
		rp.held++
		r.state.mu.Unlock()
		return nil
	}
	held := 0
	if rp != nil {
		held = rp.held
	}
	r.state.seen[key] = &repeat{logged: now}
	r.state.mu.Unlock()
	if held > 0 {
		rec = rec.Clone()
		rec.AddAttrs(slog.Int("repeated", held), slog.Duration("repeated_within", r.window))
	}
	return r.Handler.Handle(ctx, rec)
}

// subject is what a record is about: its attributes but for times, which
// differ at every cycle (an evaluation's time). Two SLOs failing, or a
// reload refused for another reason, are not repeats of each other.
func subject(rec slog.Record) string {
	var b strings.Builder
	rec.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() != slog.KindTime {
			b.WriteString(a.String())
			b.WriteByte(' ')
		}
		return true
	})
	return b.String()
}

func (r *repeats) WithAttrs(as []slog.Attr) slog.Handler {
	scope := r.scope
	for _, a := range as {
		scope += " " + a.String()
	}
	return &repeats{Handler: r.Handler.WithAttrs(as), scope: scope, window: r.window, now: r.now, state: r.state}
}

func (r *repeats) WithGroup(name string) slog.Handler {
	return &repeats{Handler: r.Handler.WithGroup(name), scope: r.scope + " " + name + ".", window: r.window, now: r.now, state: r.state}
}
