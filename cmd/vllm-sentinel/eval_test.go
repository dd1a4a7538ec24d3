package main

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// eval --output json over a surge in a real Prometheus: SLO entries with
// their windows, firing pairs and budget; indicator entries with labels,
// value and a state that accounts for "for" as the live loop would.
func TestEvalJSONOverSurge(t *testing.T) {
	start := simtest.Start
	incident := start.Add(3 * time.Hour)
	prom := simtest.Prometheus(t, sim.Config{Scenario: sim.ScenarioSurge, Seed: 1, IncidentAt: 3 * time.Hour}, start, incident.Add(30*time.Minute))
	cfgFile := exampleConfigFile(t, prom.URL)
	at := strconv.FormatInt(incident.Add(12*time.Minute).Unix(), 10)
	code, out, errs := runCLI(t, "eval", "--config", cfgFile, "--at", at, "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		SLOs []struct {
			SLO     string            `json:"slo"`
			Labels  map[string]string `json:"labels"`
			Windows []struct {
				Window     string   `json:"window"`
				ErrorRatio *float64 `json:"error_ratio"`
				BurnRate   *float64 `json:"burn_rate"`
				Events     float64  `json:"events"`
			} `json:"windows"`
			Firing []struct {
				LongWindow  string `json:"long_window"`
				ShortWindow string `json:"short_window"`
				Severity    string `json:"severity"`
			} `json:"firing"`
			BudgetRemaining *float64 `json:"budget_remaining"`
			Exhaustion      *string  `json:"exhaustion"`
			State           string   `json:"state"`
		} `json:"slos"`
		Indicators []struct {
			Labels map[string]string `json:"labels"`
			Value  float64           `json:"value"`
			State  string            `json:"state"`
		} `json:"indicators"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var ttft bool
	for _, r := range res.SLOs {
		if r.SLO != "ttft" {
			continue
		}
		ttft = true
		if r.Labels["model_name"] != "llama-3.1-8b" || r.State != "burning" || len(r.Windows) < 7 || r.BudgetRemaining == nil || r.Exhaustion == nil {
			t.Errorf("ttft: %+v", r)
		}
		paged := false
		for _, f := range r.Firing {
			paged = paged || f.LongWindow == "1h" && f.ShortWindow == "5m" && f.Severity == "critical"
		}
		if !paged {
			t.Errorf("ttft does not page 12 minutes into the surge: %+v", r.Firing)
		}
	}
	if !ttft {
		t.Fatalf("no ttft result: %s", out)
	}
	states := map[string]string{}
	for _, in := range res.Indicators {
		if in.Labels["model_name"] == "" || in.Labels["instance"] == "" {
			t.Errorf("indicator without its group labels: %+v", in)
		}
		states[in.Labels["indicator"]] = in.State
	}
	if states["queue-growth"] != "firing" || states["ttft-p99"] != "firing" || states["kv-cache"] != "inactive" {
		t.Errorf("indicator states %v: want queue-growth and ttft-p99 firing, kv-cache inactive", states)
	}
}
