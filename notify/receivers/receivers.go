// Package receivers knows every receiver type a notifiers: entry can name
// (alertmanager, slack, webhook): how to decode and check its settings and
// how to build the notifier from them. A new receiver type is a package of
// its own with a Config, a DecodeConfig and a constructor, added to New
// here; nothing else changes.
package receivers

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/alertmanager"
	"github.com/vllm-sentinel/vllm-sentinel/notify/slack"
	"github.com/vllm-sentinel/vllm-sentinel/notify/webhook"
)

// Env is what every notifier takes from the daemon rather than from its
// entry.
type Env struct {
	// StateDir holds the outbox of each Slack and webhook notifier, under
	// StateDir/notify/<name>; "" keeps the outboxes in memory only.
	StateDir    string
	ExternalURL string
	// Logger is narrowed to each notifier; nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// OnStateLost, when set, is called when a notifier with an outbox
	// finds, as its queue first runs, that files under StateDir were
	// damaged and part of what they held was discarded; err wraps
	// dispatch.ErrStateLost. It is called from the queue's Run and must
	// not block. See dispatch.Options.OnStateLost.
	OnStateLost func(notifier string, err error)
}

// Queue is a receiver driven by its own loop.
type Queue interface {
	notify.Sender
	Run(ctx context.Context)
	Flush(ctx context.Context) error
}

// Registry knows every receiver type.
type Registry struct {
	byName map[string]*receiver
	// bySettings finds the receiver of what its decode returned.
	bySettings map[reflect.Type]*receiver
}

// receiver is one type of notifiers: entry.
type receiver struct {
	decode func(node *yaml.Node) (any, error)
	build  func(name string, settings any, env Env) (Queue, error)
	// outbox: its queue keeps notifications on disk under its name.
	outbox bool
}

// New returns a Registry of the receiver types the sentinel ships.
func New() *Registry {
	r := &Registry{byName: map[string]*receiver{}, bySettings: map[reflect.Type]*receiver{}}
	register(r, "alertmanager", alertmanager.DecodeConfig, buildAlertmanager, false)
	register(r, "slack", slack.DecodeConfig, buildSlack, true)
	register(r, "webhook", webhook.DecodeConfig, buildWebhook, true)
	return r
}

// register adds a receiver type whose settings are a *C.
func register[C any](r *Registry, typ string, decode func(*yaml.Node) (*C, error), build func(string, *C, Env) (Queue, error), outbox bool) {
	rc := &receiver{
		outbox: outbox,
		decode: func(node *yaml.Node) (any, error) {
			c, err := decode(node)
			if err != nil {
				// A nil any, not a typed nil *C.
				return nil, err
			}
			return c, nil
		},
		build: func(name string, settings any, env Env) (Queue, error) {
			return build(name, settings.(*C), env)
		},
	}
	r.byName[typ] = rc
	r.bySettings[reflect.TypeFor[*C]()] = rc
}

// Types returns the receiver type names, sorted, for messages.
func (r *Registry) Types() []string {
	types := make([]string, 0, len(r.byName))
	for t := range r.byName {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// Decode decodes and checks the settings of one notifiers: entry of type
// typ; node is the whole entry, name and type included. Unknown keys and
// wrong types come back as a *yaml.TypeError, what is wrong with the values
// as *notify.FieldErrors joined with errors.Join, an unknown typ as a plain
// error. What it returns goes to Build.
func (r *Registry) Decode(typ string, node *yaml.Node) (any, error) {
	rc, ok := r.byName[typ]
	if !ok {
		if typ == "" {
			return nil, fmt.Errorf("type is required: %s", r.typeList())
		}
		return nil, fmt.Errorf("unknown notifier type %q (want %s)", typ, r.typeList())
	}
	return rc.decode(node)
}

// typeList is "alertmanager, slack or webhook".
func (r *Registry) typeList() string {
	types := r.Types()
	if len(types) < 2 {
		return strings.Join(types, "")
	}
	return strings.Join(types[:len(types)-1], ", ") + " or " + types[len(types)-1]
}

// HasOutbox reports whether the queue of settings keeps its notifications
// on disk under the notifier's name (Slack and webhooks, behind a
// Dispatcher), so that two loops of one name must never overlap.
// Alertmanager's queues live in memory.
func (r *Registry) HasOutbox(settings any) bool {
	rc, ok := r.bySettings[reflect.TypeOf(settings)]
	return ok && rc.outbox
}

// Build builds the notifier name from settings, which Decode returned.
// Nothing is sent until the Queue runs.
func (r *Registry) Build(name string, settings any, env Env) (Queue, error) {
	rc, ok := r.bySettings[reflect.TypeOf(settings)]
	if !ok || reflect.ValueOf(settings).IsNil() {
		return nil, fmt.Errorf("notifier %q: settings of type %T are no receiver's", name, settings)
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	// Each constructor adds the notifier's name.
	env.Logger = env.Logger.With("component", "notifier")
	return rc.build(name, settings, env)
}
