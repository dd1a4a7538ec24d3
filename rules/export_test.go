package rules

import (
	"strings"
	"testing"
	"time"
)

// The exported alert is the daemon's burn alert: same labels, same summary
// shape, and an expression whose value is the long window's burn rate.
func TestExportedBurnAlertIsTheDaemonsAlert(t *testing.T) {
	p := NewPromQL()
	obj, _ := ParseObjective("99")
	spec := SLOSpec{Name: "errors", Objective: obj, Window: Duration(30 * 24 * time.Hour),
		SLI:      SLISpec{Ratio: &RatioSLI{Errors: `vllm:request_success_total{finished_reason="error"}`, Total: `vllm:request_success_total`}},
		Alerting: AlertingSpec{Labels: map[string]string{"team": "inference", "severity": "ignored"}, Annotations: map[string]string{"runbook_url": "https://runbooks.example/errors", "dashboard": "{{ .SLO }}"}}}
	s, err := Compile(p, spec, Defaults{GroupBy: []string{"model_name"}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.ExportRules([]*SLO{s}, nil, 30*time.Second, map[string]string{"cluster": "eu", "team": "other"})
	if err != nil {
		t.Fatal(err)
	}
	var page *Rule
	for i, r := range f.Groups[0].Rules {
		if r.Alert != "" && r.Labels["long_window"] == "1h" {
			page = &f.Groups[0].Rules[i]
		}
	}
	if page == nil {
		t.Fatal("no 1h/5m alert exported")
	}
	want := `vllm_sentinel:slo_error_ratio:rate1h{slo="errors"} / 0.01 > 14.4 and vllm_sentinel:slo_error_ratio:rate5m{slo="errors"} / 0.01 > 14.4 and vllm_sentinel:slo_events:rate1h{slo="errors"} >= 10`
	if page.Expr != want {
		t.Errorf("expr\n got  %s\n want %s", page.Expr, want)
	}
	if _, err := p.ParseExpr(page.Expr); err != nil {
		t.Errorf("does not re-parse: %v", err)
	}
	daemon := s.BurnAlertLabels(s.Windows[0])
	delete(daemon, "alertname")
	for k, v := range daemon {
		if page.Labels[k] != v {
			t.Errorf("label %s: exported %q, daemon %q", k, page.Labels[k], v)
		}
	}
	if page.Labels["severity"] != "critical" || page.Labels["team"] != "inference" || page.Labels["cluster"] != "eu" {
		t.Errorf("labels %v", page.Labels)
	}
	if got := page.Annotations["summary"]; got != s.BurnSummary(s.Windows[0], "", `{{ $value | printf "%.2f" }}`) || !strings.HasPrefix(got, "SLO errors is burning its error budget ") {
		t.Errorf("summary %q", got)
	}
	if page.Annotations["runbook_url"] != "https://runbooks.example/errors" || page.Annotations["dashboard"] != "" {
		t.Errorf("annotations %v", page.Annotations)
	}
}
