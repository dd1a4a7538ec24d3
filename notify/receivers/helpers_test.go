package receivers_test

import (
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/internal/notifytest"
	"github.com/vllm-sentinel/vllm-sentinel/notify/receivers"
)

// entry parses text, one notifiers: entry written from line 1, and
// returns its mapping node.
func entry(t testing.TB, text string) *yaml.Node {
	t.Helper()
	return notifytest.Entry(t, text).Content[0]
}

// secretFile writes content to a file of its own and returns its path.
func secretFile(t testing.TB, content string) string {
	t.Helper()
	return notifytest.WriteFile(t, t.TempDir(), "secret", content)
}

// decodeFails decodes text as an entry of typ and returns the error it
// must give.
func decodeFails(t testing.TB, typ, text string) error {
	t.Helper()
	_, err := receivers.New().Decode(typ, entry(t, text))
	if err == nil {
		t.Fatal("accepted")
	}
	return err
}

// problem is a FieldError as the tests compare it.
type problem struct {
	path []any
	msg  string
}

// fieldErrors takes apart what Decode joined; any error that is no
// *notify.FieldError fails the test.
func fieldErrors(t testing.TB, err error) []problem {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	var out []problem
	for _, e := range errs {
		var fe *notify.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v (%T) is no *notify.FieldError", e, e)
		}
		out = append(out, problem{path: fe.FieldPath(), msg: fe.Err.Error()})
	}
	return out
}

// typeErrors returns the messages of the *yaml.TypeError err must be.
func typeErrors(t testing.TB, err error) []string {
	t.Helper()
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is no *yaml.TypeError", err, err)
	}
	return te.Errors
}
