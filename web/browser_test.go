package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/internal/simtest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
	"github.com/vllm-sentinel/vllm-sentinel/sim"
	"github.com/vllm-sentinel/vllm-sentinel/web"
)

// ScreenshotsEnv names a directory the browser test writes its screenshots
// to (the README's pictures); without it they go to a temporary directory.
const ScreenshotsEnv = "VLLM_SENTINEL_SCREENSHOTS"

const browserConfig = `
prometheus: {url: "PROMETHEUS_URL"}
slos:
  - name: ttft
    description: 99% of requests get their first token within 1s
    sli: {latency: {metric: time_to_first_token, threshold: 1s}}
    objective: 99
    window: 28d
    min_events: 50
    alerting:
      annotations: {runbook_url: 'https://runbooks.example/ttft?model={{ .Labels.model_name }}'}
  - name: errors
    sli: {ratio: {errors: 'vllm:request_success_total{finished_reason="error"}', total: 'vllm:request_success_total'}}
    objective: 99.9
    window: 28d
indicators:
  - {name: queue-growth, kind: queue_growth, for: 5m}
  - {name: kv-cache, kind: kv_cache_pressure, threshold: 0.9, for: 10m}
web: {grafana_url: 'https://grafana.example/d/vllm'}
`

type nopSender struct{}

func (nopSender) Send(...*model.Alert) {}

