package notify

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// DecodeEntry decodes one entry of notifiers: into targets, pointers to
// structs, strictly: every key must name a field of one of them, or be name
// or type, which the registry reads and DecodeEntry skips. Several targets
// let a receiver accept keys only to refuse them in words of its own.
//
// Problems come back as one *yaml.TypeError in yaml.v3's own words, "line
// N: field X not found in type T" or "line N: cannot unmarshal …", which
// the config loader already turns into file:line problems. It stands in for
// yaml.v3's Decoder.KnownFields, which Node.Decode lacks; unknown keys are
// found at every depth (http_config.tls_config too). Merge keys (<<) are
// not supported.
func DecodeEntry(node *yaml.Node, targets ...any) error {
	node = resolveNode(node)
	if node == nil {
		return nil
	}
	if node.Kind != yaml.MappingNode {
		// yaml.v3 says what it got and what it wanted.
		return node.Decode(targets[0])
	}
	fields := map[string]reflect.Value{}
	for _, t := range targets {
		v := reflect.ValueOf(t).Elem()
		for name, f := range fieldsOf(v.Type()) {
			fields[name] = v.FieldByIndex(f.index)
		}
	}
	typeName := reflect.TypeOf(targets[0]).Elem().String()
	var errs []string
	seen := map[string]bool{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], resolveNode(node.Content[i+1])
		switch f, known := fields[k.Value]; {
		case seen[k.Value]:
			errs = append(errs, fmt.Sprintf("line %d: field %s already set in type %s", k.Line, k.Value, typeName))
		case k.Value == "name" || k.Value == "type":
		case !known:
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, typeName))
		default:
			errs = append(errs, unknownKeys(v, f.Type())...)
			errs = append(errs, decodeField(v, f)...)
		}
		seen[k.Value] = true
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// decodeField decodes v into f. The UnmarshalYAML methods of the old kind
// (model.Duration's, commoncfg's) fail without a line: they get v's.
func decodeField(v *yaml.Node, f reflect.Value) []string {
	err := v.Decode(f.Addr().Interface())
	if err == nil {
		return nil
	}
	if te, ok := errors.AsType[*yaml.TypeError](err); ok {
		return te.Errors
	}
	msg := err.Error()
	if f.Type() == reflect.TypeFor[model.Duration]() {
		msg = fmt.Sprintf("invalid duration %q (want e.g. 30s, 5m, 1h, 28d, 1w)", v.Value)
	}
	return []string{fmt.Sprintf("line %d: %s", v.Line, msg)}
}

// unknownKeys reports the keys of mappings under n that name no field of
// the struct that t decodes them into.
func unknownKeys(n *yaml.Node, t reflect.Type) []string {
	n = resolveNode(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n == nil || reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		// It reads its node in its own way.
		return nil
	}
	var errs []string
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := fieldsOf(t)
		rest := inlineMapOf(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch f, ok := fields[k.Value]; {
			case ok:
				errs = append(errs, unknownKeys(v, f.typ)...)
			case rest != nil:
				errs = append(errs, unknownKeys(v, rest)...)
			default:
				errs = append(errs, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, t))
			}
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 1; i < len(n.Content); i += 2 {
			errs = append(errs, unknownKeys(n.Content[i], t.Elem())...)
		}
	case n.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for _, item := range n.Content {
			errs = append(errs, unknownKeys(item, t.Elem())...)
		}
	}
	return errs
}

type fieldInfo struct {
	index []int
	typ   reflect.Type
}

// fieldsOf maps the YAML keys of struct t to its fields as yaml.v3 does:
// the tag's name or the lowercased field name, through inline structs.
func fieldsOf(t reflect.Type) map[string]fieldInfo {
	out := map[string]fieldInfo{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, inline, ok := yamlTag(f)
		if !ok {
			continue
		}
		ft := f.Type
		if inline && ft.Kind() == reflect.Struct {
			for k, sub := range fieldsOf(ft) {
				out[k] = fieldInfo{index: append([]int{i}, sub.index...), typ: sub.typ}
			}
			continue
		}
		if !inline {
			out[name] = fieldInfo{index: []int{i}, typ: ft}
		}
	}
	return out
}

// inlineMapOf returns the value type of t's inline map, which takes any
// key, or nil.
func inlineMapOf(t reflect.Type) reflect.Type {
	for i := range t.NumField() {
		f := t.Field(i)
		if _, inline, ok := yamlTag(f); ok && inline {
			switch f.Type.Kind() {
			case reflect.Map:
				return f.Type.Elem()
			case reflect.Struct:
				if m := inlineMapOf(f.Type); m != nil {
					return m
				}
			}
		}
	}
	return nil
}

// yamlTag reads f's yaml tag; ok is false for fields yaml.v3 skips.
func yamlTag(f reflect.StructField) (name string, inline, ok bool) {
	if f.PkgPath != "" && !f.Anonymous {
		return "", false, false
	}
	tag := f.Tag.Get("yaml")
	if tag == "" && !strings.Contains(string(f.Tag), ":") {
		tag = string(f.Tag)
	}
	if tag == "-" {
		return "", false, false
	}
	parts := strings.Split(tag, ",")
	for _, flag := range parts[1:] {
		if flag == "inline" {
			inline = true
		}
	}
	name = parts[0]
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, inline, true
}

// resolveNode looks through documents and aliases.
func resolveNode(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch {
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		case n.Kind == yaml.AliasNode:
			n = n.Alias
		default:
			return n
		}
	}
	return nil
}
