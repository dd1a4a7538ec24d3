package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/config"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
)

// A notifier removed by a reload and added back by the next, while the
// removed one still flushes to a receiver that fails: its successor's loop
// waits for the old one, so that one outbox never has two loops.
func TestNotifierRemovedAndAddedBackNeverRunsTwoLoops(t *testing.T) {
	dir := t.TempDir()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError) // keep it retrying
	}))
	defer hook.Close()
	rcv := receivers.New()
	base := fmt.Sprintf("global: {evaluation_interval: 1s}\nprometheus: {url: \"http://127.0.0.1:1\", timeout: 1s}\n"+
		"indicators: [{name: queue-growth, kind: queue_growth}]\nstate: {path: %s}\n", dir)
	with := base + fmt.Sprintf("notifiers: [{name: hooks, type: webhook, url: %q, group_wait: 1ms, group_interval: 1s}]\n", hook.URL)
	load := func(s string) *config.Config {
		t.Helper()
		c, err := config.Load("x.yaml", []byte(s), rcv)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	logger := slog.New(slog.DiscardHandler)
	d := &daemon{logger: logger, receivers: rcv, reg: prometheus.NewRegistry(), ctx: context.Background()}
	st, err := buildStack(load(with), nil, rcv, d.outboxLost, logger, d.reg)
	if err != nil {
		t.Fatal(err)
	}
	d.cur.Store(st)
	st.start(d.ctx)
	first := st.queues["hooks"]
	first.q.Send(&model.Alert{Labels: model.LabelSet{"alertname": "X"}, StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour)})
	time.Sleep(1500 * time.Millisecond) // grouped, in the outbox, failing
	if err := d.swap(load(base)); err != nil {
		t.Fatal(err)
	}
	if err := d.swap(load(with)); err != nil {
		t.Fatal(err)
	}
	back := d.cur.Load().queues["hooks"]
	if !first.finished() && back.after != first {
		t.Errorf("the notifier added back runs beside the removed one, still flushing, on one outbox")
	}
	d.cur.Load().stop(logger)
	if !first.finished() {
		t.Error("shutdown did not wait for the retired queue")
	}
}
