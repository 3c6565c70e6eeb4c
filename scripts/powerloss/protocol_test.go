package powerloss

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/blob"
)

// testdata/console.txt is a serial console as qemu prints it (CRLF), with
// kernel and library lines, unknown protocol words and a garbled line.
func TestParseConsoleFixture(t *testing.T) {
	b, err := os.ReadFile("testdata/console.txt")
	if err != nil {
		t.Fatal(err)
	}
	var got []Line
	var bad []string
	for _, s := range strings.SplitAfter(string(b), "\n") {
		if s == "" {
			continue
		}
		l, ok, err := ParseLine(s)
		switch {
		case err != nil:
			bad = append(bad, s)
		case ok:
			got = append(got, l)
		}
	}
	want := []Line{
		{Kind: KindInitBooted},
		{Kind: KindInitMounting},
		{Kind: KindInitMounted, Text: "rw,relatime,data=ordered,barrier,commit=5"},
		{Kind: KindInitStart},
		{Kind: KindOpened, Next: 1250},
		{Kind: KindHave, From: 1, To: 1200},
		{Kind: KindHave, From: 1249, To: 1249},
		{Kind: KindCommit, From: 1250, To: 1250},
		{Kind: KindCompactBegin},
		{Kind: KindOther, Text: "FLUSHED"},
		{Kind: KindBroken, Text: "task-0: history of 3"},
		{Kind: KindCommit, From: 1251, To: 1251}, // after a kernel message on the same line
		{Kind: KindCompactEnd},
		{Kind: KindInitExit, Text: "1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsed lines (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"TETHER-PL COMMIT 12x52\r\n"}, bad); diff != "" {
		t.Errorf("malformed lines (-want +got):\n%s", diff)
	}
}

func TestParseLineErrors(t *testing.T) {
	for _, s := range []string{
		"TETHER-PL OPENED next=5",
		"TETHER-PL OPENED recovered=2 next=5",
		"TETHER-PL OPENED recovered=0 next=x",
		"TETHER-PL HAVE 9-3",
		"TETHER-PL HAVE 1-2 5",
		"TETHER-PL HAVE",
		"TETHER-PL COMMIT",
		"TETHER-PL PUBACK",
		"TETHER-PL DELETED 4 5",
		"TETHER-PL DELETED -1",
		"TETHER-PL STORE disk=5 live=3",
		"TETHER-PL STORE disk=5 live=-3 open_ms=1",
		"TETHER-PL COMPACT",
		"TETHER-PL COMPACT SOON",
		"TETHER-PL ",
		"TETHER-PL-INIT WHAT",
	} {
		if _, ok, err := ParseLine(s); !ok || err == nil {
			t.Errorf("ParseLine(%q): ok=%v err=%v, want a protocol error", s, ok, err)
		}
	}
	if _, ok, err := ParseLine("[ 1.0] virtio_blk virtio1: [vda] 1048576 512-byte logical blocks"); ok || err != nil {
		t.Errorf("a kernel line: ok=%v err=%v", ok, err)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"TETHER-PL OPENED recovered=1 next=7", "TETHER-PL HAVE 3-9", "TETHER-PL COMMIT 4", "TETHER-PL-INIT EXIT 2",
		"TETHER-PL PUBACK 4", "TETHER-PL DELETED 4", "TETHER-PL STORE disk=4096 live=100 open_ms=3", "TETHER-PL TASK a STORED checkpoint 5/60", "TETHER-PL TASK a PROGRESS 10/60", "TETHER-PL TASK a DONE beef",
		"TETHER-PL BLOB FETCHED 2 sha256:" + strings.Repeat("ab", 32) + ":100 50", "TETHER-PL BLOB PARTIAL sha256:" + strings.Repeat("cd", 32) + ":9 9",
		"TETHER-PL BLOB LISTED", "TETHER-PL BLOB REMOVING 7", "TETHER-PL BLOB CORRUPT x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, ok, err := ParseLine(s)
		if !ok && (err != nil || l != (Line{})) {
			t.Fatalf("not a protocol line but l=%+v err=%v", l, err)
		}
		if err == nil && l.Kind == KindHave && l.To < l.From {
			t.Fatalf("HAVE runs backwards: %+v", l)
		}
		if b := l.Blob; err == nil && l.Kind == KindBlob && b.ID != "" {
			id, perr := blob.ParseID(b.ID)
			if perr != nil || b.N < 0 || b.N > id.Size {
				t.Fatalf("a blob line out of bounds: %+v (%v)", l, perr)
			}
		}
		if err == nil && l.Kind == KindTask && (l.Done < 0 || l.Done > l.Total || l.Task == "") {
			t.Fatalf("a task line out of bounds: %+v", l)
		}
		// What parses writes back as a line that parses to the same.
		if ok && err == nil {
			back := formatLine(l)
			again, ok2, err2 := ParseLine(back)
			if !ok2 || err2 != nil || again != l {
				t.Fatalf("%q parsed to %+v, written back as %q, which parses to %+v (ok %v, %v)", s, l, back, again, ok2, err2)
			}
		}
	})
}

