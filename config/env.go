package config

import (
	"errors"
	"reflect"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix prefixes the environment variables that override scalar settings:
// VLLM_SENTINEL_PROMETHEUS_URL overrides prometheus.url.
const EnvPrefix = "VLLM_SENTINEL"

// applyEnv overrides scalar settings from VLLM_SENTINEL_<SECTION>_<KEY>,
// looked up by viper. The value is decoded with the same YAML types as the
// file so that "5m" or "28d" mean the same in both places.
func (l *loader) applyEnv(cfg *Config) {
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for _, key := range envKeys(reflect.TypeOf(*cfg), "") {
		if !v.IsSet(key.path) {
			continue
		}
		env := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key.path, ".", "_"))
		field := reflect.ValueOf(cfg).Elem().FieldByIndex(key.index)
		node := &yaml.Node{Kind: yaml.ScalarNode, Value: v.GetString(key.path)}
		if err := node.Decode(field.Addr().Interface()); err != nil {
			msg := err.Error()
			var te *yaml.TypeError
			if errors.As(err, &te) && len(te.Errors) > 0 {
				msg = te.Errors[0]
				if sm := yamlLineRE.FindStringSubmatch(msg); sm != nil {
					msg = sm[2]
				}
			}
			l.add(0, key.path, "from environment variable %s: %s", env, friendlyYAML(msg))
		}
	}
}

type envKey struct {
	path  string
	index []int
}

// envKeys lists the scalar settings of the top-level sections (not lists or
// maps, whose entries have no stable name).
func envKeys(t reflect.Type, prefix string) []envKey {
	var keys []envKey
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == reflect.TypeOf(Config{}).PkgPath() && f.Type != reflect.TypeOf(MetricNames{}):
			for _, k := range envKeys(f.Type, path) {
				keys = append(keys, envKey{path: k.path, index: append([]int{i}, k.index...)})
			}
		case prefix == "":
			// top-level lists (slos, notifiers, ...) are not scalars
		case f.Type.Kind() == reflect.Slice || f.Type.Kind() == reflect.Map || f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(MetricNames{}):
		default:
			keys = append(keys, envKey{path: path, index: []int{i}})
		}
	}
	return keys
}
