package webhook_test

import (
	"context"
	"encoding/base64"
	"errors"
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
	"github.com/vllm-sentinel/vllm-sentinel/notify/webhook"
)

// Secret file contents for FuzzDecodeConfig; none may show in an error.
var (
	fuzzURL    = "https://hooks.example/PATHMARKER42/alerts?token=QUERYMARKER42"
	fuzzRaw    = "hooks.example/RAWMARKER42"
	fuzzKeyB64 = base64.StdEncoding.EncodeToString([]byte("KEYMARKER42-KEYMARKER42-KEYMARKER42"))
	fuzzKey    = "whsec_" + fuzzKeyB64
)

// FuzzDecodeConfig decodes the first node of a YAML document as a webhook
// entry. $URLFILE, $KEYFILE and $RAWFILE stand for files that hold a URL
// with a token, a signing key and something that is neither. DecodeConfig
// never panics, its errors never show what the files hold, and what it
// accepts, the constructors accept.
func FuzzDecodeConfig(f *testing.F) {
	for _, s := range []string{
		"name: hooks\ntype: webhook\nurl: http://hooks.example/alerts\n",
		"name: hooks\ntype: webhook\nurl_file: $URLFILE\nsecret_file: $KEYFILE\nheaders: {X-Scope-OrgID: team-a, Authorization: Bearer t}\n",
		"name: hooks\ntype: webhook\nurl: https://hooks.example/a\ngroup_by: ['...']\nsend_resolved: false\ntimeout: 3s\nhttp_config: {basic_auth: {username: u, password: p}}\n",
		"name: hooks\ntype: webhook\nurl: https://hooks.example/a\ngroup_by: [slo, '...']\n",
		"name: hooks\ntype: webhook\nurl: http://h\nurl_file: $URLFILE\n",
		"name: hooks\ntype: webhook\n",
		"name: hooks\ntype: webhook\nurl: mailto:ops@example.com\n",
		"name: hooks\ntype: webhook\nurl_file: $RAWFILE\n",
		"name: hooks\ntype: webhook\nurl: http://h\nsecret_file: $RAWFILE\n",
		"name: hooks\ntype: webhook\nurl_file: $KEYFILE\nsecret_file: $URLFILE\n",
		"name: hooks\ntype: webhook\nurl: http://h\nsecret_file: /nonexistent\n",
		"name: hooks\ntype: webhook\nurl: http://h\nheaders: {webhook-id: x, Content-Type: y, 'X Y': z, '': a}\n",
		"name: hooks\ntype: webhook\nurl: http://h\nheaders: {X-A: \"a\\r\\nX-B: b\", x-a: c}\n",
		"name: hooks\ntype: webhook\nurl: http://h\nheaders: {X-A: [a]}\n",
		"name: hooks\ntype: webhook\nurl: http://h\nhttp_config: {tls_config: {ca_file: /nonexistent/ca.pem}}\n",
		"name: hooks\ntype: webhook\nurl: http://h\nhttp_config: {authorization: {credentials_ref: vault}}\n",
		"name: hooks\ntype: webhook\nurl: ftp://h\nsecret_file: /nonexistent\ngroup_by: [a-b]\n",
		"[a, b]\n",
		"",
		"url: &u http://h\nurl_file: *u\n",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	files := strings.NewReplacer("$URLFILE", write(f, dir, "url", fuzzURL+"\n"), "$KEYFILE", write(f, dir, "key", fuzzKey), "$RAWFILE", write(f, dir, "raw", fuzzRaw))
	f.Fuzz(func(t *testing.T, doc string) {
		node := firstNode([]byte(files.Replace(doc)))
		if node == nil {
			return
		}
		c, err := webhook.DecodeConfig(node)
		if err != nil {
			if !strings.Contains(doc, "MARKER") && !strings.Contains(doc, fuzzKeyB64[:8]) {
				for _, m := range []string{"PATHMARKER", "QUERYMARKER", "RAWMARKER", fuzzKeyB64[:8], "KEYMARKER"} {
					if strings.Contains(err.Error(), m) {
						t.Fatalf("error shows a secret: %v", err)
					}
				}
			}
			return
		}
		n, err := webhook.NewFromConfig("hooks", c, notify.Env{})
		if err != nil {
			t.Fatalf("DecodeConfig accepted what New refuses: %v", err)
		}
		if _, err := dispatch.New(n, dispatch.Options{Name: "hooks"}.WithGrouping(c.Grouping)); err != nil {
			t.Fatalf("DecodeConfig accepted what dispatch.New refuses: %v", err)
		}
		if !receivers.Same(c, c) {
			t.Fatal("Same(c, c) = false")
		}
	})
}

// FuzzNotifyAnswer posts to a server that answers as the fuzzer says.
// Notify never panics, never blocks past the timeout, takes any 2xx for
// success, retries what the status says to, and its error is one line
// without the URL's secrets. 410 disables the notifier; it is built again
// for the next answer.
func FuzzNotifyAnswer(f *testing.F) {
	for _, a := range notifytest.OddAnswers() {
		f.Add(a.Status, a.Header.Get("Content-Type"), a.Header.Get("Retry-After"), a.Body)
	}
	for code, body := range map[int]string{200: "{}", 202: "accepted", 400: "bad payload", 401: "", 410: "gone", 429: "slow down", 500: "no route for /SECRETPATHMARKER?token=SECRETQUERYMARKER", 503: ""} {
		f.Add(code, "text/plain", "3", body)
	}
	f.Add(400, "", "\x05", "0")
	srv := notifytest.NewAnswerSwitch(f)
	const timeout = 500 * time.Millisecond
	newNotifier := func(tb testing.TB) *webhook.Notifier {
		n, err := webhook.New(webhook.Options{Name: "hooks", URL: srv.URL() + "/SECRETPATHMARKER?token=SECRETQUERYMARKER", Timeout: timeout})
		if err != nil {
			tb.Fatal(err)
		}
		return n
	}
	n := newNotifier(f)
	f.Fuzz(func(t *testing.T, code int, contentType, retryAfter, body string) {
		if code < 200 || code > 999 {
			code = 200 + (code%800+800)%800
		}
		srv.Set(notifytest.Answer{Status: code, Header: http.Header{"Content-Type": {notifytest.HeaderValue(contentType)}, "Retry-After": {notifytest.HeaderValue(retryAfter)}}, Body: body})
		start := time.Now()
		retry, err := n.Notify(context.Background(), alert("a", "ttft", t0, t0.Add(time.Hour)))
		if took := time.Since(start); took > timeout+5*time.Second {
			t.Fatalf("Notify took %s", took)
		}
		switch {
		case code >= 200 && code < 300:
			if err != nil {
				t.Fatalf("HTTP %d: %v", code, err)
			}
			return
		case err == nil:
			t.Fatalf("HTTP %d: success", code)
		case code == http.StatusGone:
			if !errors.Is(err, webhook.ErrDisabled) || retry {
				t.Fatalf("HTTP 410: %v, %v", retry, err)
			}
			n = newNotifier(t)
		case retry != (code >= 500 || code == 429 || code == 408):
			t.Fatalf("HTTP %d: retry %v: %v", code, retry, err)
		}
		if msg := err.Error(); strings.IndexFunc(msg, unicode.IsControl) >= 0 || len(msg) > 2048 || strings.Contains(msg, "/SECRETPATHMARKER") || strings.Contains(msg, "token=SECRETQUERYMARKER") {
			t.Fatalf("HTTP %d: error %q is not one short line free of the URL's secrets", code, msg)
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
