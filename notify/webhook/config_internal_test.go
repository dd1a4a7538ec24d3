package webhook

import (
	"strings"
	"testing"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

// `vllm-sentinel check` runs DecodeConfig; the daemon builds the notifier
// and its Dispatcher from what it decoded. The two must agree; the secret
// files of a leniently decoded entry are read as they are.
func TestDecodeConfigAgreesWithNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, content string) string { return notifytest.WriteFile(t, dir, name, content) }
	key := file("key", "whsec_"+strings.Repeat("QUJD", 8))
	agree := notifytest.DecodeAgreement[Config]{
		Head:   "name: hooks\ntype: webhook\n",
		Decode: DecodeConfig,
		Build: func(c *Config) error {
			if c.URLFile != "" {
				c.secretURL, _ = notify.ReadSecret("url_file", c.URLFile, false)
			}
			if c.SecretFile != "" {
				c.signingKey, _ = notify.ReadSecret("secret_file", c.SecretFile, false)
			}
			return build(c)
		},
	}
	for _, tc := range []struct {
		name, text string
		ok         bool
	}{
		{"plain", "url: http://hooks.example/alerts", true},
		{"signed, with headers", "url: http://hooks.example/alerts\nsecret_file: " + key + "\nheaders: {X-Scope-OrgID: team-a, Authorization: Bearer t}", true},
		{"url in a file", "url_file: " + file("url", "https://hooks.example/a?token=t"), true},
		{"all labels among others", "url: http://hooks.example/alerts\ngroup_by: [slo, '...']", true},
		{"reserved header", "url: http://hooks.example/alerts\nheaders: {webhook-id: x}", false},
		{"content type header", "url: http://hooks.example/alerts\nheaders: {Content-Type: text/plain}", false},
		{"header name with a space", "url: http://hooks.example/alerts\nheaders: {'X Tenant': a}", false},
		{"header name with a colon", "url: http://hooks.example/alerts\nheaders: {'X:Tenant': a}", false},
		{"empty header name", "url: http://hooks.example/alerts\nheaders: {'': a}", false},
		{"header value with a line break", "url: http://hooks.example/alerts\nheaders: {X-Tenant: \"a\\r\\nX-Admin: 1\"}", false},
		{"header value with a NUL", "url: http://hooks.example/alerts\nheaders: {X-Tenant: \"a\\0b\"}", false},
		{"header twice", "url: http://hooks.example/alerts\nheaders: {X-Tenant: a, x-tenant: b}", false},
		{"bad url", "url: ftp://hooks.example", false},
		{"host not UTF-8", "url: 'http://hooks%80.example/a'", false},
		{"url file not a URL", "url_file: " + file("noturl", "hooks.example/a"), false},
		{"bad signing key", "url: http://hooks.example/alerts\nsecret_file: " + file("badkey", "whsec_QUJD"), false},
		{"CA file missing", "url: https://hooks.example/alerts\nhttp_config: {tls_config: {ca_file: /nonexistent/ca.pem}}", false},
		{"secret ref", "url: http://hooks.example/alerts\nhttp_config: {basic_auth: {username: u, password_ref: vault}}", false},
	} {
		agree.Run(t, tc.name, tc.text, tc.ok)
	}
}

// Build is build, for the fuzz target in package webhook_test.
var Build = build

// build makes what receivers.Build makes of a webhook entry.
func build(c *Config) error {
	n, err := NewFromConfig("hooks", c, notify.Env{})
	if err != nil {
		return err
	}
	_, err = dispatch.New(n, dispatch.Options{Name: "hooks"}.WithGrouping(c.Grouping))
	return err
}
