package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vllm-sentinel/vllm-sentinel/sim"
	"github.com/vllm-sentinel/vllm-sentinel/sim/simtrace"
)

// shutdownTimeout bounds the wait for in-flight scrapes on SIGTERM.
const shutdownTimeout = 5 * time.Second

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "[--listen HOST:PORT] [--scenario NAME] [--speed X] [flags]", stderr)
	model := addModelFlags(fs)
	listen := fs.String("listen", "127.0.0.1:8000", "address to serve /metrics on")
	speed := fs.Float64("speed", 1, "model seconds per wall-clock second")
	startFlag := fs.String("start", "", "model time at startup, RFC 3339 or unix seconds (default: now)")
	otlpTraces := fs.String("otlp-traces-endpoint", "", "OTLP/HTTP collector to send one llm_request span per finished request to, as vLLM does, "+
		"e.g. http://127.0.0.1:4318 (/v1/traces is added to a URL without a path; service.name vllm unless OTEL_SERVICE_NAME is set)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := model.config()
	if err != nil {
		return err
	}
	if !(*speed > 0 && *speed <= 1e6) {
		return usagef("--speed %v: want a number in (0, 1e6]", *speed)
	}
	var tracesTo string
	if *otlpTraces != "" {
		if tracesTo, err = tracesURL(*otlpTraces); err != nil {
			return err
		}
	}
	wallStart := time.Now()
	modelStart := wallStart.Truncate(time.Second)
	if *startFlag != "" {
		if modelStart, err = parseTime("start", *startFlag); err != nil {
			return err
		}
	}
	s, err := sim.New(cfg, modelStart)
	if err != nil {
		return err
	}
	clock := modelClock{wallStart: wallStart, modelStart: modelStart, speed: *speed, now: time.Now}
	if tracesTo != "" {
		tp, err := newTracerProvider(ctx, tracesTo)
		if err != nil {
			return err
		}
		// Flush the batched spans on the way out, whatever the exit.
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			_ = tp.Shutdown(sctx)
		}()
		// Span times are the model times on the wall clock; the latency
		// attributes stay in model seconds, like the histograms.
		s.OnFinish(simtrace.Sink(tp.Tracer(simtrace.TracerName), clock.wallAt))
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	log.Info("vllm-sim serving", "url", "http://"+ln.Addr().String()+"/metrics", "scenario", cfg.Scenario,
		"models", cfg.Models, "engines", cfg.Engines, "flavour", cfg.Flavour, "seed", cfg.Seed,
		"speed", *speed, "model_start", modelStart.UTC().Format(time.RFC3339))
	if tracesTo != "" {
		log.Info("sending traces", "otlp_http", tracesTo)
	}
	for _, info := range sim.Scenarios() {
		if info.Name == cfg.Scenario && info.IncidentAt > 0 {
			log.Info("incident scheduled", "model_time", modelStart.Add(cfg.IncidentAt).UTC().Format(time.RFC3339),
				"wall_time", clock.wallAt(modelStart.Add(cfg.IncidentAt)).Format(time.RFC3339), "signature", info.Signature)
		}
	}

	srv := &http.Server{Handler: newHandler(s, clock), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	// Advance in the background too, so that a scrape after a long pause at
	// a high speed does not have to simulate the whole gap.
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			s.AdvanceTo(clock.model())
		case err := <-done:
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("serve: shutdown: %w", err)
			}
			if err := <-done; !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve: %w", err)
			}
			return nil
		}
	}
}

// modelClock maps wall-clock time to model time.
type modelClock struct {
	wallStart, modelStart time.Time
	speed                 float64
	now                   func() time.Time
}

func (c modelClock) model() time.Time {
	return c.modelStart.Add(time.Duration(float64(c.now().Sub(c.wallStart)) * c.speed))
}

func (c modelClock) wallAt(model time.Time) time.Time {
	return c.wallStart.Add(time.Duration(float64(model.Sub(c.modelStart)) / c.speed))
}

// newHandler serves the simulation's metrics with client_golang's registry
// and exposition; OpenMetrics is offered so that Prometheus stores le="1.0"
// as vLLM's Python client writes it, except for flavours whose names or
// bounds the OpenMetrics encoder would change (see sim.ServesOpenMetrics).
func newHandler(s *sim.Sim, clock modelClock) http.Handler {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: sim.ServesOpenMetrics(s.Config().Flavour)})
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		s.AdvanceTo(clock.model())
		if s.Down() {
			http.Error(w, "vllm-sim: the simulated process is restarting", http.StatusServiceUnavailable)
			return
		}
		metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		cfg := s.Config()
		fmt.Fprintf(w, "vllm-sim: scenario %s, models %v x %d engines, flavour %s, seed %d\nmodel time %s\nmetrics: /metrics\n",
			cfg.Scenario, cfg.Models, cfg.Engines, cfg.Flavour, cfg.Seed, s.Now().UTC().Format(time.RFC3339))
	})
	return mux
}
