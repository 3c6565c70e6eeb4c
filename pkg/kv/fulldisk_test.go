package kv

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/tether-edge/tether/pkg/testenv"
)

// fullDiskChild is the environment variable that makes
// TestFullDiskIsAnErrorNotAFault the child that writes.
const fullDiskChild = "TETHER_KV_FULL_DISK_DIR"

// TestFullDiskIsAnErrorNotAFault: a store whose filesystem fills up under
// it — another process took the last bytes between the agent's look at the
// free space and Badger's write — gets errors from the writes that need
// disk space Badger cannot have (the next WAL, a value-log file, a grown
// one, a flushed table) and keeps running, where Badger's sparse files
// made it fault (SIGBUS) on the first write to a page the filesystem could
// not back. Two outcomes, both checked: a value-log file Badger could not
// create or grow refuses writes until there is room again, then takes
// them; a WAL it could not create wedges the DB (Badger's own next write
// would end the process): every later write gets ErrWedged and Run returns
// it, for the agent to open the store again, and every read gets
// ErrWedged where Badger faulted. Every write committed is in
// the store at the next open. The writes run in a child process, which a
// fault would kill.
func TestFullDiskIsAnErrorNotAFault(t *testing.T) {
	if dir := os.Getenv(fullDiskChild); dir != "" {
		fullDiskWriter(dir)
		return
	}
	for _, large := range []int{0, 20 << 10} {
		t.Run(fmt.Sprintf("values of %d KiB", max(4, large>>10)), func(t *testing.T) {
			mnt := testenv.MountTmpfs(t, "16m")
			dir := filepath.Join(mnt, "store")
			cmd := exec.Command(os.Args[0], "-test.run=^TestFullDiskIsAnErrorNotAFault$", "-test.count=1")
			cmd.Env = append(os.Environ(), fullDiskChild+"="+dir, fmt.Sprintf("%s_LARGE=%d", fullDiskChild, large))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the writer died (%v) on a full disk:\n%s", err, out)
			}
			m := regexp.MustCompile(`committed (\d+); refused (\d+), the first: (.*)\nwedged (\w+): (.*)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("the writer said nothing of its writes:\n%s", out)
			}
			committed, _ := strconv.Atoi(string(m[1]))
			t.Logf("committed %d writes, %s refused, the first: %s; wedged %s: %s", committed, m[2], m[3], m[4], m[5])
			if committed == 0 || string(m[2]) == "0" {
				t.Fatalf("the writer committed %d and had %s refused: the disk did not fill as the test means", committed, m[2])
			}
			switch want := "60 of 60 later writes and reads refused with ErrWedged, Run returned it"; {
			case string(m[4]) == "true" && string(m[5]) != want:
				t.Fatalf("wedged, but: %s; want %s", m[5], want)
			case string(m[4]) == "false" && string(m[5]) != "a write taken once the disk had room":
				t.Fatalf("not wedged, and with room again: %s", m[5])
			}

			// Every committed write is there.
			_ = os.Remove(filepath.Join(mnt, "filler"))
			db, rec := mustOpen(t, dir, testProfile())
			if rec != nil {
				t.Fatalf("the store was moved aside: %+v", rec)
			}
			for i := range committed {
				key := fmt.Appendf(nil, "k%06d", i)
				if err := db.View(func(txn *badger.Txn) error { _, err := txn.Get(key); return err }); err != nil {
					t.Fatalf("committed write %s: %v", key, err)
				}
			}
		})
	}
}

// fullDiskWriter opens a store in dir, fills the filesystem beside it to
// the last byte, and commits 4 KiB values (in the LSM tree) — every fourth
// one of $TETHER_KV_FULL_DISK_DIR_LARGE bytes instead, when set (in the
// value log) — under keys k000000, k000001 … until the DB is wedged or 50
// were refused. Wedged, it tries 40 more writes and 20 reads and runs the
// DB's Run;
// not wedged, it frees the space and writes once more. It prints what
// happened and exits without closing (a close on a full disk is Abandon's
// case).
func fullDiskWriter(dir string) {
	db, _, err := Open(dir, Device(), nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	filler := filepath.Join(filepath.Dir(dir), "filler")
	fillFS(filler)
	small := make([]byte, 4<<10)
	n, _ := strconv.Atoi(os.Getenv(fullDiskChild + "_LARGE"))
	large := make([]byte, n)
	committed, refused := 0, 0
	var first error
	put := func(i int) error {
		v := small
		if i%4 == 3 && len(large) > 0 {
			v = large
		}
		return db.Update(func(txn *badger.Txn) error { return txn.Set(fmt.Appendf(nil, "k%06d", committed), v) })
	}
	for i := 0; refused < 50 && !db.Wedged(); i++ {
		if err := put(i); err != nil {
			refused++
			first = cmp.Or(first, err)
			continue
		}
		committed++
	}
	fmt.Printf("committed %d; refused %d, the first: %q\n", committed, refused, fmt.Sprint(first))
	if db.Wedged() {
		after := 0
		for range 20 {
			if errors.Is(put(0), ErrWedged) {
				after++
			}
			txn := db.NewTransaction(true)
			if txn.Set([]byte("after"), small) == nil && errors.Is(db.Commit(txn), ErrWedged) {
				after++
			}
			// A read too: Badger without its memtable faults on one.
			if errors.Is(db.View(func(txn *badger.Txn) error { _, err := txn.Get([]byte("k000000")); return err }), ErrWedged) {
				after++
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		run := db.Run(ctx)
		fmt.Printf("wedged true: %d of 60 later writes and reads refused with ErrWedged, Run returned it%s\n", after,
			map[bool]string{true: "", false: " not"}[errors.Is(run, ErrWedged)])
	} else {
		_ = os.Remove(filler)
		if err := put(0); err != nil {
			fmt.Printf("wedged false: refused with room again: %v\n", err)
		} else {
			fmt.Printf("wedged false: a write taken once the disk had room\n")
		}
	}
	db.Abandon()
	os.Exit(0)
}

// fillFS writes path until its filesystem has no byte left.
func fillFS(path string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Println("filler:", err)
		os.Exit(1)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for len(chunk) > 0 {
		if _, err := f.Write(chunk); err != nil {
			chunk = chunk[:len(chunk)/2]
		}
	}
}
