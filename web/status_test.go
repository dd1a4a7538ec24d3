package web

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

type fakeSource struct {
	hist   []*evaluator.Report
	alerts []*evaluator.Alert
}

func (f fakeSource) Last() *evaluator.Report      { return f.hist[len(f.hist)-1] }
func (f fakeSource) History() []*evaluator.Report { return f.hist }
func (f fakeSource) Alerts() []*evaluator.Alert   { return f.alerts }
func (f fakeSource) Ready() bool                  { return true }

func ptr(v float64) *float64 { return &v }

func TestStatusPageShowsSLOsIndicatorsAndAlerts(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var hist []*evaluator.Report
	for i := 0; i < 10; i++ {
		burn := float64(i * 2)
		hist = append(hist, &evaluator.Report{
			Time: t0.Add(time.Duration(i) * 30 * time.Second),
			SLOs: []evaluator.SLOResult{{
				SLO: "ttft", Objective: 99, Labels: map[string]string{"model_name": "llama<script>"}, State: evaluator.StateBurning,
				Windows: []evaluator.WindowResult{
					{Window: rules.Duration(5 * time.Minute), BurnRate: ptr(burn * 2), ErrorRatio: ptr(burn / 50)},
					{Window: rules.Duration(time.Hour), BurnRate: ptr(burn), ErrorRatio: ptr(burn / 100)},
				},
				Firing:          []evaluator.FiringPair{{LongWindow: rules.Duration(time.Hour), ShortWindow: rules.Duration(5 * time.Minute), Severity: "critical", Factor: 13.44}},
				BudgetRemaining: ptr(0.42),
			}},
			Indicators: []evaluator.IndicatorStatus{{IndicatorResult: evaluator.IndicatorResult{Indicator: "queue-growth", Labels: map[string]string{"model_name": "llama"}, Value: 0.7, Threshold: 0.05}, State: "firing"}},
		})
	}
	src := fakeSource{hist: hist, alerts: []*evaluator.Alert{{
		Labels: model.LabelSet{"alertname": "SLOBurnRate", "slo": "ttft"}, State: evaluator.StateFiring, FiredAt: t0,
		Annotations: model.LabelSet{"summary": "SLO ttft is burning"},
	}}}
	p, err := NewPage()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.Render(&b, src, "1.0"); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"ttft", "42.0%", "1h/5m critical", "<polyline", "queue-growth", "SLO ttft is burning", "5m&nbsp;36.00", "1h&nbsp;18.00"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "llama<script>") {
		t.Error("labels are not escaped")
	}
}
