package main

import (
	"context"
	"fmt"
	"log/slog"
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
// notifiers it sends to. A reload builds a new stack and swaps it in,
// keeping the running queues of notifiers whose settings did not change.
type stack struct {
	cfg    *config.Config
	engine *evaluator.Engine
	queues map[string]*runningQueue
	// retiring are queues of earlier stacks still flushing, by name: a
	// notifier removed and added back must not run two loops on one
	// outbox, and shutdown waits for them.
	retiring map[string]*runningQueue

	stopEngine context.CancelFunc
	engineDone chan struct{}
}

// runningQueue is one notifier's queue and its loop.
type runningQueue struct {
	q        receivers.Queue
	settings any
	// after is the queue of the same name this one replaces: this one's
	// loop starts once that one's has ended, since both would own the same
	// outbox directory.
	after  *runningQueue
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *runningQueue) start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		if r.after != nil {
			<-r.after.done
		}
		r.q.Run(ctx)
	}()
}

// finished reports whether the queue's loop has ended.
func (r *runningQueue) finished() bool {
	if r.done == nil {
		return true
	}
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// retire lets the queue deliver what it holds for up to flushTimeout, then
// ends its loop; it does not wait for either.
func (r *runningQueue) retire(name string, logger *slog.Logger) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		if err := r.q.Flush(ctx); err != nil {
			logger.Warn("notifier replaced by a reload: what it still held is left to its outbox or dropped", "notifier", name, "err", err)
		}
		r.cancel()
	}()
}

// buildStack builds what cfg describes. A notifier of old (the running
// stack, nil at start) whose settings are the Same is taken over as it
// runs: a reload neither waits on its receiver nor loses its queue.
// onLost reports a notifier's discarded outbox to the engine running when
// the queue finds it.
func buildStack(cfg *config.Config, old *stack, rcv *receivers.Registry, onLost func(notifier string, err error), logger *slog.Logger, reg prometheus.Registerer) (*stack, error) {
	q, err := evaluator.NewPrometheusQuerier(clientConfig(cfg), logger.With("component", "querier"), reg)
	if err != nil {
		return nil, err
	}
	promAPI, err := evaluator.NewPrometheusAPI(clientConfig(cfg))
	if err != nil {
		return nil, err
	}
	st := &stack{cfg: cfg, queues: map[string]*runningQueue{}, retiring: map[string]*runningQueue{}}
	if old != nil {
		for name, q := range old.retiring {
			if !q.finished() {
				st.retiring[name] = q
			}
		}
	}
	senders := map[string]notify.Sender{}
	var order []string
	env := receivers.Env{StateDir: cfg.State.Path, ExternalURL: cfg.Global.ExternalURL, Logger: logger, Registerer: reg, OnStateLost: onLost}
	for _, n := range cfg.Notifiers {
		var prev *runningQueue
		if old != nil {
			prev = old.queues[n.Name]
		}
		if prev != nil && sameEnv(old.cfg, cfg) && receivers.Same(prev.settings, n.Settings) {
			st.queues[n.Name] = prev
		} else {
			qu, err := rcv.Build(n.Name, n.Settings, env)
			if err != nil {
				return nil, fmt.Errorf("notifier %q: %w", n.Name, err)
			}
			if prev == nil {
				prev = st.retiring[n.Name]
			}
			if !rcv.HasOutbox(n.Settings) {
				// Nothing on disk to share: the new queue starts at once,
				// beside the old one's last flush.
				prev = nil
			}
			st.queues[n.Name] = &runningQueue{q: qu, settings: n.Settings, after: prev}
		}
		senders[n.Name] = st.queues[n.Name].q
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
	// A first start reads the stores' history one chunk per SLO and
	// cycle, so that no cycle waits long on it.
	events := &evaluator.EventOptions{Step: cfg.Global.EvaluationInterval.D(), Ranges: evaluator.NewAPIRangeQuerier(promAPI), Dir: cfg.State.Path, BackfillChunks: 1}
	st.engine, err = evaluator.NewEngine(newEvaluator(cfg, q, events, true, logger), router, evaluator.EngineOptions{
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
	st.engine.SetWindowMetrics(cfg.Web.PerWindow())
	return st, nil
}

// sameEnv reports whether the settings every queue is built with beside
// its own are unchanged.
func sameEnv(a, b *config.Config) bool {
	return a.State.Path == b.State.Path && a.Global.ExternalURL == b.Global.ExternalURL
}

// start runs the notifier loops not yet running and the evaluation
// schedule.
func (s *stack) start(ctx context.Context) {
	for _, q := range s.queues {
		if q.done == nil {
			q.start(ctx)
		}
	}
	ectx, stopEngine := context.WithCancel(ctx)
	s.stopEngine = stopEngine
	s.engineDone = make(chan struct{})
	go func() {
		defer close(s.engineDone)
		s.engine.Run(ectx)
	}()
}

// endSchedule ends the schedule; the cycle in flight finishes and saves
// state.
func (s *stack) endSchedule() {
	if s.stopEngine == nil {
		return
	}
	s.stopEngine()
	<-s.engineDone
}

// handOver ends old's schedule and retires the queues that next does not
// take over, without waiting on their receivers.
func (s *stack) handOver(next *stack, logger *slog.Logger) {
	s.endSchedule()
	for name, q := range s.queues {
		if next.queues[name] != q {
			q.retire(name, logger)
			next.retiring[name] = q
		}
	}
}

// stop ends the schedule (the cycle in flight finishes and saves state),
// then gives queued notifications up to flushTimeout to go out, then stops
// the notifier loops.
func (s *stack) stop(logger *slog.Logger) {
	s.endSchedule()
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	for name, q := range s.queues {
		if q.done == nil {
			continue
		}
		if err := q.q.Flush(ctx); err != nil {
			logger.Error("notifications still queued at shutdown were not delivered", "notifier", name, "err", err)
		}
	}
	for _, q := range s.queues {
		if q.done != nil {
			q.cancel()
			<-q.done
		}
	}
	// Queues retired by a reload end their own flush within flushTimeout.
	for _, q := range s.retiring {
		if q.done != nil {
			<-q.done
		}
	}
}
