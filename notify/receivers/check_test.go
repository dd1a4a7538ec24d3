package receivers_test

import (
	"testing"

	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
)

// `vllm-sentinel check` in a systemd ExecStartPre runs Decode; the start
// runs Build. An entry that passes the first must pass the second, and one
// that Build would refuse must not pass the first. (Each receiver package
// compares its DecodeConfig with its constructors on entries Decode
// refuses too.)
func TestDecodeRefusesWhatBuildRefuses(t *testing.T) {
	t.Parallel()
	r := receivers.New()
	slackURL := secretFile(t, "https://hooks.slack.com/services/T0/B0/XYZ")
	for _, tc := range []struct {
		name, typ, text string
		ok              bool
	}{
		{"alertmanager", "alertmanager", "urls: [http://am:9093]", true},
		{"alertmanager query", "alertmanager", "urls: ['http://am:9093/?x=1']", false},
		{"alertmanager fragment", "alertmanager", "urls: ['http://am:9093/#x']", false},
		{"alertmanager duplicate", "alertmanager", "urls: [http://am:9093, 'http://am:9093/']", false},
		{"alertmanager credentials twice", "alertmanager", "urls: ['http://u:p@am:9093']\nhttp_config: {bearer_token: t}", false},
		{"alertmanager CA file", "alertmanager", "urls: [https://am:9093]\nhttp_config: {tls_config: {ca_file: /nonexistent/ca.pem}}", false},
		{"slack", "slack", "webhook_url_file: " + slackURL, true},
		{"slack all labels and more", "slack", "webhook_url_file: " + slackURL + "\ngroup_by: [slo, '...']", true},
		{"slack CA file", "slack", "webhook_url_file: " + slackURL + "\nhttp_config: {tls_config: {ca_file: /nonexistent/ca.pem}}", false},
		{"webhook", "webhook", "url: http://h/a\nheaders: {X-Tenant: a}", true},
		{"webhook reserved header", "webhook", "url: http://h/a\nheaders: {Webhook-Signature: x}", false},
		{"webhook bad header name", "webhook", "url: http://h/a\nheaders: {'X Tenant': a}", false},
		{"webhook header value", "webhook", "url: http://h/a\nheaders: {X-Tenant: \"a\\nb\"}", false},
		{"webhook secret ref", "webhook", "url: http://h/a\nhttp_config: {authorization: {credentials_ref: vault}}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			settings, err := r.Decode(tc.typ, entry(t, "name: x\ntype: "+tc.typ+"\n"+tc.text+"\n"))
			if !tc.ok {
				if err == nil {
					t.Fatal("Decode accepted what Build refuses")
				}
				for _, p := range fieldErrors(t, err) {
					if len(p.path) == 0 {
						t.Errorf("problem %q has no path", p.msg)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Build("x", settings, receivers.Env{}); err != nil {
				t.Errorf("Decode accepted, Build refused: %v", err)
			}
		})
	}
}
