package receivers_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/notify/alertmanager"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
	"github.com/vllm-sentinel/vllm-sentinel/notify/slack"
	"github.com/vllm-sentinel/vllm-sentinel/notify/webhook"
)

func TestTypes(t *testing.T) {
	t.Parallel()
	if got, want := receivers.New().Types(), []string{"alertmanager", "slack", "webhook"}; !slices.Equal(got, want) {
		t.Errorf("Types() = %v, want %v", got, want)
	}
}

func TestDecodeUnknownType(t *testing.T) {
	t.Parallel()
	r := receivers.New()
	for typ, want := range map[string]string{
		"":      "type is required: alertmanager, slack or webhook",
		"pager": `unknown notifier type "pager" (want alertmanager, slack or webhook)`,
	} {
		_, err := r.Decode(typ, entry(t, "name: x\ntype: "+typ+"\n"))
		if err == nil || err.Error() != want {
			t.Errorf("Decode(%q) = %v, want %q", typ, err, want)
		}
	}
}

func TestDecodeAlertmanager(t *testing.T) {
	t.Parallel()
	s, err := receivers.New().Decode("alertmanager", entry(t, `
name: am
type: alertmanager
urls: [http://am-1:9093, https://am-2:9093/prefix]
timeout: 1d
http_config: {authorization: {credentials: tok}}
`))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := s.(*alertmanager.Config)
	if !ok {
		t.Fatalf("Decode returned %T, want *alertmanager.Config", s)
	}
	if !slices.Equal(c.URLs, []string{"http://am-1:9093", "https://am-2:9093/prefix"}) {
		t.Errorf("urls %v", c.URLs)
	}
	if c.Timeout != model.Duration(24*time.Hour) {
		t.Errorf("timeout %v, want 1d", c.Timeout)
	}
	if c.HTTPConfig == nil || c.HTTPConfig.Authorization == nil || c.HTTPConfig.Authorization.Credentials != "tok" {
		t.Errorf("http_config %+v", c.HTTPConfig)
	}
	// commoncfg's defaults hold for what the entry leaves out.
	if !c.HTTPConfig.FollowRedirects || !c.HTTPConfig.EnableHTTP2 {
		t.Errorf("http_config lost its defaults: %+v", c.HTTPConfig)
	}
}

func TestDecodeSlack(t *testing.T) {
	t.Parallel()
	url := secretFile(t, "https://hooks.slack.com/services/T0/B0/XYZ\n")
	s, err := receivers.New().Decode("slack", entry(t, fmt.Sprintf(`
name: oncall
type: slack
webhook_url_file: %s
group_by: [slo, "..."]
group_wait: 10s
group_interval: 28d
repeat_interval: 1w
send_resolved: false
`, url)))
	if err != nil {
		t.Fatal(err)
	}
	c := s.(*slack.Config)
	if c.WebhookURL() != "https://hooks.slack.com/services/T0/B0/XYZ" {
		t.Errorf("webhook URL %q", c.WebhookURL())
	}
	if c.WebhookURLFile != url || c.HTTPConfig != nil {
		t.Errorf("config %+v", c)
	}
	if !slices.Equal(c.GroupBy, []string{"slo", "..."}) || c.GroupWait != model.Duration(10*time.Second) ||
		c.GroupInterval != model.Duration(28*24*time.Hour) || c.RepeatInterval != model.Duration(7*24*time.Hour) {
		t.Errorf("grouping %+v", c.Grouping)
	}
	if c.SendsResolved() {
		t.Error("send_resolved: false sends resolved")
	}
}

