package webhook_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"testing"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
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
	notifytest.DecodeFuzz[webhook.Config]{
		Files:   map[string]string{"$URLFILE": fuzzURL + "\n", "$KEYFILE": fuzzKey, "$RAWFILE": fuzzRaw},
		Secrets: []string{"PATHMARKER", "QUERYMARKER", "RAWMARKER", fuzzKeyB64[:8], "KEYMARKER"},
		Guards:  []string{"MARKER", fuzzKeyB64[:8]},
		Decode:  webhook.DecodeConfig,
		Build:   webhook.Build,
		Same:    receivers.Same,
	}.Fuzz(f)
}

// FuzzNotifyAnswer posts to a server that answers as the fuzzer says.
// Notify never panics, never blocks past the timeout, takes any 2xx for
// success, retries what the status says to, and its error is one line
// without the URL's secrets. 410 disables the notifier; it is built again
// for the next answer.
func FuzzNotifyAnswer(f *testing.F) {
	for code, body := range map[int]string{200: "{}", 202: "accepted", 400: "bad payload", 401: "", 410: "gone", 429: "slow down", 500: "no route for /SECRETPATHMARKER?token=SECRETQUERYMARKER", 503: ""} {
		f.Add(code, "text/plain", "3", body)
	}
	f.Add(400, "", "\x05", "0")
	notifytest.AnswerFuzz{
		New:           answerPost("/SECRETPATHMARKER?token=SECRETQUERYMARKER"),
		RetryAfter:    notify.RetryAfter,
		MaxRetryAfter: notify.MaxRetryAfter,
		Secrets:       []string{"/SECRETPATHMARKER", "token=SECRETQUERYMARKER"},
		Check: func(t *testing.T, code int, retry bool, err error) bool {
			if code != http.StatusGone {
				return false
			}
			if !errors.Is(err, webhook.ErrDisabled) || retry {
				t.Fatalf("HTTP 410: %v, %v", retry, err)
			}
			return true
		},
	}.Fuzz(f)
}
