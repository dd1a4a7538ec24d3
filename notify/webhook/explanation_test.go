package webhook_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/webhook"
)

// The payload carries each alert's diagnosis and example requests as
// fields, beside the annotations they come from; an alert without one has
// no explanation field at all.
func TestPayloadExplains(t *testing.T) {
	t.Parallel()
	c := notifytest.NewClock(t0)
	f := newFakeHook(t, c, secret)
	n := newNotifier(t, webhook.Options{URL: f.URL(), SigningKey: secret, Now: c.Now})
	a := alert("llama", "ttft", t0.Add(-time.Hour), t0.Add(4*time.Minute))
	a.Annotations["cause"], a.Annotations["cause_detail"] = "queueing", "queue time 80 ms → 6.4 s"
	a.Annotations["example_traces"] = "4bf92f3577b34da6 00f067aa0ba902b7"
	a.Annotations["example_trace_urls"] = "http://jaeger.example:16686/trace/4bf92f3577b34da6 http://jaeger.example:16686/trace/00f067aa0ba902b7"
	b := alert("qwen", "ttft", t0.Add(-time.Hour), t0.Add(4*time.Minute))
	b.Annotations["cause"], b.Annotations["traces"] = "kv_pressure", "unavailable"
	plain := alert("mistral", "ttft", t0.Add(-time.Hour), t0.Add(4*time.Minute))
	if _, err := n.Notify(context.Background(), a, b, plain); err != nil {
		t.Fatal(err)
	}
	r := f.all()[0]
	var m webhook.Message
	if err := json.Unmarshal(r.raw, &m); err != nil {
		t.Fatal(err)
	}
	byModel := map[string]webhook.Alert{}
	for _, x := range m.Alerts {
		byModel[x.Labels["model_name"]] = x
	}
	e := byModel["llama"].Explanation
	if e == nil || e.Cause != "queueing" || e.Detail != "queue time 80 ms → 6.4 s" || len(e.Traces) != 2 ||
		e.Traces[1].TraceID != "00f067aa0ba902b7" || e.Traces[1].URL != "http://jaeger.example:16686/trace/00f067aa0ba902b7" {
		t.Errorf("llama explanation %+v", e)
	}
	if e := byModel["qwen"].Explanation; e == nil || e.Cause != "kv_pressure" || !e.TracesUnavailable || len(e.Traces) != 0 {
		t.Errorf("qwen explanation %+v", e)
	}
	if byModel["mistral"].Explanation != nil || strings.Count(string(r.raw), `"explanation"`) != 2 {
		t.Errorf("an alert without a diagnosis has an explanation:\n%s", r.raw)
	}
}
