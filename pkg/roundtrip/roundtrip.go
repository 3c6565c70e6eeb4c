// Package roundtrip is the property every fuzz target of Tether checks on
// what a decoder accepts: it encodes again, and the encoding decodes to an
// equal value. A decoder that accepts something its own side cannot write
// back (a time in year 10000, a number JSON cannot hold) fails it: the
// value would break whoever re-publishes it later.
package roundtrip

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Check encodes v, decodes the result and fails t unless that succeeds
// with a value equal to v, and every time in v can be written in UTC. Empty and nil slices and maps are equal (an
// omitempty field drops either), times are equal when they name the same
// instant, and opts add the caller's own rules.
func Check[T any](t testing.TB, v T, encode func(T) ([]byte, error), decode func([]byte) (T, error), opts ...cmp.Option) {
	t.Helper()
	b, err := encode(v)
	if err != nil {
		t.Fatalf("an accepted value does not encode: %v\nvalue: %#v", err, v)
	}
	back, err := decode(b)
	if err != nil {
		t.Fatalf("an accepted value's encoding does not decode: %v\nencoding: %.2000q", err, b)
	}
	if err := utcTimes(reflect.ValueOf(v)); err != nil {
		t.Fatalf("an accepted value holds a time that cannot be written in UTC: %v", err)
	}
	opts = append([]cmp.Option{cmpopts.EquateEmpty()}, opts...)
	if diff := cmp.Diff(v, back, opts...); diff != "" {
		t.Fatalf("an accepted value changes in a round trip (-accepted +again):\n%s", diff)
	}
}

var timeType = reflect.TypeFor[time.Time]()

// utcTimes returns an error for the first time.Time inside v that does not
// encode once moved to UTC: a decoder that keeps "9999-12-31T23:59:59-23:59"
// as it came re-encodes it fine, but whoever shows it on their own clock
// (the fleet table, in UTC) cannot.
func utcTimes(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return utcTimes(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Interface().(time.Time)
			if _, err := t.UTC().MarshalJSON(); err != nil {
				return fmt.Errorf("%s: %w", t.Format(time.RFC3339), err)
			}
			return nil
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				if err := utcTimes(v.Field(i)); err != nil {
					return err
				}
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := utcTimes(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if err := utcTimes(it.Value()); err != nil {
				return err
			}
		}
	}
	return nil
}

// JSON is Check with encoding/json as the encoder.
func JSON[T any](t testing.TB, v T, decode func([]byte) (T, error), opts ...cmp.Option) {
	t.Helper()
	Check(t, v, func(v T) ([]byte, error) { return json.Marshal(v) }, decode, opts...)
}
