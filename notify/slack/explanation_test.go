package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/notify/slack"
)

// A firing alert with a diagnosis gets a section under it saying why, with
// its example requests linked; one whose tracing backend failed says so;
// a resolved one does not repeat it. The fake checks every block against
// Slack's limits.
func TestWhySection(t *testing.T) {
	t.Parallel()
	f := newFakeSlack(t, nil)
	n := newNotifier(t, slack.Options{WebhookURL: f.URL(), Now: func() time.Time { return t0 }})
	a, b, r := burning("a", t0), burning("b", t0), burning("c", t0)
	a.Annotations["cause"], a.Annotations["cause_detail"] = "queueing", "queue time 80 ms → 6.4 s, 91 % of the TTFT rise; prefill flat at 30 ms"
	a.Annotations["example_traces"] = "4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7"
	a.Annotations["example_trace_urls"] = "http://jaeger.example:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736 http://jaeger.example:16686/trace/00f067aa0ba902b7"
	b.Annotations["cause"], b.Annotations["cause_detail"], b.Annotations["traces"] = "kv_pressure", "preemptions per request 0 → 0.08", "unavailable"
	r.Annotations["cause"] = "queueing"
	r.EndsAt = t0.Add(-time.Minute)
	if _, err := n.Notify(context.Background(), a, b, r); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, bl := range f.all()[0].msg.Attachments[0].Blocks {
		if bl.Text != nil {
			texts = append(texts, bl.Text.Text)
		}
	}
	all := strings.Join(texts, "\n---\n")
	for _, want := range []string{
		"*Why:* `queueing` queue time 80 ms → 6.4 s, 91 % of the TTFT rise",
		"*Slow requests:* <http://jaeger.example:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736|4bf92f3577b3> · <http://jaeger.example:16686/trace/00f067aa0ba902b7|00f067aa0ba9>",
		"*Why:* `kv_pressure` preemptions per request 0 → 0.08",
		"*Slow requests:* traces unavailable",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("message lacks %q:\n%s", want, all)
		}
	}
	if n := strings.Count(all, "*Why:*"); n != 2 {
		t.Errorf("%d why sections, want 2 (none for the resolved alert):\n%s", n, all)
	}
}
