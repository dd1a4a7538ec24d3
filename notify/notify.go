package notify

import (
	"context"
	"time"

	"github.com/prometheus/common/model"
)

// Alert is what every notifier delivers: Prometheus's own alert model
// (labels, annotations, startsAt, endsAt, generatorURL). An alert whose
// EndsAt is not after the time of sending is resolved.
type Alert = model.Alert

// Notifier delivers a batch of alerts to one destination. retry says
// whether the same batch may succeed later (a 5xx, a timeout), as opposed to
// a permanent refusal.
type Notifier interface {
	Notify(ctx context.Context, alerts ...*Alert) (retry bool, err error)
}

// Resolved reports whether a is resolved at t.
func Resolved(a *Alert, t time.Time) bool {
	return !a.EndsAt.IsZero() && !a.EndsAt.After(t)
}
