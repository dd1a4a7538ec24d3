package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
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

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

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

func (l *loader) at(path []any, format string, args ...any) {
	l.add(lineOf(l.root, path), rules.PathString(path), format, args...)
}

func (l *loader) err() error {
	sort.SliceStable(l.problems, func(i, j int) bool { return l.problems[i].Line < l.problems[j].Line })
	return &Error{Problems: l.problems}
}

// yamlError turns the decoder's messages ("line 12: field foo not found in
// type config.Config") into file:line problems.
func (l *loader) yamlError(err error) {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			line, _ := strconv.Atoi(sm[1])
			l.add(line, "", "%s", friendlyYAML(sm[2]))
			continue
		}
		l.add(0, "", "%s", strings.TrimPrefix(m, "yaml: "))
	}
}

// syntaxError reports a file that does not parse. Some parser errors carry
// no line; then the line is the first at which the file stops parsing.
func (l *loader) syntaxError(err error, data []byte) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if sm := yamlLineRE.FindStringSubmatch(err.Error()); sm != nil {
		line, _ := strconv.Atoi(sm[1])
		l.add(line, "", "not valid YAML: %s", sm[2])
		return
	}
	lines := strings.SplitAfter(string(data), "\n")
	line := len(lines)
	for k := 1; k <= len(lines); k++ {
		var n yaml.Node
		if yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n) != nil {
			line = k
			break
		}
	}
	l.add(line, "", "not valid YAML: %s", msg)
}

var (
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	cannotRE       = regexp.MustCompile(`^cannot unmarshal !!(\w+) ?(.*) into (\S+)$`)
	yamlKinds      = map[string]string{"map": "a mapping", "seq": "a list", "str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean"}
)

func friendlyYAML(m string) string {
	if sm := unknownFieldRE.FindStringSubmatch(m); sm != nil {
		return fmt.Sprintf("unknown field %q (in %s)", sm[1], sm[2])
	}
	if sm := cannotRE.FindStringSubmatch(m); sm != nil {
		got := yamlKinds[sm[1]]
		if got == "" {
			got = sm[1]
		}
		if sm[2] != "" {
			got += " " + sm[2]
		}
		return fmt.Sprintf("wrong type: got %s, want %s", got, goTypeName(sm[3]))
	}
	return m
}

// goTypeName says in words what a Go type expects of the YAML.
func goTypeName(t string) string {
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
	return t
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
func (l *loader) receiverError(root []any, err error) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			l.receiverError(root, e)
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
	l.at(root, "%v", err)
}
