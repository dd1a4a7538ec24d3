package evaluator

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// errorsAbsentFake serves a ratio SLO whose total has traffic and whose
// errors selector matches nothing; the success counter's series carry
// reasonLabel with the values stop, length and abort.
func errorsAbsentFake(reasonLabel string) Querier {
	return QuerierFunc(func(_ context.Context, q string, _ time.Time) (model.Value, error) {
		switch {
		case strings.HasPrefix(q, "count by (finished_reason)"):
			if reasonLabel != "finished_reason" {
				return model.Vector{{Metric: model.Metric{}, Value: 3}}, nil
			}
			var vec model.Vector
			for _, v := range []string{"stop", "length", "abort"} {
				vec = append(vec, &model.Sample{Metric: model.Metric{"finished_reason": model.LabelValue(v)}, Value: 1})
			}
			return vec, nil
		case strings.HasPrefix(q, "topk(1,"):
			return model.Vector{{Metric: model.Metric{"__name__": "vllm:request_success_total", model.LabelName(reasonLabel): "stop", "model_name": "llama"}, Value: 7}}, nil
		case strings.HasPrefix(q, "count by (__name__)"):
			return model.Vector{{Metric: model.Metric{"__name__": "vllm:request_success_total"}, Value: 1}}, nil
		case strings.Contains(q, rules.PartLabel):
			return model.Vector{{Metric: model.Metric{"model_name": "llama", rules.PartLabel: rules.PartTotal}, Value: 1000}}, nil
		}
		return model.Vector{}, nil
	})
}

