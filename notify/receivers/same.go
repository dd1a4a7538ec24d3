package receivers

import (
	"cmp"
	"reflect"
	"slices"

	"github.com/prometheus/common/model"

	"github.com/vllm-sentinel/vllm-sentinel/notify"
	"github.com/vllm-sentinel/vllm-sentinel/notify/dispatch"
)

// Same reports whether a and b, settings as Decode returned them, would
// build the same queue: settings of one type whose values, the secrets
// read from files included, are equal once what they leave out is filled
// in with its default (an entry without timeout is the same as one with
// timeout: 10s). It compares without printing anything.
//
// It is for a reload: a notifier whose name, type, settings and Env are
// unchanged can keep its running queue (Alertmanager's in-memory queue, a
// Dispatcher's groups and the notification it is retrying) instead of
// being flushed, stopped and built again. What Same does not see is the
// caller's to compare: the name (metrics, outbox directory) and the Env.
// Files that http_config names (TLS certificates, password_file) are read
// by the running client as it goes, so a change of their content alone
// needs no new queue; the secret files of an entry (webhook_url_file,
// url_file, secret_file) are read by Decode, and a change of their content
// makes the settings differ. When unsure, Same says false: a queue built
// again is always correct.
func Same(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if !va.IsValid() || !vb.IsValid() || va.Type() != vb.Type() ||
		va.Kind() != reflect.Pointer || va.IsNil() || vb.IsNil() || va.Elem().Kind() != reflect.Struct {
		return false
	}
	return equal(normalised(va.Elem()), normalised(vb.Elem()))
}

// normalised returns a copy of the settings struct v with the defaults of
// its shared parts filled in, as the constructors fill them.
func normalised(v reflect.Value) reflect.Value {
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	for i := range c.NumField() {
		f := c.Field(i)
		if !f.CanSet() {
			continue
		}
		switch p := f.Addr().Interface().(type) {
		case *notify.HTTPSettings:
			hc := p.ClientConfig()
			p.HTTPConfig = &hc
			if p.Timeout == 0 {
				p.Timeout = model.Duration(notify.DefaultTimeout)
			}
		case *notify.Grouping:
			*p = normalGrouping(*p)
		}
	}
	return c
}

// normalGrouping is g as the Dispatcher built from it sees it.
func normalGrouping(g notify.Grouping) notify.Grouping {
	o := dispatch.Options{}.WithGrouping(g)
	by := slices.Clone(o.GroupBy)
	slices.Sort(by)
	resolved := o.SendResolved
	return notify.Grouping{
		GroupBy:        slices.Compact(by),
		GroupWait:      model.Duration(cmp.Or(o.GroupWait, dispatch.DefaultGroupWait)),
		GroupInterval:  model.Duration(cmp.Or(o.GroupInterval, dispatch.DefaultGroupInterval)),
		RepeatInterval: model.Duration(cmp.Or(o.RepeatInterval, dispatch.DefaultRepeatInterval)),
		SendResolved:   &resolved,
	}
}

// equal is reflect.DeepEqual for settings: unexported fields (the
// secrets) count, a nil slice or map equals an empty one, and functions,
// which settings hold only as caches (commoncfg's proxy function), are
// left out.
func equal(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() || a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Func:
		return true
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equal(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !equal(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equal(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for it := a.MapRange(); it.Next(); {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() || !equal(it.Value(), bv) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float()
	case reflect.Complex64, reflect.Complex128:
		return a.Complex() == b.Complex()
	}
	// Channels and unsafe pointers: no settings hold them; say different.
	return false
}
