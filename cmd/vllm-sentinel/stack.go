package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
)

// flushTimeout bounds how long shutdown and reload wait for queued
// notifications; what is still queued after it is logged as lost.
const flushTimeout = 10 * time.Second

// stack is everything built from one configuration: the engine and the
// notifiers it sends to. A reload builds a new stack and swaps it in.
type stack struct {
	cfg    *config.Config
	engine *evaluator.Engine
	queues map[string]receivers.Queue

	stopEngine, stopQueues context.CancelFunc
	engineDone             chan struct{}
	queuesDone             sync.WaitGroup
}

func buildStack(cfg *config.Config, rcv *receivers.Registry, logger *slog.Logger, reg prometheus.Registerer) (*stack, error) {
	q, err := evaluator.NewPrometheusQuerier(clientConfig(cfg), logger.With("component", "querier"), reg)
	if err != nil {
		return nil, err
	}
	st := &stack{cfg: cfg, queues: map[string]receivers.Queue{}}
	senders := map[string]notify.Sender{}
	var order []string
	env := receivers.Env{StateDir: cfg.State.Path, ExternalURL: cfg.Global.ExternalURL, Logger: logger, Registerer: reg}
	for _, n := range cfg.Notifiers {
		qu, err := rcv.Build(n.Name, n.Settings, env)
		if err != nil {
			return nil, fmt.Errorf("notifier %q: %w", n.Name, err)
		}
		st.queues[n.Name] = qu
		senders[n.Name] = qu
		order = append(order, n.Name)
	}
	routes := make([]notify.Route, len(cfg.Routes))
	for i, r := range cfg.Routes {
		routes[i] = notify.Route{Match: r.Match, MatchRE: r.MatchRE, Notifiers: r.Notifiers, Continue: r.Continue}
	}
	router, err := notify.NewRouter(routes, senders, order)
	if err != nil {
		return nil, err
	}
	st.engine, err = evaluator.NewEngine(newEvaluator(cfg, q, logger), router, evaluator.EngineOptions{
		Interval:       cfg.Global.EvaluationInterval.D(),
		ResendInterval: cfg.Global.ResendInterval.D(),
		ExternalLabels: cfg.Global.ExternalLabels,
		ExternalURL:    cfg.Global.ExternalURL,
		StateDir:       cfg.State.Path,
		Logger:         logger.With("component", "engine"),
		Registerer:     reg,
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// start runs the notifier loops and the evaluation schedule. The two get
// separate contexts so that stop can end the schedule first.
func (s *stack) start(ctx context.Context) {
	qctx, stopQueues := context.WithCancel(context.WithoutCancel(ctx))
	ectx, stopEngine := context.WithCancel(ctx)
	s.stopQueues, s.stopEngine = stopQueues, stopEngine
	for _, q := range s.queues {
		s.queuesDone.Add(1)
		go func() {
			defer s.queuesDone.Done()
			q.Run(qctx)
		}()
	}
	s.engineDone = make(chan struct{})
	go func() {
		defer close(s.engineDone)
		s.engine.Run(ectx)
	}()
}

// stop ends the schedule (the cycle in flight finishes and saves state),
// then gives queued notifications up to flushTimeout to go out, then stops
// the notifier loops.
func (s *stack) stop(logger *slog.Logger) {
	if s.stopEngine == nil {
		return
	}
	s.stopEngine()
	<-s.engineDone
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	for name, q := range s.queues {
		if err := q.Flush(ctx); err != nil {
			logger.Error("notifications still queued at shutdown were not delivered", "notifier", name, "err", err)
		}
	}
	s.stopQueues()
	s.queuesDone.Wait()
}
