package slack

import (
	"errors"

	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// Config is the settings of a slack entry of notifiers:. The webhook URL
// is a bearer token: it comes only from webhook_url_file, is read when the
// entry is decoded, and is handed out by WebhookURL alone.
type Config struct {
	// WebhookURLFile names the file that holds the incoming webhook URL.
	WebhookURLFile      string `yaml:"webhook_url_file"`
	notify.HTTPSettings `yaml:",inline"`
	notify.Grouping     `yaml:",inline"`

	webhookURL *notify.Secret
}

// WebhookURL returns the URL read from WebhookURLFile.
func (c *Config) WebhookURL() string { return c.webhookURL.Reveal() }

// DecodeConfig decodes and checks a slack entry of notifiers: (name and
// type included, and skipped) and reads the webhook URL from its file.
// Unknown keys and wrong types are a *yaml.TypeError; the problems found
// after decoding are *notify.FieldErrors, joined. No error holds the URL.
func DecodeConfig(node *yaml.Node) (*Config, error) {
	var c Config
	// A url key is accepted only to be refused with the reason.
	var refused struct {
		URL string `yaml:"url"`
	}
	if err := notify.DecodeEntry(node, &c, &refused); err != nil {
		return nil, err
	}
	var errs []error
	if refused.URL != "" {
		errs = append(errs, notify.FieldErrorf([]any{"url"}, "put the Slack webhook URL in a file and name it in webhook_url_file: it is a secret"))
	}
	var err error
	if c.webhookURL, err = notify.ReadSecret("webhook_url_file", c.WebhookURLFile, true); err != nil {
		errs = append(errs, err)
	}
	errs = append(append(errs, c.ValidateHTTP()...), c.ValidateGrouping()...)
	// What New checks besides, so that an entry that passes `check` is one
	// the daemon starts with: the client's TLS files, for one.
	errs = notify.AppendUnreported(errs, notify.CheckPost("webhook_url_file", c.WebhookURL(), c.HTTPSettings, "slack")...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &c, nil
}

// NewFromConfig builds the Notifier for the notifier name from its decoded
// entry. Grouping is not its business but the Dispatcher's in front of it.
func NewFromConfig(name string, c *Config, env notify.Env) (*Notifier, error) {
	return New(Options{Name: name, WebhookURL: c.WebhookURL(), HTTPConfig: c.ClientConfig(), Timeout: c.TimeoutDuration(),
		ExternalURL: env.ExternalURL, Logger: env.Logger, Registerer: env.Registerer})
}
