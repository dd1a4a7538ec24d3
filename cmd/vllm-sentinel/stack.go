package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/evaluator"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/alertmanager"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
	"github.com/vllm-sentinel/vllm-sentinel/notify/slack"
	"github.com/vllm-sentinel/vllm-sentinel/notify/webhook"
)

// flushTimeout bounds how long shutdown and reload wait for queued
// notifications; what is still queued after it is logged as lost.
const flushTimeout = 10 * time.Second

// queue is a notifier driven by its own loop.
type queue interface {
	notify.Sender
	Run(ctx context.Context)
	Flush(ctx context.Context) error
}

// stack is everything built from one configuration: the engine and the
// notifiers it sends to. A reload builds a new stack and swaps it in.
type stack struct {
	cfg    *config.Config
	engine *evaluator.Engine
	queues map[string]queue

	stopEngine, stopQueues context.CancelFunc
	engineDone             chan struct{}
	queuesDone             sync.WaitGroup
}

func buildStack(cfg *config.Config, logger *slog.Logger, reg prometheus.Registerer) (*stack, error) {
	q, err := evaluator.NewPrometheusQuerier(clientConfig(cfg), logger.With("component", "querier"), reg)
	if err != nil {
		return nil, err
	}
	ev, err := newEvaluator(cfg, q, logger)
	if err != nil {
		return nil, err
	}
	st := &stack{cfg: cfg, queues: map[string]queue{}}
	senders := map[string]notify.Sender{}
	var order []string
	for _, n := range cfg.Notifiers {
		var qu queue
		switch n.Type {
		case config.NotifierAlertmanager:
			opts := alertmanager.Options{
				Name: n.Name, URLs: n.URLs, Timeout: n.Timeout.D(),
				Logger: logger.With("component", "notifier", "notifier", n.Name), Registerer: reg,
			}
			opts.HTTPConfig = commoncfg.DefaultHTTPClientConfig
			if n.HTTPConfig != nil {
				opts.HTTPConfig = *n.HTTPConfig
			}
			qu, err = alertmanager.New(opts)
			if err != nil {
				return nil, fmt.Errorf("notifier %q: %w", n.Name, err)
			}
		case config.NotifierSlack, config.NotifierWebhook:
			qu, err = newDispatcher(cfg, n, logger, reg)
			if err != nil {
				return nil, fmt.Errorf("notifier %q: %w", n.Name, err)
			}
		default:
			return nil, fmt.Errorf("notifier %q: unknown type %s", n.Name, n.Type)
		}
		st.queues[n.Name] = qu
		senders[n.Name] = qu
		order = append(order, n.Name)
	}
	var routes []notify.Route
	for i, r := range cfg.Routes {
		rt, err := notify.NewRoute(r.Match, r.MatchRE, r.Notifiers, r.Continue)
		if err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
		routes = append(routes, rt)
	}
	router, err := notify.NewRouter(routes, senders, order)
	if err != nil {
		return nil, err
	}
	st.engine, err = evaluator.NewEngine(ev, router, evaluator.EngineOptions{
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

// newDispatcher builds a Slack or webhook notifier behind grouping, dedup
// and a durable outbox under state.path.
func newDispatcher(cfg *config.Config, n config.NotifierConfig, logger *slog.Logger, reg prometheus.Registerer) (*dispatch.Dispatcher, error) {
	hc := commoncfg.DefaultHTTPClientConfig
	if n.HTTPConfig != nil {
		hc = *n.HTTPConfig
	}
	lg := logger.With("component", "notifier")
	var inner notify.Notifier
	var err error
	switch n.Type {
	case config.NotifierSlack:
		inner, err = slack.New(slack.Options{Name: n.Name, WebhookURL: n.SecretURL(), HTTPConfig: hc, Timeout: n.Timeout.D(),
			ExternalURL: cfg.Global.ExternalURL, Logger: lg, Registerer: reg})
	default:
		url := n.URL
		if s := n.SecretURL(); s != "" {
			url = s
		}
		inner, err = webhook.New(webhook.Options{Name: n.Name, URL: url, SigningKey: n.SigningKey(), Headers: n.Headers,
			HTTPConfig: hc, Timeout: n.Timeout.D(), ExternalURL: cfg.Global.ExternalURL, Logger: lg, Registerer: reg})
	}
	if err != nil {
		return nil, err
	}
	sendResolved := true
	if n.SendResolved != nil {
		sendResolved = *n.SendResolved
	}
	outbox := ""
	if cfg.State.Path != "" {
		outbox = filepath.Join(cfg.State.Path, "notify", n.Name)
	}
	return dispatch.New(inner, dispatch.Options{
		Name: n.Name, GroupBy: n.GroupBy, GroupWait: n.GroupWait.D(), GroupInterval: n.GroupInterval.D(),
		RepeatInterval: n.RepeatInterval.D(), SendResolved: sendResolved, OutboxDir: outbox, Logger: lg, Registerer: reg,
	})
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
