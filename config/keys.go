package config

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// The decoder names mappings by their Go type (config.GlobalConfig,
// rules.WindowSpec, config.TLSConfig). The types reachable from the file's
// root, by those names, give the keys each mapping accepts, for "did you
// mean", and the kind of value each wants, for "wrong type".

var (
	documentType    = reflect.TypeFor[document]()
	windowsSpecType = reflect.TypeFor[rules.WindowsSpec]()
	windowSpecType  = reflect.TypeFor[rules.WindowSpec]()
	// typesByName holds every type reachable from document by the name
	// the decoder prints. commoncfg's package is also called config, so a
	// name may stand for more than one type.
	typesByName = collectTypes(documentType)
)

func collectTypes(root reflect.Type) map[string][]reflect.Type {
	byName := map[string][]reflect.Type{}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		t = deref(t)
		if seen[t] {
			return
		}
		seen[t] = true
		if t.Name() != "" {
			byName[t.String()] = append(byName[t.String()], t)
		}
		switch t.Kind() {
		case reflect.Struct:
			for _, f := range yamlFields(t) {
				walk(f)
			}
		case reflect.Slice, reflect.Array, reflect.Map:
			walk(t.Elem())
		}
	}
	walk(root)
	walk(windowSpecType) // decoded by WindowsSpec.UnmarshalYAML
	return byName
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// yamlFields maps the keys of a struct, as yaml.v3 reads them (tag name or
// lower-cased field name, inline structs flattened), to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			if ft := deref(f.Type); ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// keysOf lists the keys a mapping of the named type accepts, sorted; nil
// for types the loader does not know (a receiver's settings).
func keysOf(typeName string) []string {
	var keys []string
	for _, t := range typesByName[typeName] {
		for _, k := range structKeys(t) {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// structKeys lists the keys of a struct type, sorted; nil for other types.
func structKeys(t reflect.Type) []string {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	keys := slices.Collect(maps.Keys(yamlFields(t)))
	slices.Sort(keys)
	return keys
}

// typeAt is the type the decoder fills at path from the root, nil where the
// loader cannot tell (inside a notifier entry).
func typeAt(path []any) reflect.Type {
	t := documentType
	for _, p := range path {
		t = deref(t)
		switch v := p.(type) {
		case int:
			switch {
			case t == windowsSpecType:
				t = windowSpecType
			case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
				t = t.Elem()
			default:
				return nil
			}
		case string:
			switch t.Kind() {
			case reflect.Map:
				t = t.Elem()
			case reflect.Struct:
				ft, ok := yamlFields(t)[v]
				if !ok {
					return nil
				}
				t = ft
			default:
				return nil
			}
		}
	}
	return deref(t)
}

// findKey finds the key a decoder message is about, by its text and line,
// in the tree below root. It returns the path of the mapping that holds it
// and the line where that mapping first sets the key. Where several keys
// match (one flow mapping inside another), the one in a mapping of type
// typeName wins. A key found only in a mapping of another type the loader
// knows was decoded through an alias, as another type: its path would
// mislead, and ok is false.
func findKey(root *yaml.Node, key string, line int, typeName string) (path []any, first int, ok bool) {
	path, first, ok, exact := findKeyNode(root, key, line, typeName)
	if ok && !exact && len(typesByName[typeName]) > 0 && typeAt(path) != nil {
		return nil, 0, false
	}
	return path, first, ok
}

func findKeyNode(root *yaml.Node, key string, line int, typeName string) (path []any, first int, ok, exact bool) {
	var walk func(n *yaml.Node, at []any) bool
	walk = func(n *yaml.Node, at []any) bool {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Value == key && k.Line == line {
					if !ok {
						path, first, ok = slices.Clone(at), firstKeyLine(n, key), true
					}
					if t := typeAt(at); t != nil && t.String() == typeName {
						path, first, exact = slices.Clone(at), firstKeyLine(n, key), true
						return true
					}
				}
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if walk(n.Content[i+1], append(at, n.Content[i].Value)) {
					return true
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if walk(c, append(at, i)) {
					return true
				}
			}
		}
		return false
	}
	if root != nil {
		walk(root, nil)
	}
	return path, first, ok, exact
}

func firstKeyLine(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return 0
}

// goTypeName says in words what a Go type expects of the YAML.
func goTypeName(t string) string {
	if ts := typesByName[t]; len(ts) > 0 {
		switch ts[0].Kind() {
		case reflect.Struct, reflect.Map:
			return "a mapping"
		case reflect.Slice, reflect.Array:
			return "a list"
		case reflect.String:
			return "a string"
		case reflect.Bool:
			return "true or false"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return "an integer"
		case reflect.Float32, reflect.Float64:
			return "a number"
		}
	}
	t = strings.TrimLeft(t, "*")
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.Contains(t, "."):
		return "a mapping"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	}
	return "another kind of value"
}

// suggest returns the known key that key most likely misspells: the same
// but for case, '-' or '_'; within two edits (one for short keys); or a
// prefix either way of at least three letters. "" if none is close.
func suggest(key string, known []string) string {
	const maxLen = 64 // longer keys are not typos of ours
	if key == "" || utf8.RuneCountInString(key) > maxLen {
		return ""
	}
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	lower := strings.ToLower(key)
	best, bestScore := "", -1
	for _, k := range known {
		if k == key {
			continue
		}
		d := levenshtein(lower, k)
		score := -1
		switch short := min(utf8.RuneCountInString(key), len(k)); {
		case norm(k) == norm(key):
			score = 0
		case d <= 1 || d <= 2 && short >= 4:
			score = d
		case short >= 3 && (strings.HasPrefix(k, lower) || strings.HasPrefix(lower, k)):
			score = 3
		}
		if score >= 0 && (bestScore < 0 || score < bestScore) {
			best, bestScore = k, score
		}
	}
	return best
}

// levenshtein is the edit distance between a and b, in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
