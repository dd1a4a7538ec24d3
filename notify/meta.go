package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"

	"github.com/prometheus/common/model"
)

// Meta describes the notification that a Notify call delivers. The
// Dispatcher puts it on the context of every attempt; notifiers read it with
// MetaFrom. It is pipeline metadata, not configuration: it lives here, not
// in dispatch, so that a notifier need not import the pipeline that drives
// it.
type Meta struct {
	// ID is unique per notification and the same on every retry, before and
	// after a restart: receivers may deduplicate on it (the webhook notifier
	// sends it as webhook-id).
	ID string
	// GroupKey names the aggregation group, Alertmanager style:
	// `{}:{alertname="SLOBurnRate", slo="ttft"}`.
	GroupKey    string
	GroupLabels model.LabelSet
	// Created is when the group was flushed. Whether an alert is firing or
	// resolved is judged at this time, so a notification retried for ten
	// minutes still says what it said when it was made.
	Created time.Time
	// Attempt counts delivery attempts, 1 for the first.
	Attempt int
}

type metaKey struct{}

// WithMeta returns ctx carrying m.
func WithMeta(ctx context.Context, m Meta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// MetaFrom returns the Meta on ctx, if any. A notifier called directly,
// without a Dispatcher, finds none and makes do: NewID for the ID, its own
// clock for Created.
func MetaFrom(ctx context.Context) (Meta, bool) {
	m, ok := ctx.Value(metaKey{}).(Meta)
	return m, ok
}

// NewID returns a random notification ID such as
// "msg_4f9c2b1e0d8a7c6b5a4f3e2d1c0b9a88".
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "msg_" + hex.EncodeToString(b[:])
}

// Prepare starts a Notify the way every notifier of one group of alerts
// (Slack, webhooks) does: it returns the alerts without the nil ones, in a
// new slice, and the Meta on ctx made whole for a call that did not come
// from a Dispatcher — a fresh ID, and now() as Created.
func Prepare(ctx context.Context, alerts []*Alert, now func() time.Time) ([]*Alert, Meta) {
	alerts = slices.DeleteFunc(slices.Clone(alerts), func(a *Alert) bool { return a == nil })
	meta, _ := MetaFrom(ctx)
	if meta.ID == "" {
		meta.ID = NewID()
	}
	if meta.Created.IsZero() {
		meta.Created = now()
	}
	return alerts, meta
}
