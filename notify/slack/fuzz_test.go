package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
	"github.com/vllm-sentinel/vllm-sentinel/notify/slack"
)

// Secret file contents for FuzzDecodeConfig; none may show in an error.
const (
	fuzzURL = "https://hooks.slack.com/services/T0SECRET/B0SECRET/URLMARKER42"
	fuzzRaw = "hooks.slack.com/services/RAWMARKER42"
)

// FuzzDecodeConfig decodes the first node of a YAML document as a slack
// entry. $URLFILE and $RAWFILE stand for files that hold a webhook URL and
// something that is none. DecodeConfig never panics, its errors never show
// what the files hold, and what it accepts, the constructors accept.
func FuzzDecodeConfig(f *testing.F) {
	for _, s := range []string{
		"name: oncall\ntype: slack\nwebhook_url_file: $URLFILE\n",
		"name: oncall\ntype: slack\nwebhook_url_file: $URLFILE\ngroup_by: [slo, model_name]\ngroup_wait: 10s\ngroup_interval: 5m\nrepeat_interval: 4h\nsend_resolved: false\ntimeout: 5s\n",
		"name: oncall\ntype: slack\nwebhook_url_file: $URLFILE\ngroup_by: [slo, '...']\n",
		"name: oncall\ntype: slack\nwebhook_url_file: $URLFILE\nhttp_config: {proxy_url: 'http://proxy:3128', tls_config: {insecure_skip_verify: true}}\n",
		"name: oncall\ntype: slack\nwebhook_url_file: $RAWFILE\n",
		"name: oncall\ntype: slack\nwebhook_url_file: /nonexistent/file\n",
		"name: oncall\ntype: slack\n",
		"name: oncall\ntype: slack\nurl: https://hooks.slack.com/services/T0/B0/X\nwebhook_url_file: $URLFILE\n",
		"name: oncall\ntype: slack\nwebhook_url_file: $URLFILE\ngroup_by: [a-b, '']\n",
		"name: oncall\ntype: slack\nwebhook_url_file: $URLFILE\ngroup_wait: four weeks\n",
		"name: oncall\ntype: slack\nwebhook_url_file: $URLFILE\nhttp_config: {bearer_token: a, bearer_token_file: b}\n",
		"name: oncall\ntype: slack\nwebhook_url_file: $URLFILE\nhttp_config: {tls_config: {ca_file: /nonexistent/ca.pem}}\n",
		"name: oncall\ntype: slack\nwebhook_url_file: $URLFILE\nhttp_config: {authorization: {credentials_ref: vault}}\n",
		"name: oncall\ntype: slack\nwebhook_url_file: [$URLFILE]\ncolour: red\n",
		"[a, b]\n",
		"x: &a {b: *a}\n",
		"base: &b {webhook_url_file: $URLFILE}\n",
		"",
		"null\n",
		"webhook_url_file: $URLFILE\nwebhook_url_file: $RAWFILE\n",
	} {
		f.Add(s)
	}
	notifytest.DecodeFuzz[slack.Config]{
		Files:   map[string]string{"$URLFILE": fuzzURL + "\n", "$RAWFILE": fuzzRaw},
		Secrets: []string{"URLMARKER", "T0SECRET", "RAWMARKER"},
		Guards:  []string{"MARKER"},
		Decode:  slack.DecodeConfig,
		Build:   slack.Build,
		Same:    receivers.Same,
	}.Fuzz(f)
}

// FuzzNotifyAnswer posts a message to a server that answers as the fuzzer
// says. Notify never panics, never blocks past the timeout, classifies the
// answer as a 2xx's body or the status says, and its error is one line
// without the webhook URL's token.
func FuzzNotifyAnswer(f *testing.F) {
	for _, body := range []string{"ok", "", `{"ok":true}`, `{"ok":false,"error":"invalid_blocks"}`, `{"ok":false,"error":"ratelimited"}`,
		`{"ok":false,"error":null}`, `{"ok":false,"error":["a"]}`, `{"ok":null}`, "invalid_payload", "<html>" + secretPath + "</html>",
		strings.Repeat("a", 500) + secretPath, `{"ok":false,"error":"` + secretPath + `"}`} {
		f.Add(200, "text/plain", "", body)
	}
	for code, body := range map[int]string{400: "invalid_payload", 403: "action_prohibited", 404: "channel_not_found", 410: "channel_is_archived", 429: "rate_limited", 500: "rollup_error"} {
		f.Add(code, "text/html", "7", body)
	}
	f.Add(369, "\x10", "0", "")
	notifytest.AnswerFuzz{
		New: func(tb testing.TB, url string, timeout time.Duration) notifytest.Post {
			n := newNotifier(tb, slack.Options{WebhookURL: url + secretPath, Timeout: timeout,
				Now: func() time.Time { return t0 }, Sleep: func(context.Context, time.Duration) error { return nil }})
			return func(ctx context.Context) (bool, error) { return n.Notify(ctx, burning("a", t0)) }
		},
		RetryAfter:    notify.RetryAfter,
		MaxRetryAfter: notify.MaxRetryAfter,
		JudgesBody:    true,
		Secrets:       []string{secretPath},
	}.Fuzz(f)
}
