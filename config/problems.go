package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vllm-sentinel/vllm-sentinel/rules"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem found in a configuration file.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// yamlLineRE splits "line 12: ..." off a decoder message; (?s) because a
// quoted key may hold a line break.
var yamlLineRE = regexp.MustCompile(`(?s)^(?:yaml: )?line (\d+): (.*)$`)

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return fmt.Sprintf("the scalar %q", n.Value)
	case yaml.SequenceNode:
		return "a list"
	default:
		return "something else"
	}
}

type loader struct {
	file     string
	root     *yaml.Node
	problems []Problem
}

func (l *loader) add(line int, field, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: l.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// at adds a problem about the field at path, a path into the decoded
// values; the problem names the path and the line as written.
func (l *loader) at(path []any, format string, args ...any) {
	path = l.written(path)
	l.add(lineOf(l.root, path), rules.PathString(path), format, args...)
}

// lineAt is the line of the field at path, a path into the decoded values.
func (l *loader) lineAt(path []any) int { return lineOf(l.root, l.written(path)) }

// written turns a path into the decoded values into the path as written.
// They differ where the decoder dropped an item of a list (a null, or an
// item of the wrong kind, which has its own problem): the SLO decoded as
// slos[0] from "slos: [~, {name: a}]" is written as slos[1].
func (l *loader) written(path []any) []any {
	out := slices.Clone(path)
	n := l.root
	for i, p := range out {
		if n == nil {
			break
		}
		switch v := p.(type) {
		case string:
			n = mappingValue(n, v)
		case int:
			if n.Kind != yaml.SequenceNode {
				return out
			}
			var elem reflect.Type
			if t := typeAt(out[:i]); t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			k := -1
			for j, item := range n.Content {
				if decoderKeeps(item, elem) {
					k++
				}
				if k == v {
					out[i], n = j, item
					break
				}
			}
			if k != v {
				return out
			}
		}
	}
	return out
}

// decoderKeeps tells whether yaml.v3 keeps item when it decodes a list of
// elem into a slice: it drops an item that does not decode, without an
// index. Where elem is not known (inside a notifier entry), every item is
// taken to be kept.
func decoderKeeps(item *yaml.Node, elem reflect.Type) bool {
	for depth := 0; item.Kind == yaml.AliasNode && item.Alias != nil && depth < 100; depth++ {
		item = item.Alias
	}
	if elem == nil || elem == reflect.TypeFor[yaml.Node]() {
		return true
	}
	null := item.Kind == yaml.ScalarNode && item.ShortTag() == "!!null"
	switch elem.Kind() {
	case reflect.Pointer, reflect.Interface:
		return true
	case reflect.Map:
		return null || item.Kind == yaml.MappingNode
	case reflect.Slice:
		return null || item.Kind == yaml.SequenceNode
	case reflect.Struct:
		return item.Kind == yaml.MappingNode
	default:
		return item.Kind == yaml.ScalarNode && !null
	}
}

// mappingValue is the value of key in a mapping node, nil if none.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	_, v := mappingEntry(n, key)
	return v
}

func (l *loader) err() error {
	sort.SliceStable(l.problems, func(i, j int) bool { return l.problems[i].Line < l.problems[j].Line })
	return &Error{Problems: l.problems}
}

// yamlError turns the decoder's messages ("line 12: field foo not found in
// type config.Config") into file:line problems in the file's own words.
func (l *loader) yamlError(err error) {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			line, _ := strconv.Atoi(sm[1])
			l.add(line, "", "%s", l.friendly(line, sm[2]))
			continue
		}
		l.add(0, "", "%s", friendlyYAML(strings.TrimPrefix(m, "yaml: ")))
	}
}

// The decoder's messages name Go types ("field colour not found in type
// config.WebConfig", "cannot unmarshal !!map into []rules.SLOSpec"); these
// take them apart so that the file's own words replace the types.
var (
	unknownFieldRE = regexp.MustCompile(`(?s)^field (.+) not found in type (\S+)$`)
	alreadySetRE   = regexp.MustCompile(`(?s)^field (.+) already set in type (\S+)$`)
	cannotRE       = regexp.MustCompile(`(?s)^cannot unmarshal (\S+?)(?: (.*))? into (\S+)$`)
	yamlKinds      = map[string]string{"map": "a mapping", "seq": "a list", "str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean", "null": "null", "binary": "binary data", "timestamp": "a timestamp"}
)

