package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/tether-edge/tether/pkg/kv"
	"github.com/tether-edge/tether/pkg/testenv"
)

// forgetKillEnv makes the test binary a child that forgets task "long" in
// the store <dir> and is SIGKILLed right after the forgetting's n-th
// transaction commits: "<n> <dir>".
const forgetKillEnv = "TETHER_STORE_TEST_FORGET_KILL"

// forgetKillPerTxn: the child deletes 3 history keys per transaction, so
// the 10 transitions of task "long" take 4 transactions.
const (
	forgetKillPerTxn = 3
	forgetKillTxns   = 4
)

// forgetAndDie runs the child of TestForgetTaskKilledBetweenTransactions.
func forgetAndDie() {
	arg, ok := os.LookupEnv(forgetKillEnv)
	if !ok {
		return
	}
	ns, dir, _ := strings.Cut(arg, " ")
	n, err := strconv.Atoi(ns)
	if err != nil || dir == "" {
		fmt.Fprintf(os.Stderr, "%s: %q\n", forgetKillEnv, arg)
		os.Exit(2)
	}
	commits := 0
	s, _, err := Open(dir, Options{forgetPerTxn: forgetKillPerTxn, failpoint: func(point string) error {
		if point == "forget" {
			if commits++; commits == n {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
		return nil
	}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "open: %v\n", err)
		os.Exit(2)
	}
	err = s.ForgetTask("long")
	fmt.Fprintf(os.Stderr, "ForgetTask returned %v after %d transactions\n", err, commits)
	os.Exit(3)
}

// TestForgetTaskKilledBetweenTransactions: a task whose history takes
// several transactions to delete, its process SIGKILLed after each of
// them, is never found in part: on disk the kill left the tombstone and
// part of the history (the cut landed between the steps), and once the
// store is open the task is gone whole — no state, history, checkpoint or
// blob — while the other task (t) is whole. In -short (the emulated runs)
// only the first and the last kill: one inside the deletion, one after it.
func TestForgetTaskKilledBetweenTransactions(t *testing.T) {
	tpl := filepath.Join(t.TempDir(), "template")
	s, _, err := Open(tpl, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 10 {
		var cp []byte
		if i == 9 {
			cp = make([]byte, 20<<10) // a blob
		}
		if _, err := s.Journal(ctx, "long", Transition{Attempt: 1, To: fmt.Sprintf("s%d", i)}, cp, payload("e")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if _, err := s.Journal(ctx, "t", Transition{Attempt: 1, To: fmt.Sprintf("s%d", i)}, []byte("cp"), payload("e")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= forgetKillTxns; n++ {
		if testing.Short() && n != 1 && n != forgetKillTxns {
			continue
		}
		t.Run(fmt.Sprintf("killed after transaction %d", n), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			if out, err := exec.Command("cp", "-a", tpl, dir).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
			cmd := selfCommand(t, "-test.run", "^$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %s", forgetKillEnv, n, dir))
			out, err := cmd.CombinedOutput()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child not killed inside ForgetTask: %v\n%s", err, out)
			}

			keys := rawKeys(t, dir, "long")
			journal := countPrefix(keys, "j/long/")
			if n < forgetKillTxns {
				if !keys["f/long"] || keys["t/long"] || keys["c/long"] || journal != 10-n*forgetKillPerTxn {
					t.Fatalf("on disk after the kill: %v; want the tombstone and %d transitions", keys, 10-n*forgetKillPerTxn)
				}
			} else if len(keys) != 0 {
				t.Fatalf("on disk after the last transaction: %v", keys)
			}

			s, rec, err := Open(dir, testOptions(t))
			if err != nil || rec != nil {
				t.Fatalf("Open = %v, %+v", err, rec)
			}
			defer s.Close()
			if keys := rawStoreKeys(t, s, "long"); len(keys) != 0 {
				t.Errorf("keys of the forgotten task left after Open: %v", keys)
			}
			tasks, err := s.Tasks()
			if err != nil || len(tasks) != 1 || tasks[0].Task != "t" || tasks[0].Transitions != 2 {
				t.Fatalf("Tasks() = %+v, %v; want t alone, with 2 transitions", tasks, err)
			}
			if h, err := s.History("long"); err != nil || len(h) != 0 {
				t.Errorf("History(long) = %d transitions, %v", len(h), err)
			}
			if _, ok, err := s.Checkpoint("long"); ok || err != nil {
				t.Errorf("Checkpoint(long) = %v, %v", ok, err)
			}
			assertTask(t, s, "s1", 2, "cp")
			blobs, err := os.ReadDir(filepath.Join(dir, blobDir))
			if err != nil || len(blobs) != 0 {
				t.Errorf("blobs left: %v, %v", blobs, err)
			}
		})
	}
}

// TestForgetTaskLongHistory: a history too long for one Badger
// transaction is forgotten in several, and all of it.
func TestForgetTaskLongHistory(t *testing.T) {
	h := newHarness(t)
	const n = 6000
	wb := h.s.db.NewWriteBatch()
	for i := uint32(1); i <= n; i++ {
		tr := Transition{Task: "long", Attempt: 1, To: "running"}
		if err := wb.Set(journalKey("long", i), encodeTransition(tr, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	st := TaskState{Task: "long", Attempt: 1, State: "running", Transitions: n, Seq: n}
	if err := wb.Set(taskKey("long"), encodeState(st)); err != nil {
		t.Fatal(err)
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	before := h.s.Commits()
	if err := h.s.ForgetTask("long"); err != nil {
		t.Fatal(err)
	}
	if c := h.s.Commits() - before; c < 2 {
		t.Errorf("%d transitions forgotten in %d transaction(s); the test needs more than one", n, c)
	}
	h.reopen()
	if keys := rawStoreKeys(t, h.s, "long"); len(keys) != 0 {
		t.Errorf("%d keys of the forgotten task left", len(keys))
	}
}

// rawKeys opens dir with pkg/kv alone (nothing of the agent store's Open
// runs) and returns the keys of task's state, history, checkpoint and
// tombstone.
func rawKeys(t *testing.T, dir, task string) map[string]bool {
	t.Helper()
	db, rec, err := kv.Open(dir, kv.Device(), testenv.Logger(t, slog.LevelWarn))
	if err != nil || rec != nil {
		t.Fatalf("kv.Open = %v, %+v", err, rec)
	}
	defer db.Close()
	return taskKeys(t, db, task)
}

func rawStoreKeys(t *testing.T, s *Store, task string) map[string]bool {
	t.Helper()
	return taskKeys(t, s.db, task)
}

func taskKeys(t *testing.T, db *kv.DB, task string) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := string(it.Item().Key())
			for _, p := range []string{"t/", "c/", "f/"} {
				if k == p+task {
					keys[k] = true
				}
			}
			if strings.HasPrefix(k, "j/"+task+"/") {
				keys[k] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func countPrefix(keys map[string]bool, prefix string) int {
	n := 0
	for k := range keys {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}
