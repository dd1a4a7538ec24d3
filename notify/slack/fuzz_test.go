package slack_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
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
	dir := f.TempDir()
	files := strings.NewReplacer("$URLFILE", write(f, dir, "url", fuzzURL+"\n"), "$RAWFILE", write(f, dir, "raw", fuzzRaw))
	f.Fuzz(func(t *testing.T, doc string) {
		node := firstNode([]byte(files.Replace(doc)))
		if node == nil {
			return
		}
		c, err := slack.DecodeConfig(node)
		if err != nil {
			if !strings.Contains(doc, "MARKER") {
				for _, m := range []string{"URLMARKER", "T0SECRET", "RAWMARKER"} {
					if strings.Contains(err.Error(), m) {
						t.Fatalf("error shows a secret: %v", err)
					}
				}
			}
			return
		}
		n, err := slack.NewFromConfig("oncall", c, notify.Env{})
		if err != nil {
			t.Fatalf("DecodeConfig accepted what New refuses: %v", err)
		}
		if _, err := dispatch.New(n, dispatch.Options{Name: "oncall"}.WithGrouping(c.Grouping)); err != nil {
			t.Fatalf("DecodeConfig accepted what dispatch.New refuses: %v", err)
		}
		if !receivers.Same(c, c) {
			t.Fatal("Same(c, c) = false")
		}
	})
}

// FuzzNotifyAnswer posts a message to a server that answers as the fuzzer
// says. Notify never panics, never blocks past the timeout, classifies the
// answer as a 2xx's body or the status says, and its error is one line
// without the webhook URL's token.
func FuzzNotifyAnswer(f *testing.F) {
	for _, a := range notifytest.OddAnswers() {
		f.Add(a.Status, a.Header.Get("Content-Type"), a.Header.Get("Retry-After"), a.Body)
	}
	for _, body := range []string{"ok", "", `{"ok":true}`, `{"ok":false,"error":"invalid_blocks"}`, `{"ok":false,"error":"ratelimited"}`,
		`{"ok":false,"error":null}`, `{"ok":false,"error":["a"]}`, `{"ok":null}`, "invalid_payload", "<html>" + secretPath + "</html>",
		strings.Repeat("a", 500) + secretPath, `{"ok":false,"error":"` + secretPath + `"}`} {
		f.Add(200, "text/plain", "", body)
	}
	for code, body := range map[int]string{400: "invalid_payload", 403: "action_prohibited", 404: "channel_not_found", 410: "channel_is_archived", 429: "rate_limited", 500: "rollup_error"} {
		f.Add(code, "text/html", "7", body)
	}
	f.Add(369, "\x10", "0", "")
	srv := notifytest.NewAnswerSwitch(f)
	const timeout = 500 * time.Millisecond
	n, err := slack.New(slack.Options{Name: "oncall", WebhookURL: srv.URL() + secretPath, Timeout: timeout,
		Now: func() time.Time { return t0 }, Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, code int, contentType, retryAfter, body string) {
		if code < 200 || code > 999 {
			code = 200 + (code%800+800)%800
		}
		srv.Set(notifytest.Answer{Status: code, Header: http.Header{"Content-Type": {notifytest.HeaderValue(contentType)}, "Retry-After": {notifytest.HeaderValue(retryAfter)}}, Body: body})
		start := time.Now()
		retry, err := n.Notify(context.Background(), burning("a", t0))
		if took := time.Since(start); took > timeout+5*time.Second {
			t.Fatalf("Notify took %s", took)
		}
		if err == nil {
			if code < 200 || code >= 300 {
				t.Fatalf("HTTP %d: success", code)
			}
			return
		}
		if msg := err.Error(); strings.IndexFunc(msg, unicode.IsControl) >= 0 || len(msg) > 2048 || strings.Contains(msg, secretPath) {
			t.Fatalf("HTTP %d: error %q is not one short line free of the token", code, msg)
		}
		switch {
		case code >= 500 || code == 429 || code == 408:
			if !retry {
				t.Fatalf("HTTP %d: not retried: %v", code, err)
			}
		case code >= 300:
			if retry {
				t.Fatalf("HTTP %d: retried: %v", code, err)
			}
		}
		if ra := notify.RetryAfter(err); ra < 0 || ra > notify.MaxRetryAfter {
			t.Fatalf("RetryAfter %s", ra)
		}
	})
}

func write(tb testing.TB, dir, name, content string) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// firstNode is the first node of a YAML document, as the config loader
// hands an entry over; nil if there is none.
func firstNode(doc []byte) *yaml.Node {
	var n yaml.Node
	if yaml.Unmarshal(doc, &n) != nil || len(n.Content) == 0 {
		return nil
	}
	return n.Content[0]
}