// An errors selector that matches no series while the total has traffic is
// not a perfect record: the SLO says errors_absent, why, and raises
// SentinelNoData naming its errors side.
func TestErrorsSelectorMatchingNothingIsNotOK(t *testing.T) {
	obj, _ := rules.ParseObjective("99.9")
	spec := rules.SLOSpec{Name: "errors", Objective: obj, Window: rules.Duration(28 * 24 * time.Hour),
		SLI: rules.SLISpec{Ratio: &rules.RatioSLI{Errors: `vllm:request_success_total{finished_reason="error"}`, Total: `vllm:request_success_total`}}}
	for _, tc := range []struct{ label, want string }{
		{"finished_reason", `no series with finished_reason="error"; seen: abort, length, stop`},
		{"finish_reason", `no series has the label finished_reason (its series have: finish_reason, model_name)`},
	} {
		t.Run(tc.label, func(t *testing.T) {
			sender := &recordingSender{}
			eng, err := NewEngine(New(errorsAbsentFake(tc.label), []*rules.SLO{compile(t, spec)}, nil, Options{}), sender, EngineOptions{Interval: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			var rep *Report
			for i := 0; i <= 5; i++ {
				rep = eng.Cycle(context.Background(), at(time.Duration(i)*time.Minute))
			}
			if len(rep.SLOs) != 1 || rep.SLOs[0].State != StateErrorsAbsent || !strings.Contains(rep.SLOs[0].Warning, tc.want) {
				t.Fatalf("result %+v, want errors_absent saying %q", rep.SLOs, tc.want)
			}
			nd := named(sender.take(), AlertNoData)
			if len(nd) == 0 || nd[0].Labels["side"] != "errors" || !strings.Contains(string(nd[0].Annotations["summary"]), tc.want) {
				t.Errorf("SentinelNoData: %v", nd)
			}
		})
	}
}

// A percentile over no requests is NaN: the indicator has no data, it is
// not "inactive".
func TestPercentileOfNothingIsNoData(t *testing.T) {
	th := rules.Seconds(2.5)
	in, err := rules.CompileIndicator(rules.NewPromQL(), rules.IndicatorSpec{Name: "p99", Kind: rules.KindLatencyPercentile, Metric: "time_to_first_token", Percentile: 99, Threshold: &th}, rules.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	q := QuerierFunc(func(_ context.Context, q string, _ time.Time) (model.Value, error) {
		if strings.HasPrefix(q, "count by (__name__)") {
			return model.Vector{{Metric: model.Metric{"__name__": "vllm:time_to_first_token_seconds_count"}, Value: 1}}, nil
		}
		if strings.Contains(q, " > 2.5") {
			return model.Vector{}, nil
		}
		return model.Vector{{Metric: model.Metric{"instance": "a"}, Value: model.SampleValue(math.NaN())}}, nil
	})
	eng, err := NewEngine(New(q, nil, []*rules.Indicator{in}, Options{}), nil, EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := eng.Cycle(context.Background(), at(0))
	if len(rep.Indicators) != 1 || rep.Indicators[0].State != StateNoData {
		t.Errorf("indicators %+v, want one with state no_data", rep.Indicators)
	}
}

// One dead vLLM server is one SentinelTargetDown naming it, not a
// SentinelNoData for every metric it took with it.
func TestDeadTargetIsOneAlert(t *testing.T) {
	q := QuerierFunc(func(_ context.Context, q string, _ time.Time) (model.Value, error) {
		if strings.HasPrefix(q, "up == 0") {
			return model.Vector{{Metric: model.Metric{"job": "vllm", "instance": "gpu-7:8000"}, Value: 0}}, nil
		}
		return model.Vector{}, nil // every vLLM metric is gone
	})
	var inds []*rules.Indicator
	for _, spec := range []rules.IndicatorSpec{{Name: "queue-growth", Kind: rules.KindQueueGrowth}, {Name: "kv", Kind: rules.KindKVCachePressure}, {Name: "stall", Kind: rules.KindQueueStall}} {
		in, err := rules.CompileIndicator(rules.NewPromQL(), spec, rules.Defaults{})
		if err != nil {
			t.Fatal(err)
		}
		inds = append(inds, in)
	}
	sender := &recordingSender{}
	eng, err := NewEngine(New(q, []*rules.SLO{compile(t, latencySpec(1, ""))}, inds, Options{}), sender, EngineOptions{Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= 6; i++ {
		eng.Cycle(context.Background(), at(time.Duration(i)*time.Minute))
	}
	sent := sender.take()
	if nd := named(sent, AlertNoData); len(nd) != 0 {
		t.Errorf("%d SentinelNoData alerts for metrics of a dead target: %v", len(nd), nd[0].Labels)
	}
	down := named(sent, AlertTargetDown)
	if len(down) == 0 || down[0].Labels["instance"] != "gpu-7:8000" || !strings.Contains(string(down[0].Annotations["summary"]), "gpu-7:8000") {
		t.Errorf("SentinelTargetDown: %v", down)
	}
}

// An indicator that lacks two metrics is one SentinelNoData naming both in
// its text, not a label holding "a,b".
func TestIndicatorNoDataIsOneAlertNamingItsMetrics(t *testing.T) {
	q := QuerierFunc(func(context.Context, string, time.Time) (model.Value, error) { return model.Vector{}, nil })
	in, err := rules.CompileIndicator(rules.NewPromQL(), rules.IndicatorSpec{Name: "stall", Kind: rules.KindQueueStall}, rules.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	sender := &recordingSender{}
	eng, err := NewEngine(New(q, nil, []*rules.Indicator{in}, Options{}), sender, EngineOptions{Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= 5; i++ {
		eng.Cycle(context.Background(), at(time.Duration(i)*time.Minute))
	}
	nd := named(sender.take(), AlertNoData)
	if len(nd) == 0 {
		t.Fatal("no SentinelNoData")
	}
	for _, a := range nd {
		if _, ok := a.Labels["metric"]; ok || a.Labels["indicator"] != "stall" {
			t.Errorf("labels %v", a.Labels)
		}
		if s := string(a.Annotations["summary"]); !strings.Contains(s, "vllm:num_requests_waiting and vllm:request_success_total are absent") {
			t.Errorf("summary %q", s)
		}
	}
}

// A misspelled metric on the errors side is named as such, not blamed on
// a label.
func TestErrorsSelectorWithAMisspelledMetric(t *testing.T) {
	obj, _ := rules.ParseObjective("99.9")
	spec := rules.SLOSpec{Name: "errors", Objective: obj, Window: rules.Duration(28 * 24 * time.Hour),
		SLI: rules.SLISpec{Ratio: &rules.RatioSLI{Errors: `vllm:request_sucess_total{finished_reason="error"}`, Total: `vllm:request_success_total`}}}
	q := QuerierFunc(func(_ context.Context, q string, _ time.Time) (model.Value, error) {
		if strings.Contains(q, rules.PartLabel) {
			return model.Vector{{Metric: model.Metric{"model_name": "llama", rules.PartLabel: rules.PartTotal}, Value: 1000}}, nil
		}
		return model.Vector{}, nil
	})
	res, _ := New(q, []*rules.SLO{compile(t, spec)}, nil, Options{}).Eval(context.Background(), at(0))
	if len(res.SLOs) != 1 || !strings.Contains(res.SLOs[0].Warning, "no series of vllm:request_sucess_total at all") {
		t.Errorf("result %+v", res.SLOs)
	}
}

// The servers of a burning SLO die mid-incident: its metrics are absent
// because of them, and its page stays firing rather than resolve.
func TestPageOutlivesTheServersThatDied(t *testing.T) {
	prom := newBurningFake()
	dead := false
	q := QuerierFunc(func(ctx context.Context, q string, ts time.Time) (model.Value, error) {
		switch {
		case strings.HasPrefix(q, "up == 0"):
			if dead {
				return model.Vector{{Metric: model.Metric{"job": "vllm", "instance": "gpu-1:8000"}, Value: 0}}, nil
			}
			return model.Vector{}, nil
		case dead:
			return model.Vector{}, nil // every vLLM series gone
		}
		return prom.Query(ctx, q, ts)
	})
	sender := &recordingSender{}
	eng, err := NewEngine(New(q, []*rules.SLO{compile(t, latencySpec(1, ""))}, nil, Options{}), sender, EngineOptions{Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	eng.Cycle(context.Background(), at(0))
	if len(named(sender.take(), AlertSLOBurnRate)) == 0 {
		t.Fatal("no page to begin with")
	}
	dead = true
	for i := 1; i <= 5; i++ {
		eng.Cycle(context.Background(), at(time.Duration(i)*time.Minute))
	}
	pages := 0
	for _, a := range eng.Alerts() {
		if a.Labels["alertname"] != AlertSLOBurnRate {
			continue
		}
		pages++
		if a.State != StateFiring {
			t.Errorf("page %s because its servers died: %v", a.State, a.Labels)
		}
	}
	if pages == 0 {
		t.Error("the pages are gone")
	}
}

// One target down while the others serve does not hide an SLO whose own
// metric is absent (a typo that has nothing to do with that target).
func TestOneTargetDownHidesNoOtherAbsence(t *testing.T) {
	q := QuerierFunc(func(_ context.Context, q string, _ time.Time) (model.Value, error) {
		switch {
		case strings.HasPrefix(q, "up == 0"):
			return model.Vector{{Metric: model.Metric{"job": "vllm", "instance": "gpu-7:8000"}, Value: 0}}, nil
		case strings.HasPrefix(q, "count by (__name__)"):
			return model.Vector{{Metric: model.Metric{"__name__": "vllm:num_requests_waiting"}, Value: 3}}, nil
		}
		return model.Vector{}, nil
	})
	sender := &recordingSender{}
	eng, err := NewEngine(New(q, []*rules.SLO{compile(t, latencySpec(1, ""))}, nil, Options{}), sender, EngineOptions{Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= 6; i++ {
		eng.Cycle(context.Background(), at(time.Duration(i)*time.Minute))
	}
	if nd := named(sender.take(), AlertNoData); len(nd) == 0 {
		t.Error("the SLO's absent metric was hidden by an unrelated dead target")
	}
}
