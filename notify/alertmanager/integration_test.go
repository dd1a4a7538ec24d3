package alertmanager

import (
	"maps"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

// TestRealAlertmanager runs the alert lifecycle against a real Alertmanager:
// fire, resolve, and delivery across an Alertmanager restart.
func TestRealAlertmanager(t *testing.T) {
	t.Parallel()
	am := promtest.StartAlertmanager(t)
	reg := prometheus.NewPedanticRegistry()
	s := mustNew(t, Options{
		Name:       "am",
		URLs:       []string{am.URL},
		Timeout:    2 * time.Second,
		Backoff:    50 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
		Registerer: reg,
	})
	notifytest.Run(t, s.Run)

	// Alertmanager works with wall-clock time, so these alerts do too; the
	// API keeps milliseconds.
	now := time.Now().UTC().Truncate(time.Millisecond)
	firing := &notify.Alert{
		Labels: model.LabelSet{
			"alertname": "SLOBurnRate", "slo": "ttft", "severity": "critical", "slo_tier": "page",
		},
		Annotations:  model.LabelSet{"summary": "TTFT SLO burning"},
		StartsAt:     now.Add(-5 * time.Minute),
		EndsAt:       now.Add(4 * time.Minute),
		GeneratorURL: "http://sentinel.example:9105/slo/ttft",
	}
	s.Send(firing)
	flush(t, s)

	got := am.Alerts(t)
	if len(got) != 1 {
		t.Fatalf("Alertmanager holds %d alerts, want 1: %v", len(got), got)
	}
	a := got[0]
	if want := toLabelSet(firing.Labels); !maps.Equal(a.Labels, want) {
		t.Errorf("labels = %v, want %v", a.Labels, want)
	}
	if a.StartsAt == nil || !time.Time(*a.StartsAt).Equal(firing.StartsAt) {
		t.Errorf("startsAt = %v, want %s", a.StartsAt, firing.StartsAt)
	}
	if a.Status == nil || a.Status.State == nil || *a.Status.State != models.AlertStatusStateActive {
		t.Errorf("status = %+v, want active", a.Status)
	}
	if string(a.GeneratorURL) != firing.GeneratorURL {
		t.Errorf("generatorURL = %q, want %q", a.GeneratorURL, firing.GeneratorURL)
	}

	// Resolve it the way the evaluator does: same labels, endsAt = the
	// resolve time, already past.
	resolved := *firing
	resolved.EndsAt = time.Now().Add(-time.Second)
	s.Send(&resolved)
	flush(t, s)
	if got := am.Alerts(t); len(got) != 0 {
		t.Errorf("after resolve Alertmanager still lists %v", got)
	}

	// Alertmanager goes away; the alert waits, retried with backoff, and is
	// delivered once it is back.
	am.Stop()
	outage := &notify.Alert{
		Labels:   model.LabelSet{"alertname": "SentinelWatchdog", "severity": "none"},
		StartsAt: time.Now().UTC().Truncate(time.Millisecond),
		EndsAt:   time.Now().Add(4 * time.Minute),
	}
	s.Send(outage)
	failures := func() float64 {
		return notifytest.MetricValue(t, reg, "vllm_sentinel_notification_requests_total",
			"notifier", "am", "url", am.URL, "result", "failure")
	}
	eventually(t, "a failed attempt while Alertmanager is down", func() bool { return failures() >= 2 })
	am.Start(t)
	flush(t, s)

	got = am.Alerts(t)
	if len(got) != 1 || !maps.Equal(got[0].Labels, toLabelSet(outage.Labels)) {
		t.Fatalf("after restart Alertmanager holds %v, want only %v", got, outage.Labels)
	}
	if got := notifytest.MetricValue(t, reg, "vllm_sentinel_notifications_dropped_total",
		"notifier", "am", "url", am.URL, "reason", "permanent_error"); got != 0 {
		t.Errorf("dropped permanent_error = %v, want 0", got)
	}
}

func toLabelSet(ls model.LabelSet) models.LabelSet {
	out := models.LabelSet{}
	for k, v := range ls {
		out[string(k)] = string(v)
	}
	return out
}
