package alertmanager

import (
	"testing"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

// `vllm-sentinel check` runs DecodeConfig; the daemon runs New on what it
// decoded. The two must agree.
func TestDecodeConfigAgreesWithNew(t *testing.T) {
	t.Parallel()
	agree := notifytest.DecodeAgreement[Config]{
		Head:   "name: am\ntype: alertmanager\n",
		Decode: DecodeConfig,
		Build: func(c *Config) error {
			_, err := NewFromConfig("am", c, notify.Env{})
			return err
		},
	}
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
		agree.Run(t, tc.name, tc.text, tc.ok)
	}
}
