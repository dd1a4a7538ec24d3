package notify_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/alertmanager"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/slack"
	"github.com/vllm-sentinel/vllm-sentinel/notify/webhook"
)

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, ...*notify.Alert) (bool, error) { return false, nil }

// The daemon registers every notifier on one registry. The families every
// kind of notifier registers (vllm_sentinel_notifications_total and
// friends) are shared, which only works while names, label names and help
// agree: this breaks if one notifier defines a family of its own. Building
// everything twice is a config reload.
func TestFamiliesSharedByAllNotifiers(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	for range 2 {
		if _, err := alertmanager.New(alertmanager.Options{Name: "am", URLs: []string{"http://localhost:9093"}, Registerer: reg}); err != nil {
			t.Fatal(err)
		}
		if _, err := slack.New(slack.Options{Name: "oncall", WebhookURL: "https://hooks.slack.com/services/T/B/X", Registerer: reg}); err != nil {
			t.Fatal(err)
		}
		if _, err := webhook.New(webhook.Options{Name: "hooks", URL: "https://hooks.example/alerts", Registerer: reg}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"oncall", "hooks"} {
			if _, err := dispatch.New(nopNotifier{}, dispatch.Options{Name: name, Registerer: reg}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"vllm_sentinel_notifications_total", []string{"notifier", "am", "url", "http://localhost:9093", "result", "success"}},
		{"vllm_sentinel_notifications_total", []string{"notifier", "oncall", "url", "https://hooks.slack.com", "result", "success"}},
		{"vllm_sentinel_notification_requests_total", []string{"notifier", "hooks", "url", "https://hooks.example", "result", "failure"}},
		{"vllm_sentinel_notification_latency_seconds", []string{"notifier", "am", "url", "http://localhost:9093"}},
		{"vllm_sentinel_notifications_dropped_total", []string{"notifier", "am", "reason", "queue_full"}},
		{"vllm_sentinel_notifications_dropped_total", []string{"notifier", "am", "reason", "permanent_error"}},
		{"vllm_sentinel_notifications_dropped_total", []string{"notifier", "oncall", "reason", "outbox_full"}},
		{"vllm_sentinel_outbox_length", []string{"notifier", "hooks"}},
	} {
		notifytest.MetricValue(t, reg, c.name, c.labels...) // fails the test when absent
	}
}