// friendly rewrites a decoder message about line: an unknown or repeated
// key is named with the mapping it is in (found in the node tree) and the
// known key it is close to.
func (l *loader) friendly(line int, m string) string {
	if sm := unknownFieldRE.FindStringSubmatch(m); sm != nil {
		key, typ := sm[1], sm[2]
		msg := fmt.Sprintf("unknown field %q", key)
		keys := keysOf(typ)
		if path, _, ok := findKey(l.root, key, line, typ); ok {
			msg += " " + where(path)
			if len(keys) == 0 {
				// commoncfg decodes through "type plain X": its
				// messages name config.plain.
				keys = structKeys(typeAt(path))
			}
		}
		if s := suggest(key, keys); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return msg
	}
	if sm := alreadySetRE.FindStringSubmatch(m); sm != nil {
		key, typ := sm[1], sm[2]
		path, first, ok := findKey(l.root, key, line, typ)
		if !ok {
			return fmt.Sprintf("duplicate field %q", key)
		}
		if first > 0 && first != line {
			return fmt.Sprintf("duplicate field %q %s (first set at line %d)", key, where(path), first)
		}
		return fmt.Sprintf("duplicate field %q %s", key, where(path))
	}
	return friendlyYAML(m)
}

// where names a mapping by its path: "in slos[1].sli", or the top level.
func where(path []any) string {
	if len(path) == 0 {
		return "at the top level"
	}
	return "in " + rules.PathString(path)
}

// friendlyYAML rewrites a decoder message that has no place in the file (an
// environment variable's), or needs none, without Go type names.
func friendlyYAML(m string) string {
	if sm := unknownFieldRE.FindStringSubmatch(m); sm != nil {
		msg := fmt.Sprintf("unknown field %q", sm[1])
		if s := suggest(sm[1], keysOf(sm[2])); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return msg
	}
	if sm := alreadySetRE.FindStringSubmatch(m); sm != nil {
		return fmt.Sprintf("duplicate field %q", sm[1])
	}
	if sm := cannotRE.FindStringSubmatch(m); sm != nil {
		tag := strings.TrimPrefix(sm[1], "!!")
		got := yamlKinds[tag]
		if got == "" {
			got = "a value tagged " + sm[1]
		}
		if sm[2] != "" {
			got += " " + sm[2]
		}
		return fmt.Sprintf("wrong type: got %s, want %s", got, goTypeName(sm[3]))
	}
	return m
}

// lineOf finds the line of the key or item a path names; where the path runs
// out of the document it returns the line of the deepest node it reached.
func lineOf(n *yaml.Node, path []any) int {
	if n == nil {
		return 0
	}
	line := n.Line
	for _, p := range path {
		switch v := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == v {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yaml.SequenceNode || v >= len(n.Content) {
				return line
			}
			n = n.Content[v]
			line = n.Line
		}
	}
	return line
}

// compiled places the problems of a compile at their lines below root.
func (l *loader) compiled(root []any, err error) {
	if err == nil {
		return
	}
	var fes rules.FieldErrors
	if errors.As(err, &fes) {
		l.fields(root, fes)
		return
	}
	l.at(root, "%v", err)
}

// fields places problems whose paths are relative to root.
func (l *loader) fields(root []any, fes rules.FieldErrors) {
	for _, fe := range fes {
		l.at(append(append([]any(nil), root...), fe.Path...), "%v", fe.Err)
	}
}

// fieldError is how a receiver names the field a problem is about, relative
// to its entry.
type fieldError interface {
	FieldPath() []any
	Unwrap() error
}

// receiverError places a receiver's problems: decoder messages carry their
// lines, field errors their paths below the entry.
func (l *loader) receiverError(root, plainAt []any, err error) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			l.receiverError(root, plainAt, e)
		}
		return
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		l.yamlError(te)
		return
	}
	var fe fieldError
	if errors.As(err, &fe) {
		l.at(append(append([]any(nil), root...), fe.FieldPath()...), "%v", fe.Unwrap())
		return
	}
	l.at(plainAt, "%v", err)
}
