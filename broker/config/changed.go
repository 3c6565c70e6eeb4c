package config

import (
	"reflect"
	"strings"
)

// Changed lists the keys whose values differ between a and b, as a
// configuration file writes them (dotted: "tasks.progress_timeout"), in
// the order of the Config struct. An empty list and none are the same.
func Changed(a, b Config) []string {
	var out []string
	changed(reflect.ValueOf(a), reflect.ValueOf(b), "", &out)
	return out
}

func changed(a, b reflect.Value, prefix string, out *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		key := prefix + name
		av, bv := a.Field(i), b.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct:
			changed(av, bv, key+".", out)
		case (av.Kind() == reflect.Slice || av.Kind() == reflect.Map) && av.Len() == 0 && bv.Len() == 0:
		case !reflect.DeepEqual(av.Interface(), bv.Interface()):
			*out = append(*out, key)
		}
	}
}
