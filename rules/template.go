package rules

import (
	"bytes"
	"fmt"
	"math"
	"net/url"
	"sort"
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

// ParseTemplate parses an annotation value as a Go template; values without
// "{{" are taken literally.
func ParseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=zero").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return t, nil
}

// ExpandTemplate runs t with data; the error names the template.
func ExpandTemplate(t *template.Template, data any) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", t.Name(), err)
	}
	return b.String(), nil
}

// CheckTemplates parses every annotation as a template.
func CheckTemplates(path []any, annotations map[string]string) []FieldError {
	var fe fieldErrors
	for _, k := range sortedKeys(annotations) {
		if _, err := ParseTemplate(k, annotations[k]); err != nil {
			fe.add(append(path, k), "%v", err)
		}
	}
	return fe
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
