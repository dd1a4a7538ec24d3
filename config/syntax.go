package config

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// syntaxError reports a file that does not parse, at the line of the
// mistake.
//
// yaml.v3's own "line N" is not that line. It is the line where the
// enclosing block or flow collection starts, counted from 0 for parser
// errors (so often the blank line before "global:"); without such a
// context it is the problem's line, again counted from 0 for parser errors;
// and errors on the first line carry none. So the loader finds the line
// itself, from prefixes of whole lines: see mistakeLine.
func (l *loader) syntaxError(err error, data []byte) {
	msg := yamlProblem(err)
	lines := splitLines(data)
	line, quote, ok := mistakeLine(lines, err.Error())
	if !ok {
		// Too large to search: yaml.v3's line, which is never after the
		// problem's.
		if sm := yamlLineRE.FindStringSubmatch(err.Error()); sm != nil {
			line, _ = strconv.Atoi(sm[1])
		}
		line = min(max(line, 1), max(len(lines), 1))
	}
	if quote {
		// What the parser says about the whole file is about a line
		// below, where the string happens to end.
		msg = "a quoted string starts on this line and is not closed on it"
	}
	if hint := syntaxHints[msg]; hint != "" {
		msg += ": " + hint
	}
	if line <= len(lines) {
		text := string(lines[line-1])
		if i := strings.IndexFunc(text, func(r rune) bool { return r != ' ' }); i >= 0 && text[i] == '\t' {
			msg += " (the line is indented with a tab: YAML indents with spaces)"
		}
	}
	l.add(line, "", "not valid YAML: %s", msg)
}

// syntaxHints say what usually causes the parser's terser messages.
var syntaxHints = map[string]string{
	"did not find expected key":                      "check the indentation of this line and of the lines above it",
	"did not find expected '-' indicator":            "check the indentation of this line and of the lines above it",
	"mapping values are not allowed in this context": "a value that holds \": \" must be quoted, or the line is indented too far",
}

// yamlProblem is a parser message without yaml.v3's prefix and line.
func yamlProblem(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if sm := yamlLineRE.FindStringSubmatch(msg); sm != nil {
		msg = sm[2]
	}
	return msg
}

// maxSearch bounds the bytes mistakeLine parses, all prefixes together: a
// configuration is a few kilobytes, and a huge file gets yaml.v3's line.
const maxSearch = 8 << 20

// mistakeLine finds the line of the mistake in a file that fails to parse
// with the error full, from the prefixes of its whole lines.
//
// Once the mistake is in, every longer prefix fails too, so the mistake is
// at or after the line that follows the longest prefix that parses: the
// first line at which the file stops parsing. If that prefix plus one line
// fails on an unclosed quote (quote), the quote opened on that line is the
// mistake. Otherwise that line may open a flow collection or a quoted
// string that runs on, validly, to the mistake: then the mistake is the
// first line from there at which the prefix fails as the whole file does.
// If that is already the next line, the collection opened is the likelier
// mistake (group_by: [model_name, without its "]"). Blank and comment lines
// are never the mistake. ok is false if the search would parse too much.
func mistakeLine(lines [][]byte, full string) (line int, quote, ok bool) {
	budget := maxSearch
	parse := func(k int) (error, bool) {
		prefix := bytes.Join(lines[:k], nil)
		if budget -= len(prefix); budget < 0 {
			return nil, false
		}
		var n yaml.Node
		return yaml.Unmarshal(prefix, &n), true
	}
	stops := 1
	for k := len(lines) - 1; k >= 1; k-- {
		err, ok := parse(k)
		if !ok {
			return 0, false, false
		}
		if err == nil {
			stops = k + 1
			break
		}
	}
	stops = nextContent(lines, stops)
	fails := len(lines)
	for k := stops; k <= len(lines); k++ {
		msg := full
		if k < len(lines) {
			err, ok := parse(k)
			if !ok {
				return 0, false, false
			}
			if err == nil {
				continue
			}
			msg = err.Error()
		}
		if k == stops && strings.HasSuffix(msg, "found unexpected end of stream") {
			return stops, true, true
		}
		if msg == full {
			fails = k
			break
		}
	}
	if fails <= nextContent(lines, stops+1) {
		return stops, false, true
	}
	return nextContent(lines, fails), false, true
}

// nextContent is the first line from line on that is not blank or only a
// comment; the last line if none is.
func nextContent(lines [][]byte, line int) int {
	for line < len(lines) && blankOrComment(lines[line-1]) {
		line++
	}
	return min(line, max(len(lines), 1))
}

// blankOrComment tells a line with nothing but spaces or a comment; a line
// with bytes the reader refuses (bad UTF-8, control characters) may be the
// mistake, so it is neither.
func blankOrComment(line []byte) bool {
	s := strings.TrimRight(string(line), "\r\n\u0085\u2028\u2029")
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) {
		return false
	}
	s = strings.TrimLeft(s, " ")
	return s == "" || s[0] == '#'
}

// splitLines splits data after each line break as yaml.v3 counts them
// (\r\n, \r, \n, NEL, LS, PS), so that line k is the parser's line k. A
// break at the very end starts no line.
func splitLines(data []byte) [][]byte {
	var lines [][]byte
	start := 0
	for i := 0; i < len(data); {
		n := breakLen(data[i:])
		if n == 0 {
			i++
			continue
		}
		i += n
		lines = append(lines, data[start:i])
		start = i
	}
	if start < len(data) {
		lines = append(lines, data[start:])
	}
	return lines
}

// breakLen is the length of the line break data starts with, or 0.
func breakLen(data []byte) int {
	switch {
	case bytes.HasPrefix(data, []byte("\r\n")):
		return 2
	case data[0] == '\r', data[0] == '\n':
		return 1
	case bytes.HasPrefix(data, []byte("\u0085")):
		return 2
	case bytes.HasPrefix(data, []byte("\u2028")), bytes.HasPrefix(data, []byte("\u2029")):
		return 3
	}
	return 0
}
