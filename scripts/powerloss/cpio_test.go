package powerloss

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type cpioEntry struct {
	Name         string
	Mode         uint32
	Data         string
	Major, Minor uint32
}

// readCpio parses newc archives (concatenated ones too), as the kernel does.
func readCpio(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	r := bytes.NewReader(b)
	pos := func() int64 { return int64(len(b)) - int64(r.Len()) }
	align := func() { r.Seek((pos()+3)&^3, io.SeekStart) }
	for r.Len() > 0 {
		hdr := make([]byte, 110)
		if _, err := io.ReadFull(r, hdr); err != nil {
			t.Fatalf("header at %d: %v", pos(), err)
		}
		if string(hdr[:6]) != "070701" {
			t.Fatalf("magic %q at %d", hdr[:6], pos()-110)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return uint32(v)
		}
		name := make([]byte, field(11))
		io.ReadFull(r, name)
		align()
		data := make([]byte, field(6))
		io.ReadFull(r, data)
		align()
		e := cpioEntry{strings.TrimRight(string(name), "\x00"), field(1), string(data), field(9), field(10)}
		if e.Name != "TRAILER!!!" {
			out = append(out, e)
		}
	}
	return out
}

func TestCpioWriter(t *testing.T) {
	var buf bytes.Buffer
	c := newCpioWriter(&buf)
	c.Dir("bin")
	c.CharDev("dev/console", 5, 1)
	c.Symlink("bin/sh", "busybox")
	c.File("init", 0o755, 5, strings.NewReader("hello"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = newCpioWriter(&buf) // a second archive, concatenated
	c.File("workload.args", 0o644, 3, strings.NewReader("-x\n"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	want := []cpioEntry{
		{Name: "bin", Mode: modeDir | 0o755},
		{Name: "dev/console", Mode: modeChar | 0o600, Major: 5, Minor: 1},
		{Name: "bin/sh", Mode: modeLink | 0o777, Data: "busybox"},
		{Name: "init", Mode: modeFile | 0o755, Data: "hello"},
		{Name: "workload.args", Mode: modeFile | 0o644, Data: "-x\n"},
	}
	if diff := cmp.Diff(want, readCpio(t, buf.Bytes())); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
}
