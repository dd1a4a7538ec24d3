package notify

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFieldError(t *testing.T) {
	t.Parallel()
	cause := errors.New("bad")
	fe := &FieldError{Path: []any{"http_config", "tls_config", "ca", 2}, Err: cause}
	if got, want := fe.Error(), "http_config.tls_config.ca[2]: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(fe, cause) || !slices.Equal(fe.FieldPath(), fe.Path) {
		t.Error("FieldError hides its cause or its path")
	}
}

func TestGrouping(t *testing.T) {
	t.Parallel()
	var g Grouping
	if !g.SendsResolved() || len(g.GroupingKeysSet()) != 0 || len(g.ValidateGrouping()) != 0 {
		t.Errorf("zero Grouping: resolved %v, set %v, problems %v", g.SendsResolved(), g.GroupingKeysSet(), g.ValidateGrouping())
	}
	no := false
	g = Grouping{GroupBy: []string{}, RepeatInterval: 1, SendResolved: &no}
	if g.SendsResolved() {
		t.Error("send_resolved: false sends resolved")
	}
	if got := g.GroupingKeysSet(); !slices.Equal(got, []string{"group_by", "repeat_interval", "send_resolved"}) {
		t.Errorf("set %v", got)
	}
}

func TestBackoffResolve(t *testing.T) {
	t.Parallel()
	def := Backoff{Initial: time.Second, Max: time.Minute}
	for _, tc := range []struct {
		in, want Backoff
		err      string
	}{
		{Backoff{}, Backoff{time.Second, time.Minute, time.Minute}, ""},
		{Backoff{Initial: time.Hour}, Backoff{time.Hour, time.Hour, time.Hour}, ""},
		{Backoff{Max: 2 * time.Second, MaxRetryAfter: time.Hour}, Backoff{time.Second, 2 * time.Second, time.Hour}, ""},
		{Backoff{Initial: -1}, Backoff{}, "must not be negative"},
		{Backoff{Initial: time.Minute, Max: time.Second}, Backoff{}, "max backoff 1s is shorter than backoff 1m0s"},
	} {
		got, err := tc.in.Resolve(def)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Resolve(%+v) = %v, want an error with %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("Resolve(%+v) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(0, 0)
	now := func() time.Time { return t0 }
	a := &Alert{}
	in := []*Alert{nil, a, nil}
	alerts, meta := Prepare(context.Background(), in, now)
	if !slices.Equal(alerts, []*Alert{a}) || in[0] != nil {
		t.Errorf("alerts %v, caller's slice %v", alerts, in)
	}
	if !strings.HasPrefix(meta.ID, "msg_") || !meta.Created.Equal(t0) {
		t.Errorf("meta without a Dispatcher %+v", meta)
	}
	ctx := WithMeta(context.Background(), Meta{ID: "msg_1", Created: t0.Add(time.Hour), Attempt: 2})
	if _, meta := Prepare(ctx, in, now); meta.ID != "msg_1" || !meta.Created.Equal(t0.Add(time.Hour)) || meta.Attempt != 2 {
		t.Errorf("meta from a Dispatcher %+v", meta)
	}
}