// formatLine writes l as the workload or init would: the protocol's
// canonical form of what ParseLine read.
func formatLine(l Line) string {
	switch l.Kind {
	case KindInitBooted:
		return initPrefix + "BOOTED"
	case KindInitMounting:
		return initPrefix + "MOUNTING"
	case KindInitMounted:
		return initPrefix + "MOUNTED " + l.Text
	case KindInitStart:
		return initPrefix + "START"
	case KindInitExit:
		return initPrefix + "EXIT " + l.Text
	case KindInitError:
		return initPrefix + "ERROR " + l.Text
	case KindOpened:
		rec := 0
		if l.Recovered {
			rec = 1
		}
		return fmt.Sprintf("%sOPENED recovered=%d next=%d", wlPrefix, rec, l.Next)
	case KindHave:
		return fmt.Sprintf("%sHAVE %d-%d", wlPrefix, l.From, l.To)
	case KindCommit:
		return fmt.Sprintf("%sCOMMIT %d", wlPrefix, l.From)
	case KindPuback:
		return fmt.Sprintf("%sPUBACK %d", wlPrefix, l.From)
	case KindHostAck:
		return fmt.Sprintf("%sACK %d", hostPrefix, l.From)
	case KindDeleted:
		return fmt.Sprintf("%sDELETED %d", wlPrefix, l.From)
	case KindStore:
		return fmt.Sprintf("%sSTORE disk=%d live=%d open_ms=%d", wlPrefix, l.Disk, l.Live, l.OpenMS)
	case KindCompactBegin:
		return wlPrefix + "COMPACT BEGIN"
	case KindCompactEnd:
		return wlPrefix + "COMPACT END"
	case KindBroken:
		return wlPrefix + "BROKEN " + l.Text
	case KindError:
		return wlPrefix + "ERROR " + l.Text
	case KindBlob:
		return formatBlob(l.Blob)
	case KindOther:
		if w, ok := strings.CutPrefix(l.Text, "TASK "); ok {
			return wlPrefix + "TASK _ " + w
		}
		return wlPrefix + l.Text
	}
	task := wlPrefix + "TASK " + l.Task + " "
	progress := fmt.Sprintf("%d/%d", l.Done, l.Total)
	switch l.Event {
	case TaskSubmit:
		return task + "SUBMIT"
	case TaskAccepted:
		return task + "ACCEPTED"
	case TaskStored:
		out := task + "STORED " + l.Text + " " + progress
		if l.Output != "" {
			out += " " + l.Output
		}
		return out
	case TaskResumed:
		return task + "RESUMED-FROM " + progress
	case TaskProgress:
		return task + "PROGRESS " + progress
	case TaskDone:
		return task + "DONE " + l.Output
	default:
		return task + "FAILED " + l.Text
	}
}

func formatBlob(b BlobLine) string {
	p := wlPrefix + "BLOB "
	switch b.Event {
	case BlobHave:
		return fmt.Sprintf("%sHAVE %d %s", p, b.K, b.ID)
	case BlobCorrupt:
		return p + "CORRUPT " + b.Text
	case BlobPartial:
		return fmt.Sprintf("%sPARTIAL %s %d", p, b.ID, b.N)
	case BlobListed:
		return p + "LISTED"
	case BlobFetching:
		return fmt.Sprintf("%sFETCHING %d %s", p, b.K, b.ID)
	case BlobFetched:
		return fmt.Sprintf("%sFETCHED %d %s %d", p, b.K, b.ID, b.N)
	default:
		return fmt.Sprintf("%sREMOVING %d", p, b.K)
	}
}
