package alertmanager

import (
	"errors"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/internal/httpurl"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// Config is the settings of an alertmanager entry of notifiers:.
type Config struct {
	// URLs are Alertmanager base URLs; every alert goes to each of them.
	URLs                []string `yaml:"urls"`
	notify.HTTPSettings `yaml:",inline"`
}

// DecodeConfig decodes and checks an alertmanager entry of notifiers:
// (name and type included, and skipped). Unknown keys and wrong types are
// a *yaml.TypeError; the problems found after decoding are
// *notify.FieldErrors, joined.
func DecodeConfig(node *yaml.Node) (*Config, error) {
	var c Config
	// Alertmanager groups, repeats and decides about resolves in its own
	// routes: the grouping keys are decoded only to be refused in words
	// that say where they belong, rather than as unknown.
	var refused notify.Grouping
	if err := notify.DecodeEntry(node, &c, &refused); err != nil {
		return nil, err
	}
	var errs []error
	if len(c.URLs) == 0 {
		errs = append(errs, notify.FieldErrorf([]any{"urls"}, "an alertmanager notifier needs urls"))
	}
	for i, u := range c.URLs {
		if err := httpurl.Validate(u); err != nil {
			errs = append(errs, &notify.FieldError{Path: []any{"urls", i}, Err: err})
		}
	}
	errs = append(errs, c.ValidateHTTP()...)
	for _, k := range refused.GroupingKeysSet() {
		errs = append(errs, notify.FieldErrorf([]any{k}, "%s does not apply to an alertmanager notifier: set it in Alertmanager's route", k))
	}
	// New's own checks of the URLs and the client, which find more than
	// the ones above (a query, a duplicate, credentials given twice, a TLS
	// file that cannot be read), so that an entry that passes `check` is
	// one the daemon starts with.
	_, _, more := endpoints(c.URLs, c.ClientConfig(), time.Now)
	errs = notify.AppendUnreported(errs, more...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &c, nil
}

// NewFromConfig builds the Sender for the notifier name from its decoded
// entry.
func NewFromConfig(name string, c *Config, env notify.Env) (*Sender, error) {
	return New(Options{Name: name, URLs: c.URLs, HTTPConfig: c.ClientConfig(), Timeout: c.TimeoutDuration(),
		Logger: env.Logger, Registerer: env.Registerer})
}
