package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// migrateKillEnv makes the test binary a child that opens the store in
// <dir> — written before blobs, so Open migrates it — and is SIGKILLed at
// the migration's step <step>: "<step> <dir>".
const migrateKillEnv = "TETHER_STORE_TEST_MIGRATE_KILL"

// migrateAndDie runs the child of TestMigrationKilledAtEachStep.
func migrateAndDie() {
	arg, ok := os.LookupEnv(migrateKillEnv)
	if !ok {
		return
	}
	step, dir, _ := strings.Cut(arg, " ")
	s, _, err := Open(dir, Options{migrateHook: func(at string) {
		if at == step {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}})
	if err == nil {
		_ = s.Close()
	}
	fmt.Fprintf(os.Stderr, "Open returned %v without reaching step %s\n", err, step)
	os.Exit(3)
}

// TestMigrationKilledAtEachStep: a process killed at each step of a
// migration — while copying, once the new store is written and synced,
// between the two renames, after them, after the old store is removed —
// leaves a store that the next Open opens whole: every record, task,
// history and checkpoint as before, and migrated. In -short (the emulated
// runs) two of the five: a kill before the swap, and the one between the
// renames, which leaves no store directory at all.
func TestMigrationKilledAtEachStep(t *testing.T) {
	// What each cut leaves on disk: does dir, dir.rebuild, dir.retired exist?
	steps := []struct {
		step                  string
		dir, rebuild, retired bool
	}{
		{"copying", true, true, false},
		{"built", true, true, false},
		{"retired", false, true, true},
		{"swapped", true, false, true},
		{"removed", true, false, false},
	}
	for _, st := range steps {
		if testing.Short() && st.step != "copying" && st.step != "retired" {
			continue
		}
		t.Run(st.step, func(t *testing.T) {
			h := newHarness(t, legacy)
			want := writeLegacyStore(t, h)
			want.Stats.Oldest = want.Stats.Oldest.UTC()
			if err := h.s.Close(); err != nil {
				t.Fatal(err)
			}
			h.s = nil

			cmd := selfCommand(t, "-test.run", "^$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s", migrateKillEnv, st.step, h.dir))
			out, err := cmd.CombinedOutput()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child not killed inside the migration: %v\n%s", err, out)
			}
			got := []bool{exists(h.dir), exists(h.dir + ".rebuild"), exists(h.dir + ".retired")}
			diff(t, "dir, dir.rebuild, dir.retired after the kill", []bool{st.dir, st.rebuild, st.retired}, got)

			upgrade(&h.opts)
			h.open()
			if h.s.DB().ValueLogInUse() {
				t.Error("not migrated after the open that followed the kill")
			}
			diffContent(t, "content after the kill and an open", want, contentOf(t, h.s))
			if exists(h.dir+".rebuild") || exists(h.dir+".retired") {
				t.Error("a migration's directory left beside the store")
			}
		})
	}
}

func exists(path string) bool {
	_, err := os.Lstat(filepath.Clean(path))
	return err == nil
}
