package alertmanager

import (
	"net/url"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
)

// FuzzDecodeConfig decodes the first node of a YAML document as an
// alertmanager entry. DecodeConfig never panics, its errors never show a
// password written in a URL, and what it accepts, New accepts.
func FuzzDecodeConfig(f *testing.F) {
	for _, s := range []string{
		"name: am\ntype: alertmanager\nurls: [http://am:9093]\n",
		"name: am\ntype: alertmanager\nurls: [http://am-1:9093, 'https://alice:PASSWORDMARKER@am-2:9093/prefix/']\ntimeout: 5s\n",
		"name: am\ntype: alertmanager\nurls: [http://am:9093]\nhttp_config: {authorization: {credentials: tok}, tls_config: {insecure_skip_verify: true}}\n",
		"name: am\ntype: alertmanager\nurls: ['http://am:9093/?x=1']\n",
		"name: am\ntype: alertmanager\nurls: ['http://am:9093?']\n",
		"name: am\ntype: alertmanager\nurls: ['http://alice:PASSWORDMARKER@am:9093/#frag']\n",
		"name: am\ntype: alertmanager\nurls: [http://am:9093, 'http://am:9093/']\n",
		"name: am\ntype: alertmanager\nurls: ['http://alice:PASSWORDMARKER@am:9093']\nhttp_config: {basic_auth: {username: a, password: b}}\n",
		"name: am\ntype: alertmanager\nurls: ['ftp://alice:PASSWORDMARKER@am', 'http://', 'http://am:port', 'http://alice:PASSWORDMARKER@[::1']\n",
		"name: am\ntype: alertmanager\nurls: []\n",
		"name: am\ntype: alertmanager\n",
		"name: am\ntype: alertmanager\nurls: http://am:9093\n",
		"name: am\ntype: alertmanager\nurls: [http://am:9093]\ngroup_by: [slo]\nsend_resolved: true\n",
		"name: am\ntype: alertmanager\nurls: [http://am:9093]\ntimeout: 5x\n",
		"name: am\ntype: alertmanager\nurls: [http://am:9093]\nhttp_config: {tls_config: {ca_file: /nonexistent/ca.pem}}\n",
		"name: am\ntype: alertmanager\nurls: [http://am:9093]\nhttp_config: {basic_auth: {username: u, password_ref: vault}}\n",
		"name: am\ntype: alertmanager\nurls: [http://am:9093]\nhttp_config: {bearer_token: a, bearer_token_file: b}\n",
		"[a, b]\n",
		"",
		"urls: &u [http://am:9093]\nx: *u\n",
		"urls: ['http://0%80']",
	} {
		f.Add(s)
	}
	notifytest.DecodeFuzz[Config]{
		Decode: DecodeConfig,
		Refused: func(t *testing.T, doc string, node *yaml.Node, err error) {
			for _, pw := range passwords(node) {
				// Only a password that the document holds nowhere else.
				if len(pw) >= 8 && strings.Count(doc, pw) == 1 && strings.Contains(err.Error(), pw) {
					t.Fatalf("error shows the password %q: %v", pw, err)
				}
			}
		},
		Build: func(c *Config) error {
			s, err := NewFromConfig("am", c, notify.Env{})
			if err != nil {
				return err
			}
			for _, tg := range s.targets {
				tg.client.http.CloseIdleConnections()
			}
			return nil
		},
	}.Fuzz(f)
}

// passwords are the passwords of the URLs under urls, as far as they
// parse.
func passwords(n *yaml.Node) []string {
	var c struct {
		URLs []string `yaml:"urls"`
	}
	_ = n.Decode(&c)
	var out []string
	for _, raw := range c.URLs {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				out = append(out, pw)
			}
		}
	}
	return out
}

// FuzzNotifyAnswer posts to a server that answers as the fuzzer says,
// Content-Type and Retry-After included. Notify never panics, never blocks
// past the timeout, takes any 2xx for success, retries what the status says
// to, gives up on the rest, and its error is one line that gives the
// status.
func FuzzNotifyAnswer(f *testing.F) {
	for _, tc := range []struct {
		code        int
		contentType string
		body        string
	}{
		{200, "application/json", ""},
		{400, "application/json", `"invalid label set: label name \"\" is invalid"`},
		{400, "application/json", `{"code":400,"message":"bad"}`},
		{400, "application/json; charset=utf-8", `"bad"`},
		{400, "", "bad"},
		{400, "/", "bad"},
		{400, "text/html; a=\"", "bad"},
		{401, "text/plain", "Unauthorized"},
		{500, "application/json", `"\u0000\ud800"`},
		{503, "text/html", "<html>\n<body>Service Unavailable</body>\n</html>"},
	} {
		f.Add(tc.code, tc.contentType, "", tc.body)
	}
	f.Add(200, "", "\b", "")
	notifytest.AnswerFuzz{
		New:           answerPost,
		RetryAfter:    notify.RetryAfter,
		MaxRetryAfter: notify.MaxRetryAfter,
		Check: func(t *testing.T, code int, _ bool, err error) bool {
			if !strings.Contains(err.Error(), "HTTP ") {
				t.Fatalf("HTTP %d: error %q does not give the status", code, err)
			}
			return false
		},
	}.Fuzz(f)
}
