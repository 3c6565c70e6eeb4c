package ha

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/broker/taskengine"
)

func scanAll(t *testing.T, b taskengine.Backend, prefix, after string, values bool) []string {
	t.Helper()
	var a []byte
	if after != "" {
		a = []byte(after)
	}
	var got []string
	if err := b.Scan([]byte(prefix), a, values, func(k, v []byte) (bool, error) {
		if !values && v != nil {
			t.Errorf("Scan without values gave %q a value", k)
		}
		if values && v == nil {
			t.Errorf("Scan with values gave %q none", k)
		}
		got = append(got, string(k)+"="+string(v))
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestBackendReadsWhatItWrote: sets, deletes, empty values and finished
// tasks (values kept in the stream) read back through Get and Scan, in key
// order, the same from the writer, from a new Backend of the same term
// and from the next term's; a Commit larger than one atomic batch is
// split between units.
func TestBackendReadsWhatItWrote(t *testing.T) {
	c := startRegion(t)
	ra, _ := c.open(t, "a", 0)
	ta := mustCampaign(t, ra)
	b := mustBackend(t, ta)
	units := []taskengine.Unit{
		{{Key: []byte("v"), Value: []byte{0, 0, 0, 1}}},
		{{Key: []byte("a/t2"), Value: []byte("r2")}, {Key: []byte("c/t2"), Value: []byte("cp2")}},
		{{Key: []byte("a/t1"), Value: []byte("r1")}},
		{{Key: []byte("a/t1"), Value: nil}, {Key: []byte("f/t1"), Value: []byte("done1")}},
		{{Key: []byte("q/n1"), Value: []byte{}}},
		{{Key: []byte("x/n1/t9"), Value: []byte("fence")}},
		{{Key: []byte("x/n1/t9"), Value: nil}},
		{{Key: []byte("a/gone"), Value: nil}},
	}
	for i := range 600 { // 1,200 writes: two atomic batches
		id := fmt.Sprintf("b%04d", i)
		units = append(units, taskengine.Unit{{Key: []byte("f/" + id), Value: []byte("d" + id)}, {Key: []byte("c/" + id), Value: nil}})
	}
	if err := b.Commit(units); err != nil {
		t.Fatal(err)
	}
	check := func(name string, b taskengine.Backend) {
		t.Helper()
		if d := cmp.Diff([]string{"a/t2=r2"}, scanAll(t, b, "a/", "", true)); d != "" {
			t.Errorf("%s: a/ (-want +got):\n%s", name, d)
		}
		if d := cmp.Diff([]string{"c/t2=cp2"}, scanAll(t, b, "c/", "", true)); d != "" {
			t.Errorf("%s: c/ (-want +got):\n%s", name, d)
		}
		f := scanAll(t, b, "f/", "", true)
		if len(f) != 601 || f[0] != "f/b0000=db0000" || f[600] != "f/t1=done1" {
			t.Errorf("%s: f/ has %d records, first %q last %q", name, len(f), f[0], f[len(f)-1])
		}
		if d := cmp.Diff([]string{"f/b0599=", "f/t1="}, scanAll(t, b, "f/", "f/b0598", false)); d != "" {
			t.Errorf("%s: f/ after f/b0598 (-want +got):\n%s", name, d)
		}
		if got := scanAll(t, b, "f/", "a", false); len(got) != 601 {
			t.Errorf("%s: f/ after a key before the prefix: %d records", name, len(got))
		}
		if d := cmp.Diff([]string{"q/n1="}, scanAll(t, b, "q/", "", true)); d != "" {
			t.Errorf("%s: q/ (-want +got):\n%s", name, d)
		}
		if got := scanAll(t, b, "x/", "", true); len(got) != 0 {
			t.Errorf("%s: x/ = %q, want none", name, got)
		}
		for k, want := range map[string]string{"v": "\x00\x00\x00\x01", "f/t1": "done1", "f/b0007": "db0007", "q/n1": ""} {
			v, err := b.Get([]byte(k))
			if err != nil || v == nil || string(v) != want {
				t.Errorf("%s: Get(%s) = %q, %v; want %q", name, k, v, err, want)
			}
		}
		for _, k := range []string{"a/t1", "c/b0001", "x/n1/t9", "a/gone", "f/none"} {
			if v, err := b.Get([]byte(k)); err != nil || v != nil {
				t.Errorf("%s: Get(%s) = %q, %v; want absent", name, k, v, err)
			}
		}
		n := 0
		b.Scan([]byte("f/"), nil, false, func(k, v []byte) (bool, error) { n++; return n < 3, nil })
		if n != 3 {
			t.Errorf("%s: Scan went on after fn said stop: %d calls", name, n)
		}
	}
	check("writer", b)
	check("reloaded", mustBackend(t, ta))
	ta.Resign()
	tb := mustCampaign(t, ra)
	check("next term", mustBackend(t, tb))
}
