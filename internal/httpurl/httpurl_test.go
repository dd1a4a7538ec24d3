package httpurl

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://localhost:9090", ""},
		{"https://prom.example/prefix", ""},
		{"localhost:9090", "want http(s)://host"},
		{"ftp://host", "want http(s)://host"},
		{"http://user:hunter2@%zz", "invalid URL"},
		{"gopher://user:hunter2@host", `"gopher://user:xxxxx@host"`},
	} {
		err := Validate(tc.url)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: password in error: %v", tc.url, err)
		}
	}
}

func TestParseNeverRepeatsTheURL(t *testing.T) {
	_, err := Parse("http://user:hunter2@host/%zz")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("got %v", err)
	}
}
