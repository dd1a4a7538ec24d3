package notify

import (
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/vllm-sentinel/vllm-sentinel/internal/httpurl"
)

// Secret is a value read from a secret file: a Slack webhook URL, a webhook
// URL, a signing key. Config types keep it in an unexported pointer field,
// which fmt prints as an address and YAML and JSON leave out, so that the
// value reaches nothing but the accessor that hands it to the notifier.
type Secret struct {
	value string
}

// Reveal returns the value; "" for a nil Secret.
func (s *Secret) Reveal() string {
	if s == nil {
		return ""
	}
	return s.value
}

// String keeps the value out of anything that prints a Secret.
func (s *Secret) String() string { return "<secret>" }

// GoString keeps %#v from printing the value.
func (s *Secret) GoString() string { return "<secret>" }

// ReadSecret reads the secret file named by the setting key, trimmed of
// surrounding space; with isURL it must hold an http(s) URL. Its errors
// are *FieldErrors at key that name the file, never what it holds.
func ReadSecret(key, file string, isURL bool) (*Secret, error) {
	path := []any{key}
	if file == "" {
		return nil, FieldErrorf(path, "required")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		// The *PathError would repeat the file name.
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err
		}
		return nil, FieldErrorf(path, "cannot read secret file %s: %v", file, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil, FieldErrorf(path, "secret file %s is empty", file)
	}
	if isURL && httpurl.Validate(s) != nil {
		return nil, FieldErrorf(path, "secret file %s does not hold an http(s) URL", file)
	}
	return &Secret{value: s}, nil
}
