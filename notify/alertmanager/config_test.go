package alertmanager

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
)

// entryNode parses one notifiers: entry.
func entryNode(t testing.TB, text string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("test entry is not YAML: %v", err)
	}
	return &doc
}

// `vllm-sentinel check` runs DecodeConfig; the daemon runs New on what it
// decoded. The two must agree, or a check that passes in ExecStartPre is
// followed by a start that fails. Each entry is also decoded leniently,
// without DecodeConfig's checks, to see what New makes of it.
func TestDecodeConfigAgreesWithNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		ok         bool
	}{
		{"plain", "urls: [http://am:9093]", true},
		{"two, with prefix and credentials", "urls: [http://am-1:9093, 'https://u:p@am-2:9093/prefix/']", true},
		{"query", "urls: ['http://am:9093/?x=1']", false},
		{"empty query", "urls: ['http://am:9093?']", false},
		{"fragment", "urls: ['http://am:9093/#top']", false},
		{"duplicate", "urls: [http://am:9093, 'http://am:9093/']", false},
		{"credentials twice", "urls: ['http://u:p@am:9093']\nhttp_config: {basic_auth: {username: a, password: b}}", false},
		{"credentials in the URL and a token", "urls: ['http://u:p@am:9093']\nhttp_config: {authorization: {credentials: t}}", false},
		{"CA file missing", "urls: [http://am:9093]\nhttp_config: {tls_config: {ca_file: /nonexistent/ca.pem}}", false},
		{"client cert missing", "urls: [https://am:9093]\nhttp_config: {tls_config: {cert_file: /nonexistent/c.pem, key_file: /nonexistent/k.pem}}", false},
		{"secret ref", "urls: [http://am:9093]\nhttp_config: {basic_auth: {username: u, password_ref: vault}}", false},
		{"scheme", "urls: ['ftp://am']", false},
		{"no host", "urls: ['http://']", false},
		{"bad port", "urls: ['http://am:port']", false},
		{"host not UTF-8", "urls: ['http://0%80']", false},
		{"no urls", "urls: []", false},
		{"timeout", "urls: [http://am:9093]\ntimeout: 1d", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := "name: am\ntype: alertmanager\n" + tc.text + "\n"
			_, decodeErr := DecodeConfig(entryNode(t, text))
			var c Config
			if err := entryNode(t, text).Decode(&c); err != nil {
				t.Fatalf("lenient decode: %v", err)
			}
			_, newErr := NewFromConfig("am", &c, notify.Env{})
			if (decodeErr == nil) != (newErr == nil) {
				t.Fatalf("DecodeConfig: %v\nNew: %v\nwant both to fail or neither", decodeErr, newErr)
			}
			if (decodeErr == nil) != tc.ok {
				t.Errorf("DecodeConfig: %v, want ok=%v", decodeErr, tc.ok)
			}
		})
	}
}
