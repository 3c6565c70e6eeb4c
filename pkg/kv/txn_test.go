package kv

import (
	"reflect"
	"testing"
)

// TestBadgerStaysInside: a DB exposes no Badger field and none of the
// Badger calls that would bypass its accounting — a caller could close
// Badger under the compactor, collect the value log beside
// CollectGarbage or drop the data.
func TestBadgerStaysInside(t *testing.T) {
	typ := reflect.TypeFor[DB]()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() {
			t.Errorf("DB has an exported field %s (%s)", f.Name, f.Type)
		}
	}
	ptr := reflect.TypeFor[*DB]()
	// Close, Flatten and CollectGarbage are the DB's own.
	for _, m := range []string{"RunValueLogGC", "DropAll", "DropPrefix", "Load", "Backup", "SetDiscardTs", "Levels"} {
		if meth, ok := ptr.MethodByName(m); ok {
			t.Errorf("DB exposes Badger's %s (%s)", m, meth.Type)
		}
	}
}
