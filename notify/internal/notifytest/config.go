package notifytest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Entry parses one notifiers: entry, as a YAML document.
func Entry(t testing.TB, text string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("test entry is not YAML: %v", err)
	}
	return &doc
}

// FirstNode is the first node of a YAML document, as the config loader
// hands an entry over; nil if there is none.
func FirstNode(doc []byte) *yaml.Node {
	var n yaml.Node
	if yaml.Unmarshal(doc, &n) != nil || len(n.Content) == 0 {
		return nil
	}
	return n.Content[0]
}

// WriteFile writes content to the file name in dir and returns its path.
func WriteFile(tb testing.TB, dir, name, content string) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// DecodeAgreement checks that DecodeConfig, which `vllm-sentinel check`
// runs, and the constructors, which the daemon runs on what it decoded,
// agree, or a check that passes in ExecStartPre is followed by a start that
// fails. Each entry is also decoded leniently, with yaml's Decode and
// without DecodeConfig's checks, to see what the constructors make of it.
type DecodeAgreement[C any] struct {
	// Head starts every entry: its name and type lines.
	Head   string
	Decode func(*yaml.Node) (*C, error)
	// Build builds what the daemon builds of a leniently decoded entry,
	// reading its secret files as they are.
	Build func(c *C) error
}

// Run runs a parallel subtest for the entry Head + text, which
// DecodeConfig accepts or not as ok says.
func (a DecodeAgreement[C]) Run(t *testing.T, name, text string, ok bool) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		text := a.Head + text + "\n"
		_, decodeErr := a.Decode(Entry(t, text))
		var c C
		if err := Entry(t, text).Decode(&c); err != nil {
			t.Fatalf("lenient decode: %v", err)
		}
		buildErr := a.Build(&c)
		if (decodeErr == nil) != (buildErr == nil) {
			t.Fatalf("DecodeConfig: %v\nbuild: %v\nwant both to fail or neither", decodeErr, buildErr)
		}
		if (decodeErr == nil) != ok {
			t.Errorf("DecodeConfig: %v, want ok=%v", decodeErr, ok)
		}
	})
}

// DecodeFuzz is the body of a FuzzDecodeConfig target: it decodes the
// first node of a YAML document as an entry, with placeholders in it
// standing for files. Decode never panics, its errors show none of
// Secrets, and what it accepts, Build builds, and Same takes for the same
// as itself.
type DecodeFuzz[C any] struct {
	// Files maps a placeholder, such as $URLFILE, to what the file it
	// stands for holds.
	Files map[string]string
	// Secrets are what no error may show, unless the document as the
	// fuzzer wrote it holds any of Guards: then it may have written a
	// secret in itself.
	Secrets, Guards []string
	Decode          func(*yaml.Node) (*C, error)
	// Refused, when set, makes the receiver's own checks of an error, for
	// the document as the fuzzer wrote it and the node decoded.
	Refused func(t *testing.T, doc string, node *yaml.Node, err error)
	// Build builds what the daemon builds of what Decode accepted.
	Build func(c *C) error
	// Same, when set, is receivers.Same, which this package cannot import.
	Same func(a, b any) bool
}

// Fuzz fuzzes the seeds the target added.
func (h DecodeFuzz[C]) Fuzz(f *testing.F) {
	dir := f.TempDir()
	var pairs []string
	for i, p := range slices.Sorted(maps.Keys(h.Files)) {
		pairs = append(pairs, p, WriteFile(f, dir, fmt.Sprintf("file%d", i), h.Files[p]))
	}
	files := strings.NewReplacer(pairs...)
	f.Fuzz(func(t *testing.T, doc string) {
		node := FirstNode([]byte(files.Replace(doc)))
		if node == nil {
			return
		}
		c, err := h.Decode(node)
		if err != nil {
			if !containsAny(doc, h.Guards) {
				for _, s := range h.Secrets {
					if strings.Contains(err.Error(), s) {
						t.Fatalf("error shows a secret: %v", err)
					}
				}
			}
			if h.Refused != nil {
				h.Refused(t, doc, node, err)
			}
			return
		}
		if err := h.Build(c); err != nil {
			t.Fatalf("DecodeConfig accepted what the constructors refuse: %v", err)
		}
		if h.Same != nil && !h.Same(c, c) {
			t.Fatal("Same(c, c) = false")
		}
	})
}
