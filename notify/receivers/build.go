package receivers

import (
	"path/filepath"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/alertmanager"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
	"github.com/vllm-sentinel/vllm-sentinel/notify/slack"
	"github.com/vllm-sentinel/vllm-sentinel/notify/webhook"
)

// The receiver types New registers. Alertmanager queues, batches and
// retries itself; Slack and webhooks cannot group, so a Dispatcher does it
// for them, with a durable outbox under the state directory.

func buildAlertmanager(name string, c *alertmanager.Config, env Env) (Queue, error) {
	return alertmanager.NewFromConfig(name, c, env.notify())
}

func buildSlack(name string, c *slack.Config, env Env) (Queue, error) {
	n, err := slack.NewFromConfig(name, c, env.notify())
	if err != nil {
		return nil, err
	}
	return dispatched(name, n, c.Grouping, env)
}

func buildWebhook(name string, c *webhook.Config, env Env) (Queue, error) {
	n, err := webhook.NewFromConfig(name, c, env.notify())
	if err != nil {
		return nil, err
	}
	return dispatched(name, n, c.Grouping, env)
}

// dispatched puts n behind grouping, dedup and the outbox.
func dispatched(name string, n notify.Notifier, g notify.Grouping, env Env) (*dispatch.Dispatcher, error) {
	outbox := ""
	if env.StateDir != "" {
		outbox = filepath.Join(env.StateDir, "notify", name)
	}
	var onLost func(error)
	if env.OnStateLost != nil {
		onLost = func(err error) { env.OnStateLost(name, err) }
	}
	return dispatch.New(n, dispatch.Options{
		Name: name, OutboxDir: outbox, Logger: env.Logger, Registerer: env.Registerer, OnStateLost: onLost,
	}.WithGrouping(g))
}

func (e Env) notify() notify.Env {
	return notify.Env{ExternalURL: e.ExternalURL, Logger: e.Logger, Registerer: e.Registerer}
}
