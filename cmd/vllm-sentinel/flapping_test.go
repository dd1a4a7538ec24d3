package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/internal/promtest"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/alertmanager"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
)

// pager is an Alertmanager webhook receiver that counts pages the way a
// paging service does: a group's notification that fires while its
// previous one had nothing firing opens an incident; the rest update it.
type pager struct {
	mu        sync.Mutex
	firing    map[string]bool // group key: something firing at its last notification
	incidents map[string]int  // by group key
	// starts counts, per alert, the notifications in which it fires after
	// a notification of its group in which it did not.
	starts map[string]int
	seen   map[string]map[string]bool // group key → alerts firing at its last notification
}

func newPager() *pager {
	return &pager{firing: map[string]bool{}, incidents: map[string]int{}, starts: map[string]int{}, seen: map[string]map[string]bool{}}
}

func (p *pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		GroupKey string `json:"groupKey"`
		Alerts   []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := map[string]bool{}
	for _, a := range msg.Alerts {
		if a.Status != "firing" {
			continue
		}
		id := a.Labels["slo"] + " " + a.Labels["long_window"] + "/" + a.Labels["short_window"]
		now[id] = true
		if !p.seen[msg.GroupKey][id] {
			p.starts[id]++
		}
	}
	if len(now) > 0 && !p.firing[msg.GroupKey] {
		p.incidents[msg.GroupKey]++
	}
	p.firing[msg.GroupKey] = len(now) > 0
	p.seen[msg.GroupKey] = now
}

// replayToAlertmanager evaluates the example config over [from, to] every
// 30s and posts each cycle's alerts to a real Alertmanager, pace of wall
// time per cycle, with their times moved onto the wall clock: Alertmanager
// judges endsAt against its own clock.
func replayToAlertmanager(t *testing.T, cfg *config.Config, amURL string, from, to time.Time, pace time.Duration) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	step := 30 * time.Second
	instant, ranges, err := newQueriers(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := offlineEngine(cfg, evaluator.NewRangeCache(instant, ranges, from, to, step, 0), &evaluator.EventOptions{Step: step, Ranges: ranges}, step, false, logger)
	if err != nil {
		t.Fatal(err)
	}
	am, err := alertmanager.New(alertmanager.Options{Name: "am", URLs: []string{amURL}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for ts := from; !ts.After(to); ts = ts.Add(step) {
		began := time.Now()
		rep := eng.Cycle(ctx, ts)
		var out []*model.Alert
		for _, a := range rep.Due {
			if a.Labels[model.AlertNameLabel] != evaluator.AlertSLOBurnRate {
				continue
			}
			c := *a
			c.StartsAt = began.Add(-ts.Sub(a.StartsAt) / step * pace)
			if a.EndsAt.After(ts) {
				c.EndsAt = began.Add(time.Minute) // re-sent well before then
			} else {
				c.EndsAt = began
			}
			out = append(out, &c)
		}
		if len(out) > 0 {
			if _, err := am.Notify(ctx, out...); err != nil {
				t.Fatalf("posting to Alertmanager: %v", err)
			}
		}
		time.Sleep(pace - time.Since(began))
	}
	time.Sleep(time.Second) // Alertmanager's last group interval
}

// Five hours of an incident that comes and goes every 15 minutes, through
// a real Alertmanager grouping by SLO and model as the shipped one does:
// one page. Without flap damping, the same replay pages the 1h/5m pair
// again after every calm spell.
func TestFlappingIsOnePageInAlertmanager(t *testing.T) {
	start := simtest.Start
	incident := start.Add(7 * time.Hour)
	prom := simtest.Prometheus(t, sim.Config{Scenario: sim.ScenarioFlapping, Seed: 1, IncidentAt: 7 * time.Hour}, start, incident.Add(5*time.Hour+15*time.Minute))
	from, to := incident.Add(-5*time.Minute), incident.Add(5*time.Hour+10*time.Minute)
	run := func(damping bool) *pager {
		cfg := exampleConfig(t, prom.URL)
		if !damping {
			data, err := os.ReadFile("../../configs/example.yaml")
			if err != nil {
				t.Fatal(err)
			}
			undamped := strings.Replace(string(data), "      windows: default", "      windows: default\n      keep_firing_for: 0s", 1)
			if undamped == string(data) {
				t.Fatal("configs/example.yaml: no alerting.windows line to add keep_firing_for to")
			}
			if cfg, err = config.Load("example.yaml", []byte(undamped), receivers.New()); err != nil {
				t.Fatal(err)
			}
			cfg.Prometheus.URL = prom.URL
		}
		p := newPager()
		hook := httptest.NewServer(p)
		t.Cleanup(hook.Close)
		am := promtest.StartAlertmanagerWithConfig(t, fmt.Sprintf(`route:
  receiver: tickets
  group_by: [alertname, slo, model_name]
  group_wait: 50ms
  group_interval: 100ms
  repeat_interval: 24h
  routes: [{matchers: [severity="critical"], receiver: pager}]
receivers:
  - name: tickets
  - name: pager
    webhook_configs: [{url: %q, send_resolved: true}]
`, hook.URL))
		replayToAlertmanager(t, cfg, am.URL, from, to, 25*time.Millisecond)
		p.mu.Lock()
		defer p.mu.Unlock()
		return p
	}
	damped := run(true)
	t.Logf("damped: incidents per group %v, page starts per pair %v", damped.incidents, damped.starts)
	pages := 0
	for _, n := range damped.incidents {
		pages += n
	}
	if pages != 1 {
		t.Errorf("flapping for five hours opened %d incidents in Alertmanager's receiver (%v), want one", pages, damped.incidents)
	}
	if damped.starts["ttft 1h/5m"] != 1 || len(damped.starts) != 2 {
		t.Errorf("page starts per pair %v, want the 1h/5m and 6h/30m pairs once each", damped.starts)
	}
	undamped := run(false)
	t.Logf("without damping: incidents per group %v, page starts per pair %v", undamped.incidents, undamped.starts)
	if undamped.starts["ttft 1h/5m"] <= 1 || len(undamped.starts) != 2 {
		t.Errorf("without damping the 1h/5m pair fired in %d notifications: the replay cannot tell damping from none", undamped.starts["ttft 1h/5m"])
	}
}
