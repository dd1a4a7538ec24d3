package slack

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
)

// `vllm-sentinel check` runs DecodeConfig; the daemon builds the notifier
// and its Dispatcher from what it decoded. The two must agree, or a check
// that passes in ExecStartPre is followed by a start that fails. Each entry
// is also decoded leniently, without DecodeConfig's checks and with the
// secret file read as it is, to see what the constructors make of it.
func TestDecodeConfigAgreesWithNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := file("good", "https://hooks.slack.com/services/T0/B0/XYZ\n")
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
		{"missing file", "webhook_url_file: " + filepath.Join(dir, "missing"), false},
		{"CA file missing", "webhook_url_file: " + good + "\nhttp_config: {tls_config: {ca_file: /nonexistent/ca.pem}}", false},
		{"inline CA garbage", "webhook_url_file: " + good + "\nhttp_config: {tls_config: {ca: garbage}}", false},
		{"secret ref", "webhook_url_file: " + good + "\nhttp_config: {authorization: {credentials_ref: vault}}", false},
		{"bad label", "webhook_url_file: " + good + "\ngroup_by: [a-b]", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := "name: oncall\ntype: slack\n" + tc.text + "\n"
			_, decodeErr := DecodeConfig(entryNode(t, text))
			var c Config
			if err := entryNode(t, text).Decode(&c); err != nil {
				t.Fatalf("lenient decode: %v", err)
			}
			c.webhookURL, _ = notify.ReadSecret("webhook_url_file", c.WebhookURLFile, false)
			buildErr := build(&c)
			if (decodeErr == nil) != (buildErr == nil) {
				t.Fatalf("DecodeConfig: %v\nbuild: %v\nwant both to fail or neither", decodeErr, buildErr)
			}
			if (decodeErr == nil) != tc.ok {
				t.Errorf("DecodeConfig: %v, want ok=%v", decodeErr, tc.ok)
			}
		})
	}
}

// build makes what receivers.Build makes of a slack entry.
func build(c *Config) error {
	n, err := NewFromConfig("oncall", c, notify.Env{})
	if err != nil {
		return err
	}
	_, err = dispatch.New(n, dispatch.Options{Name: "oncall"}.WithGrouping(c.Grouping))
	return err
}

func entryNode(t testing.TB, text string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("test entry is not YAML: %v", err)
	}
	return &doc
}
