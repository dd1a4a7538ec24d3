package rules

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"
)

// templateFuncs are available in annotation templates. They help build links
// (a Grafana explore URL for the alert's time range, a trace search for slow
// requests of one model) and readable numbers.
var templateFuncs = template.FuncMap{
	"urlquery":   url.QueryEscape,
	"pathescape": url.PathEscape,
	"unixMillis": func(t time.Time) int64 { return t.UnixMilli() },
	"unix":       func(t time.Time) int64 { return t.Unix() },
	"rfc3339":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"humanizePercentage": func(v float64) string {
		return strconv.FormatFloat(v*100, 'g', 4, 64) + "%"
	},
	"humanize": func(v float64) string {
		if math.Abs(v) >= 100 || v == math.Trunc(v) {
			return strconv.FormatFloat(v, 'f', 0, 64)
		}
		return strconv.FormatFloat(v, 'g', 3, 64)
	},
	"humanizeDuration": func(d time.Duration) string { return model.Duration(d.Round(time.Second)).String() },
	"toUpper":          strings.ToUpper,
	"toLower":          strings.ToLower,
}

// Template is an annotation value, parsed once at load time. Values without
// "{{" are literal text.
type Template struct {
	text string
	t    *template.Template
}

// ParseTemplate parses an annotation value as a Go template.
func ParseTemplate(name, text string) (*Template, error) {
	t, err := template.New(name).Option("missingkey=zero").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return &Template{text: text, t: t}, nil
}

// Expand runs the template with data; the error names the template.
func (t *Template) Expand(data any) (string, error) {
	var b bytes.Buffer
	if err := t.t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", t.t.Name(), err)
	}
	return b.String(), nil
}

// Literal reports whether the value holds no template actions, so that it
// means the same outside the daemon (in an exported Prometheus rule).
func (t *Template) Literal() bool { return !strings.Contains(t.text, "{{") }

// Text is the value as written.
func (t *Template) Text() string { return t.text }

// parseTemplates parses every annotation of a rule.
func parseTemplates(path []any, annotations map[string]string, fe *FieldErrors) map[string]*Template {
	out := make(map[string]*Template, len(annotations))
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		t, err := ParseTemplate(k, annotations[k])
		if err != nil {
			fe.add(append(path, k), "%v", err)
			continue
		}
		out[k] = t
	}
	return out
}
