package notify

import (
	"errors"
	"slices"
	"testing"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// testEntry nests inline structs as the receivers' configs do.
type testEntry struct {
	URL          string `yaml:"url"`
	HTTPSettings `yaml:",inline"`
	Grouping     `yaml:",inline"`
}

func decodeTest(t *testing.T, text string, targets ...any) error {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return DecodeEntry(&doc, targets...)
}

func TestDecodeEntry(t *testing.T) {
	t.Parallel()
	var e testEntry
	err := decodeTest(t, `
name: x
type: y
url: &u http://h
timeout: 28d
group_by: [a]
http_config:
  http_headers:
    X-Tenant: {values: [a]}
`, &e)
	if err != nil {
		t.Fatal(err)
	}
	if e.URL != "http://h" || e.Timeout != model.Duration(28*24*3600e9) || !slices.Equal(e.GroupBy, []string{"a"}) {
		t.Errorf("decoded %+v", e)
	}
	if e.HTTPConfig == nil || e.HTTPConfig.HTTPHeaders == nil || len(e.HTTPConfig.HTTPHeaders.Headers["X-Tenant"].Values) != 1 {
		t.Errorf("http_config %+v", e.HTTPConfig)
	}
}

// Unknown keys are found at every depth, inline maps (http_headers) take
// any key, and the other targets' keys are known.
func TestDecodeEntryUnknownKeys(t *testing.T) {
	t.Parallel()
	var e testEntry
	var extra struct {
		Legacy string `yaml:"legacy"`
	}
	err := decodeTest(t, `url: http://h
legacy: x
http_config:
  http_headers:
    X-Tenant: {values: [a], colour: red}
  oauth2: {client_id: a, token_url: 'http://t', scope: [x]}
other: 1
`, &e, &extra)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a *yaml.TypeError", err)
	}
	want := []string{
		"line 5: field colour not found in type config.Header",
		"line 6: field scope not found in type config.OAuth2",
		"line 7: field other not found in type notify.testEntry",
	}
	if !slices.Equal(te.Errors, want) {
		t.Errorf("errors\n%q\nwant\n%q", te.Errors, want)
	}
	if extra.Legacy != "x" {
		t.Errorf("second target got %q", extra.Legacy)
	}
}

func TestDecodeEntryNull(t *testing.T) {
	t.Parallel()
	var e testEntry
	if err := DecodeEntry(nil, &e); err != nil {
		t.Errorf("nil node: %v", err)
	}
	if err := decodeTest(t, "~\n", &e); err != nil {
		t.Errorf("null entry: %v", err)
	}
}