// The status UI in a real headless Chromium, over a real engine whose event
// store holds two days of a simulated vLLM (a surge incident in the last
// hours) read from a real Prometheus: the overview and an SLO page render,
// their charts carry time and value axes with units, and the browser
// reports no console error or exception.
func TestStatusUIInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (make deps installs it): the status UI's browser test cannot run")
	}
	start := simtest.Start
	end := start.Add(48 * time.Hour)
	prom := simtest.Prometheus(t, sim.Config{Scenario: sim.ScenarioSurge, IncidentAt: 46 * time.Hour, Seed: 5}, start, end)
	api := prom.API(t)

	cfg, err := config.Load("browser.yaml", []byte(strings.Replace(browserConfig, "PROMETHEUS_URL", prom.URL, 1)), receivers.New())
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	stateDir := t.TempDir()
	newEngine := func() (*evaluator.Engine, *evaluator.Evaluator) {
		names := evaluator.NewNames(cfg.VLLM.MetricNames.Flavour, cfg.VLLM.MetricNames.Overrides, cfg.VLLM.Matchers(), logger)
		ev := evaluator.New(evaluator.NewAPIQuerier(api, logger), cfg.SLOs, cfg.Indicators, evaluator.Options{
			Names: names, Diagnose: true,
			Events: &evaluator.EventOptions{Step: 30 * time.Second, Ranges: evaluator.NewAPIRangeQuerier(api), Dir: stateDir},
		})
		eng, err := evaluator.NewEngine(ev, nopSender{}, evaluator.EngineOptions{Interval: 30 * time.Second, StateDir: stateDir, Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		return eng, ev
	}
	ctx := context.Background()
	cycles := func(eng *evaluator.Engine, from, to time.Time) {
		for ts := from; !ts.After(to); ts = ts.Add(30 * time.Second) {
			if rep := eng.Cycle(ctx, ts); len(rep.Errors) > 0 {
				t.Fatalf("cycle at %s: %+v", ts, rep.Errors)
			}
		}
	}
	// A first engine builds the stores and saves them; the one the pages
	// read is a restart over the same state directory, which reads back the
	// days of history and catches up only the gap.
	began := time.Now()
	first, firstEv := newEngine()
	cycles(first, end.Add(-30*time.Minute), end.Add(-20*time.Minute))
	if err := firstEv.SaveEvents(end.Add(-20*time.Minute), true); err != nil {
		t.Fatal(err)
	}
	eng, _ := newEngine()
	if err := eng.Restore(end.Add(-10 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	cycles(eng, end.Add(-10*time.Minute), end)
	t.Logf("engine: 21 cycles building and saving the stores, a restart and 21 more in %s", time.Since(began).Round(time.Millisecond))

	page, err := web.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler(web.Options{
		Source: func() web.Source { return eng }, Page: page, Version: "test",
		Prometheus: func() string { return prom.URL },
		Links: func() web.Links {
			return web.Links{Prometheus: prom.URL, Alertmanager: "http://alertmanager.example:9093", Grafana: cfg.Web.GrafanaURL}
		},
	}))
	defer srv.Close()

	shots := os.Getenv(ScreenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancelTimeout := context.WithTimeout(bctx, 45*time.Second)
	defer cancelTimeout()

	var mu sync.Mutex
	var problems []string
	listenErr := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, fmt.Sprintf("console %s: %v", e.Type, e.Args))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, fmt.Sprintf("exception: %s at %s:%d", e.ExceptionDetails.Text, e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber))
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
				problems = append(problems, fmt.Sprintf("log %s: %s %s", e.Entry.Level, e.Entry.Text, e.Entry.URL))
			}
		}
	})
	if listenErr != nil {
		t.Fatalf("start chromium: %v", listenErr)
	}
	// chromedp enables the Runtime and Log domains of every tab it opens.

	visit := func(path, shot string) (body string, svgText []string, title string) {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var err error
		if title, err = chromedp.Run(bctx, chromedp.Title()); err != nil {
			t.Fatalf("%s: title: %v", path, err)
		}
		if body, err = chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body"))); err != nil {
			t.Fatalf("%s: text: %v", path, err)
		}
		if svgText, err = chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("svg text")).map(e => e.textContent)`)); err != nil {
			t.Fatalf("%s: chart labels: %v", path, err)
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", path, err)
		}
		if err := os.WriteFile(filepath.Join(shots, shot), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: screenshot %s (%d bytes)", path, filepath.Join(shots, shot), len(png))
		return body, svgText, title
	}
	clock := regexp.MustCompile(`^(Mar \d+ )?\d\d:\d\d$|^Mar \d+$`)
	hasTick := func(texts []string, match func(string) bool) bool {
		for _, s := range texts {
			if match(s) {
				return true
			}
		}
		return false
	}

	body, texts, _ := visit("/", "status-overview.png")
	for _, want := range []string{"ttft", "errors", "queue-growth", "kv-cache", "model_name=llama-3.1-8b", "budget left"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if !hasTick(texts, clock.MatchString) {
		t.Errorf("overview's indicator charts have no time ticks: %q", texts)
	}

	link, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(`a[href^="/slo/ttft"]`), "href"))
	if err != nil || link.Value == "" {
		t.Fatalf("overview links no ttft page: %v", err)
	}
	href := link.Value
	body, texts, title := visit(href, "status-slo.png")
	if !strings.Contains(title, "ttft") {
		t.Errorf("SLO page title %q", title)
	}
	for _, want := range []string{"99% of requests get their first token within 1s", "rolling 28d", "time_to_first_token ≤ 1s",
		"runbook", "Alertmanager", "Prometheus", "Grafana", "Error budget over the rolling 28d window", "1h / 5m", "3d / 6h", "Alert timeline"} {
		if !strings.Contains(body, want) {
			t.Errorf("SLO page lacks %q", want)
		}
	}
	if i, j := strings.Index(body, "1h / 5m"), strings.Index(body, "6h / 30m"); i < 0 || j < i {
		t.Errorf("pairs not sorted by window: 1h/5m at %d, 6h/30m at %d", i, j)
	}
	for name, match := range map[string]func(string) bool{
		"time":    clock.MatchString,
		"percent": func(s string) bool { return strings.HasSuffix(s, "%") },
		"burn ×":  func(s string) bool { return strings.HasSuffix(s, "×") && !strings.HasPrefix(s, "factor") },
		"factor":  func(s string) bool { return s == "factor 13.44×" },
	} {
		if !hasTick(texts, match) {
			t.Errorf("SLO page's charts have no %s labels: %q", name, texts)
		}
	}
	// The 1h burn rate reaches back a day: the store's history, not the
	// reports the engine keeps in memory since its restart.
	points, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("circle title")).map(e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "1h burn rate " + end.Add(-23*time.Hour).Format("2006-01-02 15:04") + ": "; !hasTick(points, func(s string) bool { return strings.HasPrefix(s, want) }) {
		t.Errorf("no point %q…; the 1h burn rate does not reach back a day", want)
	}
	runbook, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.Search(`//a[text()="runbook"]`), "href"))
	if err != nil || runbook.Value != "https://runbooks.example/ttft?model=llama-3.1-8b" {
		t.Errorf("runbook link %q: %v", runbook.Value, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
}
