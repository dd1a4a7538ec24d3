package slack

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

// `vllm-sentinel check` runs DecodeConfig; the daemon builds the notifier
// and its Dispatcher from what it decoded. The two must agree; the secret
// file of a leniently decoded entry is read as it is.
func TestDecodeConfigAgreesWithNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, content string) string { return notifytest.WriteFile(t, dir, name, content) }
	good := file("good", "https://hooks.slack.com/services/T0/B0/XYZ\n")
	agree := notifytest.DecodeAgreement[Config]{
		Head:   "name: oncall\ntype: slack\n",
		Decode: DecodeConfig,
		Build: func(c *Config) error {
			c.webhookURL, _ = notify.ReadSecret("webhook_url_file", c.WebhookURLFile, false)
			return build(c)
		},
	}
	for _, tc := range []struct {
		name, text string
		ok         bool
	}{
		{"plain", "webhook_url_file: " + good, true},
		{"grouping", "webhook_url_file: " + good + "\ngroup_by: [slo, model_name]\ngroup_wait: 10s\nsend_resolved: false", true},
		{"all labels among others", "webhook_url_file: " + good + "\ngroup_by: [slo, '...']", true},
		{"not a URL", "webhook_url_file: " + file("path", "hooks.slack.com/services/T0"), false},
		{"no host", "webhook_url_file: " + file("nohost", "https:///services/T0"), false},
		{"scheme", "webhook_url_file: " + file("scheme", "ftp://hooks.slack.com/services/T0"), false},
		{"host not UTF-8", "webhook_url_file: " + file("utf8", "https://hooks%80.slack.com/services/T0"), false},
		{"missing file", "webhook_url_file: " + filepath.Join(dir, "missing"), false},
		{"CA file missing", "webhook_url_file: " + good + "\nhttp_config: {tls_config: {ca_file: /nonexistent/ca.pem}}", false},
		{"inline CA garbage", "webhook_url_file: " + good + "\nhttp_config: {tls_config: {ca: garbage}}", false},
		{"secret ref", "webhook_url_file: " + good + "\nhttp_config: {authorization: {credentials_ref: vault}}", false},
		{"bad label", "webhook_url_file: " + good + "\ngroup_by: [a-b]", false},
	} {
		agree.Run(t, tc.name, tc.text, tc.ok)
	}
}

// Build is build, for the fuzz target in package slack_test.
var Build = build

// build makes what receivers.Build makes of a slack entry.
func build(c *Config) error {
	n, err := NewFromConfig("oncall", c, notify.Env{})
	if err != nil {
		return err
	}
	_, err = dispatch.New(n, dispatch.Options{Name: "oncall"}.WithGrouping(c.Grouping))
	return err
}

// FuzzCheckBody judges any 2xx body: never a panic, success for what Slack
// and services that speak its protocol answer on success, and a refusal,
// always with status 200, for the rest.
func FuzzCheckBody(f *testing.F) {
	for _, s := range []string{
		"ok", "ok\n", " ok ", "", "OK", "okay", "ok ok",
		`{"ok":true}`, `{"ok":true,"channel":"C0","ts":"1.2","message":{"text":"x"}}`, `{"success":true}`, `{}`,
		`{"ok":false,"error":"invalid_blocks"}`, `{"ok":false,"error":"ratelimited"}`, `{"ok":false,"error":" ratelimited "}`,
		`{"ok":false}`, `{"ok":false,"error":null}`, `{"ok":false,"error":""}`, `{"ok":false,"error":{"a":[1,2]}}`,
		`{"ok":"false"}`, `{"ok":null}`, `{"ok":false,"ok":true}`, `{"ok": tru`, `{`, `}`, `[true]`, `null`, `"ok"`,
		"<html><body>proxy login</body></html>", "\x00\xff\xfe", "\ufeffok", strings.Repeat("{", 10000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := checkBody(body)
		trimmed := strings.TrimSpace(string(body))
		if (trimmed == "" || trimmed == "ok") && err != nil {
			t.Fatalf("checkBody(%q) = %v, want success", body, err)
		}
		if err == nil {
			return
		}
		se, ok := err.(*notify.StatusError)
		if !ok || se.Code != 200 || se.Reason == "" {
			t.Fatalf("checkBody(%q) = %#v, want a *notify.StatusError for 200 with a reason", body, err)
		}
		if se.Transient && !transientErrors[strings.TrimSpace(se.Reason)] {
			t.Fatalf("checkBody(%q): %q retried", body, se.Reason)
		}
	})
}
