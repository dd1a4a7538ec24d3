package notify

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadSecret(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(path, []byte("  https://h/SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSecret("url_file", path, true)
	if err != nil || s.Reveal() != "https://h/SECRET" {
		t.Fatalf("ReadSecret = %v, %v", s, err)
	}
	for _, out := range []string{s.String(), fmt.Sprintf("%v %+v %#v", s, s, s)} {
		if strings.Contains(out, "SECRET") {
			t.Errorf("a Secret prints its value: %s", out)
		}
	}
	if (*Secret)(nil).Reveal() != "" {
		t.Error("a nil Secret reveals something")
	}
	_, err = ReadSecret("k", path, false)
	if err != nil {
		t.Errorf("not a URL wanted: %v", err)
	}
	_, err = ReadSecret("k", "", false)
	var fe *FieldError
	if !errors.As(err, &fe) || !slices.Equal(fe.Path, []any{"k"}) || fe.Err.Error() != "required" {
		t.Errorf("no file: %v", err)
	}
}
