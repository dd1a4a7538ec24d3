package receivers_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vllm-sentinel/vllm-sentinel/notify/alertmanager"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
)

// Same tells a reload which running queues it may keep: the settings of
// two decodes of one entry are the same, and any change that would build a
// different queue, a secret file's content included, makes them differ.
func TestSame(t *testing.T) {
	t.Parallel()
	r := receivers.New()
	decode := func(t *testing.T, typ, text string) any {
		t.Helper()
		s, err := r.Decode(typ, entry(t, "name: x\ntype: "+typ+"\n"+text+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		return s
	}
	slackURL := secretFile(t, "https://hooks.slack.com/services/T0/B0/XYZ")
	hookURL := secretFile(t, "https://hooks.example/alerts?token=t0k3n")
	key := secretFile(t, "whsec_"+strings.Repeat("QUJD", 8))
	for _, tc := range []struct {
		name     string
		typ      string
		old, new string
		same     bool
	}{
		{"alertmanager unchanged", "alertmanager", "urls: [http://am-1:9093, 'https://am-2:9093/prefix']\ntimeout: 5s\nhttp_config: {authorization: {credentials: tok}}", "", true},
		{"alertmanager URL", "alertmanager", "urls: [http://am-1:9093]", "urls: [http://am-2:9093]", false},
		{"alertmanager password in URL", "alertmanager", "urls: ['http://u:p@am:9093']", "urls: ['http://u:q@am:9093']", false},
		{"alertmanager URLs reordered", "alertmanager", "urls: [http://a:9093, http://b:9093]", "urls: [http://b:9093, http://a:9093]", false},
		{"alertmanager timeout", "alertmanager", "urls: [http://am:9093]\ntimeout: 5s", "urls: [http://am:9093]\ntimeout: 6s", false},
		{"alertmanager default timeout", "alertmanager", "urls: [http://am:9093]", "urls: [http://am:9093]\ntimeout: 10s", true},
		{"alertmanager credentials", "alertmanager", "urls: [http://am:9093]\nhttp_config: {authorization: {credentials: a}}", "urls: [http://am:9093]\nhttp_config: {authorization: {credentials: b}}", false},
		{"alertmanager bearer token as authorization", "alertmanager", "urls: [http://am:9093]\nhttp_config: {bearer_token: a}", "urls: [http://am:9093]\nhttp_config: {authorization: {type: Bearer, credentials: a}}", true},
		{"alertmanager empty http_config", "alertmanager", "urls: [http://am:9093]", "urls: [http://am:9093]\nhttp_config: {}", true},
		{"alertmanager proxy", "alertmanager", "urls: [http://am:9093]\nhttp_config: {proxy_url: 'http://proxy:3128'}", "", true},
		{"alertmanager TLS", "alertmanager", "urls: [https://am:9093]\nhttp_config: {tls_config: {insecure_skip_verify: true}}", "urls: [https://am:9093]", false},
		{"slack unchanged", "slack", "webhook_url_file: " + slackURL + "\ngroup_by: [slo]\ngroup_wait: 10s", "", true},
		{"slack defaults", "slack", "webhook_url_file: " + slackURL, "webhook_url_file: " + slackURL + "\ngroup_wait: 30s\ngroup_interval: 5m\nrepeat_interval: 4h\nsend_resolved: true\ntimeout: 10s", true},
		{"slack group_by order", "slack", "webhook_url_file: " + slackURL + "\ngroup_by: [slo, model_name]", "webhook_url_file: " + slackURL + "\ngroup_by: [model_name, slo, slo]", true},
		{"slack all labels", "slack", "webhook_url_file: " + slackURL + "\ngroup_by: ['...']", "webhook_url_file: " + slackURL + "\ngroup_by: [slo, '...']", true},
		{"slack group_by", "slack", "webhook_url_file: " + slackURL + "\ngroup_by: [slo]", "webhook_url_file: " + slackURL, false},
		{"slack send_resolved", "slack", "webhook_url_file: " + slackURL, "webhook_url_file: " + slackURL + "\nsend_resolved: false", false},
		{"slack repeat", "slack", "webhook_url_file: " + slackURL, "webhook_url_file: " + slackURL + "\nrepeat_interval: 1h", false},
		{"webhook unchanged", "webhook", "url_file: " + hookURL + "\nsecret_file: " + key + "\nheaders: {X-Tenant: a}", "", true},
		{"webhook header", "webhook", "url: http://h/a\nheaders: {X-Tenant: a}", "url: http://h/a\nheaders: {X-Tenant: b}", false},
		{"webhook no headers", "webhook", "url: http://h/a", "url: http://h/a\nheaders: {}", true},
		{"webhook signing key", "webhook", "url: http://h/a\nsecret_file: " + key, "url: http://h/a", false},
		{"webhook url or url_file", "webhook", "url: https://hooks.example/alerts?token=t0k3n", "url_file: " + hookURL, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.new == "" {
				tc.new = tc.old
			}
			a, b := decode(t, tc.typ, tc.old), decode(t, tc.typ, tc.new)
			if got := receivers.Same(a, b); got != tc.same {
				t.Errorf("Same = %v, want %v", got, tc.same)
			}
			if got := receivers.Same(b, a); got != tc.same {
				t.Errorf("Same, the other way = %v, want %v", got, tc.same)
			}
			if !receivers.Same(a, a) {
				t.Error("Same(a, a) = false")
			}
		})
	}
}

// A secret file whose content changed makes the settings differ, though
// the entry reads the same.
func TestSameSeesSecretFiles(t *testing.T) {
	t.Parallel()
	r := receivers.New()
	for _, tc := range []struct{ typ, key, before, after string }{
		{"slack", "webhook_url_file", "https://hooks.slack.com/services/T0/B0/OLD", "https://hooks.slack.com/services/T0/B0/NEW"},
		{"webhook", "url_file", "https://hooks.example/a?token=OLD", "https://hooks.example/a?token=NEW"},
		{"webhook", "secret_file", "whsec_" + strings.Repeat("QUJD", 8), "whsec_" + strings.Repeat("REVG", 8)},
	} {
		t.Run(tc.typ+" "+tc.key, func(t *testing.T) {
			t.Parallel()
			file := secretFile(t, tc.before)
			text := fmt.Sprintf("name: x\ntype: %s\n%s: %s\n", tc.typ, tc.key, file)
			if tc.key == "secret_file" {
				text += "url: http://h/a\n"
			}
			a, err := r.Decode(tc.typ, entry(t, text))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(tc.after), 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := r.Decode(tc.typ, entry(t, text))
			if err != nil {
				t.Fatal(err)
			}
			if receivers.Same(a, b) {
				t.Error("Same = true after the secret changed")
			}
		})
	}
}

func TestSameRefusesWhatIsNoSettings(t *testing.T) {
	t.Parallel()
	am, err := receivers.New().Decode("alertmanager", entry(t, "name: am\ntype: alertmanager\nurls: [http://am:9093]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ a, b any }{
		{nil, nil}, {am, nil}, {nil, am}, {am, "urls"}, {"x", "x"}, {1, 1},
		{(*alertmanager.Config)(nil), (*alertmanager.Config)(nil)}, {am, (*alertmanager.Config)(nil)},
		{am, &alertmanager.Config{URLs: []string{"http://other:9093"}}},
	} {
		if receivers.Same(tc.a, tc.b) {
			t.Errorf("Same(%T, %T) = true", tc.a, tc.b)
		}
	}
}

func TestHasOutbox(t *testing.T) {
	r := receivers.New()
	am, err := r.Decode("alertmanager", entry(t, "name: am\ntype: alertmanager\nurls: [http://am:9093]\n"))
	if err != nil {
		t.Fatal(err)
	}
	hook, err := r.Decode("webhook", entry(t, "name: h\ntype: webhook\nurl: http://hook.example/x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.HasOutbox(am) || !r.HasOutbox(hook) || r.HasOutbox("not settings") {
		t.Errorf("HasOutbox: alertmanager %v, webhook %v", r.HasOutbox(am), r.HasOutbox(hook))
	}
}
