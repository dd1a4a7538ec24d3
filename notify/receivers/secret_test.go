package receivers_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
)

// What the secret files hold never shows in an error, nor when a decoded
// config is printed or marshalled.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	const marker = "SECRETMARKER"
	slackURL := secretFile(t, "https://hooks.slack.com/services/T0/B0/"+marker)
	hookURL := secretFile(t, "https://hooks.example/alerts?token="+marker)
	key := secretFile(t, "whsec_"+strings.Repeat("QUJD", 8))
	r := receivers.New()

	for _, tc := range []struct{ name, typ, text string }{
		{"slack file not a URL", "slack", "webhook_url_file: " + secretFile(t, "hooks/"+marker)},
		{"slack URL inline", "slack", "url: https://hooks.slack.com/services/" + marker + "\nwebhook_url_file: " + slackURL},
		{"webhook file not a URL", "webhook", "url_file: " + secretFile(t, marker+"://")},
		{"key not base64", "webhook", "url: http://h\nsecret_file: " + secretFile(t, "whsec_"+marker+"!")},
		{"key short", "webhook", "url: http://h\nsecret_file: " + secretFile(t, marker)},
		{"key as URL", "webhook", "url_file: " + hookURL + "\nsecret_file: " + secretFile(t, "https://"+marker)},
	} {
		_, err := r.Decode(tc.typ, entry(t, "name: x\ntype: "+tc.typ+"\n"+tc.text+"\n"))
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if strings.Contains(err.Error(), marker) {
			t.Errorf("%s: the secret is in the error: %v", tc.name, err)
		}
	}

	for _, tc := range []struct{ typ, text string }{
		{"slack", "webhook_url_file: " + slackURL},
		{"webhook", "url_file: " + hookURL + "\nsecret_file: " + key},
	} {
		c, err := r.Decode(tc.typ, entry(t, "name: x\ntype: "+tc.typ+"\n"+tc.text+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		for form, out := range map[string]string{
			"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
			"value %+v": fmt.Sprintf("%+v", reflect.ValueOf(c).Elem().Interface()), "yaml": string(y), "json": string(j),
		} {
			if strings.Contains(out, marker) || strings.Contains(out, "QUJD") {
				t.Errorf("%s config printed as %s shows a secret: %s", tc.typ, form, out)
			}
		}
	}
}
