package webhook

import (
	"errors"

	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/internal/httpurl"
	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// Config is the settings of a webhook entry of notifiers:. The URL comes
// from url, or from url_file when it holds a token; the signing key from
// secret_file. Both files are read when the entry is decoded, and what
// they hold is handed out by SecretURL and SigningKey alone.
type Config struct {
	URL     string `yaml:"url,omitempty"`
	URLFile string `yaml:"url_file,omitempty"`
	// SecretFile holds a Standard Webhooks signing secret, whsec_<base64>;
	// without it payloads go unsigned.
	SecretFile string `yaml:"secret_file,omitempty"`
	// Headers are added to every request; their values are never logged.
	Headers             map[string]string `yaml:"headers,omitempty"`
	notify.HTTPSettings `yaml:",inline"`
	notify.Grouping     `yaml:",inline"`

	secretURL, signingKey *notify.Secret
}

// SecretURL returns the URL read from URLFile; "" when URL is given.
func (c *Config) SecretURL() string { return c.secretURL.Reveal() }

// SigningKey returns the signing secret read from SecretFile; "" without
// one.
func (c *Config) SigningKey() string { return c.signingKey.Reveal() }

// ReceiverURL is where the payloads go: URL, or the one read from URLFile.
func (c *Config) ReceiverURL() string {
	if c.URL != "" {
		return c.URL
	}
	return c.SecretURL()
}

// DecodeConfig decodes and checks a webhook entry of notifiers: (name and
// type included, and skipped) and reads its secret files. Unknown keys and
// wrong types are a *yaml.TypeError; the problems found after decoding are
// *notify.FieldErrors, joined. No error holds a secret.
func DecodeConfig(node *yaml.Node) (*Config, error) {
	var c Config
	if err := notify.DecodeEntry(node, &c); err != nil {
		return nil, err
	}
	errs := c.readSecrets()
	errs = append(append(errs, c.ValidateHTTP()...), c.ValidateGrouping()...)
	// What New checks besides, so that an entry that passes `check` is one
	// the daemon starts with: the headers, the client's TLS files.
	_, herrs := checkHeaders(c.Headers)
	errs = append(errs, herrs...)
	urlKey := "url"
	if c.URL == "" {
		urlKey = "url_file"
	}
	errs = notify.AppendUnreported(errs, notify.CheckPost(urlKey, c.ReceiverURL(), c.HTTPSettings, "webhook")...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &c, nil
}

// readSecrets checks url and reads url_file and secret_file.
func (c *Config) readSecrets() []error {
	var errs []error
	var err error
	switch {
	case c.URL != "" && c.URLFile != "":
		errs = append(errs, notify.FieldErrorf([]any{"url_file"}, "set url or url_file, not both"))
	case c.URL != "":
		if err := httpurl.Validate(c.URL); err != nil {
			errs = append(errs, &notify.FieldError{Path: []any{"url"}, Err: err})
		}
	default:
		if c.secretURL, err = notify.ReadSecret("url_file", c.URLFile, true); err != nil {
			errs = append(errs, err)
		}
	}
	if c.SecretFile == "" {
		return errs
	}
	if c.signingKey, err = notify.ReadSecret("secret_file", c.SecretFile, false); err != nil {
		return append(errs, err)
	}
	if _, err := ParseSigningKey(c.SigningKey()); err != nil {
		// The parser's error never quotes the key.
		errs = append(errs, notify.FieldErrorf([]any{"secret_file"}, "signing key in %s: %v", c.SecretFile, err))
	}
	return errs
}

// NewFromConfig builds the Notifier for the notifier name from its decoded
// entry. Grouping is not its business but the Dispatcher's in front of it.
func NewFromConfig(name string, c *Config, env notify.Env) (*Notifier, error) {
	return New(Options{Name: name, URL: c.ReceiverURL(), SigningKey: c.SigningKey(), Headers: c.Headers,
		HTTPConfig: c.ClientConfig(), Timeout: c.TimeoutDuration(), ExternalURL: env.ExternalURL,
		Logger: env.Logger, Registerer: env.Registerer})
}