func TestDecodeWebhook(t *testing.T) {
	t.Parallel()
	key := secretFile(t, "whsec_"+strings.Repeat("QUJD", 8)+"\n")
	url := secretFile(t, "https://hooks.example/alerts?token=t0k3n")
	s, err := receivers.New().Decode("webhook", entry(t, fmt.Sprintf(`
name: hooks
type: webhook
url_file: %s
secret_file: %s
headers: {X-Scope-OrgID: Team-A}
`, url, key)))
	if err != nil {
		t.Fatal(err)
	}
	c := s.(*webhook.Config)
	if c.SecretURL() != "https://hooks.example/alerts?token=t0k3n" || c.ReceiverURL() != c.SecretURL() {
		t.Errorf("secret URL %q, receiver URL %q", c.SecretURL(), c.ReceiverURL())
	}
	if c.SigningKey() != "whsec_"+strings.Repeat("QUJD", 8) {
		t.Errorf("signing key %q", c.SigningKey())
	}
	// Header names keep their case.
	if !reflect.DeepEqual(c.Headers, map[string]string{"X-Scope-OrgID": "Team-A"}) {
		t.Errorf("headers %v", c.Headers)
	}
	if !c.SendsResolved() {
		t.Error("send_resolved left out does not send resolved")
	}

	s, err = receivers.New().Decode("webhook", entry(t, "name: h\ntype: webhook\nurl: http://hooks.example/a\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c := s.(*webhook.Config); c.ReceiverURL() != "http://hooks.example/a" || c.SecretURL() != "" || c.SigningKey() != "" {
		t.Errorf("url given: receiver %q, secret %q, key %q", c.ReceiverURL(), c.SecretURL(), c.SigningKey())
	}
}

// Decoding is strict, and each problem names its line the way yaml.v3
// does, so the config loader reports it as file:line.
func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	url := secretFile(t, "https://hooks.slack.com/services/T0/B0/XYZ")
	for _, tc := range []struct {
		name, typ, text string
		want            []string
	}{
		{"unknown key", "alertmanager", "name: am\ntype: alertmanager\nurls: [http://am:9093]\ncolour: red\n",
			[]string{"line 4: field colour not found in type alertmanager.Config"}},
		{"key of another type", "webhook", "name: h\ntype: webhook\nurl: http://h\nwebhook_url_file: /x\nurls: [http://h]\n",
			[]string{"line 4: field webhook_url_file not found in type webhook.Config", "line 5: field urls not found in type webhook.Config"}},
		{"unknown key in http_config", "slack", "name: s\ntype: slack\nwebhook_url_file: " + url + "\nhttp_config:\n  tls_config:\n    insecure: true\n",
			[]string{"line 6: field insecure not found in type config.TLSConfig"}},
		{"duplicate key", "webhook", "name: h\ntype: webhook\nurl: http://h\nurl: http://i\n",
			[]string{"line 4: field url already set in type webhook.Config"}},
		{"bad duration", "alertmanager", "name: am\ntype: alertmanager\nurls: [http://am:9093]\ntimeout: 5x\n",
			[]string{`line 4: invalid duration "5x" (want e.g. 30s, 5m, 1h, 28d, 1w)`}},
		{"bad grouping duration", "slack", "name: s\ntype: slack\nwebhook_url_file: " + url + "\n\ngroup_wait: four weeks\n",
			[]string{`line 5: invalid duration "four weeks" (want e.g. 30s, 5m, 1h, 28d, 1w)`}},
		{"wrong type", "alertmanager", "name: am\ntype: alertmanager\nurls: http://am:9093\n",
			[]string{"line 3: cannot unmarshal !!str `http://...` into []string"}},
		{"wrong type in a list", "slack", "name: s\ntype: slack\nwebhook_url_file: " + url + "\ngroup_by: [slo, {a: b}]\n",
			[]string{"line 4: cannot unmarshal !!map into string"}},
		{"bad http_config", "webhook", "name: h\ntype: webhook\nurl: http://h\nhttp_config: {bearer_token: a, bearer_token_file: b}\n",
			[]string{"line 4: at most one of bearer_token & bearer_token_file must be configured"}},
		{"not a mapping", "webhook", "[a, b]\n",
			[]string{"line 1: cannot unmarshal !!seq into webhook.Config"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := typeErrors(t, decodeFails(t, tc.typ, tc.text)); !slices.Equal(got, tc.want) {
				t.Errorf("errors\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// Each check of a value is a *notify.FieldError at the setting's path
// within the entry, in the config loader's words.
func TestDecodeValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := dir + "/missing"
	empty := secretFile(t, " \n")
	notURL := secretFile(t, "hooks.slack.com/services/T0/B0/XYZ")
	slackURL := secretFile(t, "https://hooks.slack.com/services/T0/B0/XYZ")
	badKey := secretFile(t, "whsec_not base64!")
	shortKey := secretFile(t, "whsec_QUJD")
	for _, tc := range []struct {
		name, typ, text string
		want            []problem
	}{
		{"no urls", "alertmanager", "name: am\ntype: alertmanager\n",
			[]problem{{[]any{"urls"}, "an alertmanager notifier needs urls"}}},
		{"empty urls", "alertmanager", "name: am\ntype: alertmanager\nurls: []\n",
			[]problem{{[]any{"urls"}, "an alertmanager notifier needs urls"}}},
		{"bad urls", "alertmanager", "name: am\ntype: alertmanager\nurls: [http://am:9093, 'ftp://am', 'http://', 'ftp://u:pw@am']\n",
			[]problem{
				{[]any{"urls", 1}, `invalid URL "ftp://am": want http(s)://host[:port][/path]`},
				{[]any{"urls", 2}, `invalid URL "http://": want http(s)://host[:port][/path]`},
				{[]any{"urls", 3}, `invalid URL "ftp://u:xxxxx@am": want http(s)://host[:port][/path]`},
			}},
		{"grouping refused", "alertmanager", "name: am\ntype: alertmanager\nurls: [http://am:9093]\ngroup_by: []\ngroup_wait: 1s\ngroup_interval: 1m\nrepeat_interval: 1h\nsend_resolved: true\n",
			[]problem{
				{[]any{"group_by"}, "group_by does not apply to an alertmanager notifier: set it in Alertmanager's route"},
				{[]any{"group_wait"}, "group_wait does not apply to an alertmanager notifier: set it in Alertmanager's route"},
				{[]any{"group_interval"}, "group_interval does not apply to an alertmanager notifier: set it in Alertmanager's route"},
				{[]any{"repeat_interval"}, "repeat_interval does not apply to an alertmanager notifier: set it in Alertmanager's route"},
				{[]any{"send_resolved"}, "send_resolved does not apply to an alertmanager notifier: set it in Alertmanager's route"},
			}},
		{"slack url", "slack", "name: s\ntype: slack\nurl: https://hooks.slack.com/services/T0/B0/XYZ\nwebhook_url_file: " + slackURL + "\n",
			[]problem{{[]any{"url"}, "put the Slack webhook URL in a file and name it in webhook_url_file: it is a secret"}}},
		{"slack no file", "slack", "name: s\ntype: slack\n",
			[]problem{{[]any{"webhook_url_file"}, "required"}}},
		{"slack missing file", "slack", "name: s\ntype: slack\nwebhook_url_file: " + missing + "\n",
			[]problem{{[]any{"webhook_url_file"}, "cannot read secret file " + missing + ": no such file or directory"}}},
		{"slack empty file", "slack", "name: s\ntype: slack\nwebhook_url_file: " + empty + "\n",
			[]problem{{[]any{"webhook_url_file"}, "secret file " + empty + " is empty"}}},
		{"slack not a URL", "slack", "name: s\ntype: slack\nwebhook_url_file: " + notURL + "\n",
			[]problem{{[]any{"webhook_url_file"}, "secret file " + notURL + " does not hold an http(s) URL"}}},
		{"group_by", "slack", "name: s\ntype: slack\nwebhook_url_file: " + slackURL + "\ngroup_by: [slo, model-name, '...']\n",
			[]problem{{[]any{"group_by", 1}, `invalid label name "model-name"`}}},
		{"webhook both urls", "webhook", "name: h\ntype: webhook\nurl: http://h\nurl_file: " + slackURL + "\n",
			[]problem{{[]any{"url_file"}, "set url or url_file, not both"}}},
		{"webhook no url", "webhook", "name: h\ntype: webhook\n",
			[]problem{{[]any{"url_file"}, "required"}}},
		{"webhook bad url", "webhook", "name: h\ntype: webhook\nurl: mailto:ops@example.com\n",
			[]problem{{[]any{"url"}, `invalid URL "mailto:ops@example.com": want http(s)://host[:port][/path]`}}},
		{"webhook url file not a URL", "webhook", "name: h\ntype: webhook\nurl_file: " + notURL + "\n",
			[]problem{{[]any{"url_file"}, "secret file " + notURL + " does not hold an http(s) URL"}}},
		{"signing key not base64", "webhook", "name: h\ntype: webhook\nurl: http://h\nsecret_file: " + badKey + "\n",
			[]problem{{[]any{"secret_file"}, "signing key in " + badKey + ": signing key: not whsec_ followed by standard base64"}}},
		{"signing key short", "webhook", "name: h\ntype: webhook\nurl: http://h\nsecret_file: " + shortKey + "\n",
			[]problem{{[]any{"secret_file"}, "signing key in " + shortKey + ": signing key: 3 bytes, want at least 24"}}},
		{"signing key file empty", "webhook", "name: h\ntype: webhook\nurl: http://h\nsecret_file: " + empty + "\n",
			[]problem{{[]any{"secret_file"}, "secret file " + empty + " is empty"}}},
		{"all at once", "webhook", "name: h\ntype: webhook\nurl: ftp://h\nsecret_file: " + missing + "\ngroup_by: [a-b]\n",
			[]problem{
				{[]any{"url"}, `invalid URL "ftp://h": want http(s)://host[:port][/path]`},
				{[]any{"secret_file"}, "cannot read secret file " + missing + ": no such file or directory"},
				{[]any{"group_by", 0}, `invalid label name "a-b"`},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := fieldErrors(t, decodeFails(t, tc.typ, tc.text)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

// A FieldError prints as the loader prefixes it: path, then the problem.
func TestFieldErrorText(t *testing.T) {
	t.Parallel()
	_, err := receivers.New().Decode("alertmanager", entry(t, "name: am\ntype: alertmanager\nurls: [http://a, 'ftp://b']\n"))
	if got, want := err.Error(), `urls[1]: invalid URL "ftp://b": want http(s)://host[:port][/path]`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
