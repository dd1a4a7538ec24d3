package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzLoad: Load never panics, and returns either a configuration with
// something to evaluate or a *Error whose every problem names the file, a
// line within it, and no blank or comment line for a syntax error.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"../configs/*.yaml", "testdata/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, tc := range syntaxCases {
		f.Add([]byte(tc.src))
	}
	for _, tc := range suggestionCases {
		f.Add([]byte(tc.src))
	}
	for _, tc := range urlCases {
		f.Add([]byte(urlConfig(tc.url)))
	}
	for _, tc := range nothingCases {
		f.Add([]byte(tc.src))
	}
	for _, tc := range droppedItems {
		f.Add([]byte(tc.src))
	}
	for _, src := range []string{
		"",
		"# only a comment\n",
		"---\n",
		"[a, b]\n",
		"a: &x [*x]\n",
		"slos: [{name: x, sli: {ratio: {errors: 'increase(a[5m])', total: 'increase(b[5m])'}}, objective: 99.9, calendar: month, time_zone: Europe/Paris}]\n",
		"indicators: [{name: c, expr: 'up == 0', annotations: {summary: '{{ .Labels.job }}'}}]\n",
		"notifiers:\n  - {name: h, type: webhook, url_file: /x, secret_file: /y, http_config: {tls_config: {insecure_skip_verify: true}}}\n" + sloText,
		"vllm: {metric_names: {flavour: v0, overrides: {kv_cache_usage_perc: 'my:kv'}}}\n" + sloText,
		"vllm: {selector: '{__name__=\"up\"}'}\n" + sloText,
		"slos:\n  - &s {name: a, sli: *s}\n",
		"notifiers:\n  - &n {name: a, type: webhook, url: 'http://x', http_config: *n}\n" + sloText,
	} {
		f.Add([]byte(src))
	}
	dir := f.TempDir()
	fuzzRcv := fileSafeReceivers{Receivers: rcv, files: []string{
		writeFile(f, dir, "url", "https://hooks.example/services/T0/B0/X\n"),
		writeFile(f, dir, "key", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"),
		filepath.Join(dir, "missing"),
	}}
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "fuzz.yaml"
		cfg, err := Load(file, data, fuzzRcv)
		if err == nil {
			if cfg == nil || cfg.File != file {
				t.Fatalf("no error and config %+v", cfg)
			}
			if len(cfg.SLOs) == 0 && len(cfg.Indicators) == 0 {
				t.Fatal("accepted with nothing to evaluate")
			}
			return
		}
		if cfg != nil {
			t.Fatalf("config and error: %v", err)
		}
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) == 0 {
			t.Fatalf("error %T without problems: %v", err, err)
		}
		lines := splitLines(data)
		for _, p := range ce.Problems {
			if p.File != file || !strings.HasPrefix(p.String(), file+":") || p.Msg == "" {
				t.Errorf("problem without file or text: %q", p.String())
			}
			if p.Line < 0 || p.Line > len(lines) {
				t.Errorf("line %d of %d: %s", p.Line, len(lines), p)
			}
			if strings.HasPrefix(p.Msg, "not valid YAML") {
				if p.Line < 1 {
					t.Errorf("syntax error without a line: %s", p)
				} else if p.Line < len(lines) && blankOrComment(lines[p.Line-1]) {
					t.Errorf("syntax error on blank or comment line %q: %s", lines[p.Line-1], p)
				}
			}
		}
	})
}

func writeFile(f *testing.F, dir, name, text string) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		f.Fatal(err)
	}
	return path
}

// fileSafeReceivers decodes notifiers as the daemon's registry does, with
// every *_file setting pointed at a file of the test's own: fuzzed paths
// must not read /dev/zero or a FIFO.
type fileSafeReceivers struct {
	Receivers
	files []string
}

func (r fileSafeReceivers) Decode(typ string, node *yaml.Node) (any, error) {
	return r.Receivers.Decode(typ, r.redirect(node, map[*yaml.Node]*yaml.Node{}))
}

// redirect copies n with the value of each key ending in _file replaced
// by one of r.files.
func (r fileSafeReceivers) redirect(n *yaml.Node, seen map[*yaml.Node]*yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	if c, ok := seen[n]; ok {
		return c
	}
	c := *n
	seen[n] = &c
	c.Alias = r.redirect(n.Alias, seen)
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, e := range n.Content {
		c.Content[i] = r.redirect(e, seen)
	}
	if c.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(c.Content); i += 2 {
			if v := c.Content[i+1]; strings.HasSuffix(c.Content[i].Value, "_file") && v.Kind == yaml.ScalarNode && v.Value != "" {
				safe := *v
				safe.Value = r.files[len(v.Value)%len(r.files)]
				c.Content[i+1] = &safe
			}
		}
	}
	return &c
}

// The blank-line rule of FuzzLoad holds for the line splitting it uses.
func TestSplitLinesCountsAsYAMLDoes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0}, {"a", 1}, {"a\n", 1}, {"a\nb", 2}, {"a\r\nb\r\n", 2}, {"a\rb", 2}, {"a\u2028b\u0085c", 3},
	} {
		if got := len(splitLines([]byte(tc.in))); got != tc.want {
			t.Errorf("%q: %d lines, want %d", tc.in, got, tc.want)
		}
		if got := bytes.Join(splitLines([]byte(tc.in)), nil); string(got) != tc.in {
			t.Errorf("%q: joined back to %q", tc.in, got)
		}
	}
}
