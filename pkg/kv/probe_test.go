package kv

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/tether-edge/tether/pkg/testenv"
)

// probeCrashFile, in a store's directory, tells this test binary's probe
// how to end (probeTestCheck); Badger ignores files it does not know.
const probeCrashFile = "PROBE-TEST-CRASH"

// probeTestCheck is the check the test binary runs as a probe child: the
// crash written in probeCrashFile, or nothing.
func probeTestCheck(dir string, _ Profile, _ *badger.DB) error {
	b, err := os.ReadFile(filepath.Join(dir, probeCrashFile))
	if err != nil {
		return nil
	}
	switch strings.TrimSpace(string(b)) {
	// The crashing goroutine never lets the check return: a deferred
	// close would run while it panics, and the check's return could let
	// the probe exit 0 before the panic ended the process.
	case "panic": // in a goroutine of its own, as in a Badger table opener
		go func() { panic("initIndex: table corrupt") }()
		time.Sleep(time.Minute) // kept: the child dies of the fault before this ends
	case "nil": // a fault Go cannot recover in a goroutine without SetPanicOnFault
		go func() {
			var p *[1 << 20]byte
			_ = p[1<<19]
		}()
		time.Sleep(time.Minute) // kept: the child dies of the fault before this ends
	case "exit":
		os.Exit(1)
	case "abort": // GOTRACEBACK=crash: Go dies of SIGABRT
		debug.SetTraceback("crash")
		go func() { panic("initIndex: table corrupt") }()
		time.Sleep(time.Minute) // kept: the child dies of the fault before this ends
	case "SIGKILL":
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute) // kept: the child dies of the fault before this ends
	case "SIGTERM":
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		time.Sleep(time.Minute) // kept: the child dies of the fault before this ends
	}
	return nil
}

// hangEnv names the store a re-executed test binary opens and never
// finishes opening: its check says so on stdout and blocks until killed.
const hangEnv = "TETHER_KV_TEST_HANG"

func hangInOpen() {
	if dir, ok := os.LookupEnv(writeExitEnv); ok {
		writeAndDie(dir)
	}
	dir, ok := os.LookupEnv(hangEnv)
	if !ok {
		return
	}
	_, _, err := OpenChecked(dir, testProfile(), nil, func(*badger.DB) error {
		_, _ = os.Stdout.WriteString("inside Open\n")
		select {}
	})
	_, _ = os.Stderr.WriteString(fmt.Sprintf("open returned: %v\n", err))
	os.Exit(1)
}

// storeWithRecords makes a closed store in a new directory holding 50
// records, and returns the directory and the records.
func storeWithRecords(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	db, _, err := Open(dir, testProfile(), testenv.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	want := fill(t, db, 0, 50, 100, 10)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, want
}

// TestKilledInsideOpenKeepsTheStore: a healthy store whose process is
// SIGKILLed inside Open MaxIncompleteOpens times in a row — a slow open on
// a loaded machine under a kill loop — is opened with every record, not
// moved aside as if it crashed every open.
func TestKilledInsideOpenKeepsTheStore(t *testing.T) {
	p := testProfile()
	dir, want := storeWithRecords(t)
	for i := range p.MaxIncompleteOpens {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), hangEnv+"="+dir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if line != "inside Open\n" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("kill %d: the child did not get inside Open: %q %v\n%s", i, line, err, stderr.String())
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	}
	if n, err := readMarker(dir, readBootID()); err != nil || n != p.MaxIncompleteOpens {
		t.Fatalf("after %d kills inside Open the marker counts %d, %v", p.MaxIncompleteOpens, n, err)
	}
	logs := &captureLogger{}
	db, rec, err := Open(dir, p, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if rec != nil {
		t.Fatalf("a healthy store killed inside Open %d times was moved aside: %+v", p.MaxIncompleteOpens, rec)
	}
	verify(t, db.bdb, want)
	if !strings.Contains(logs.String(), "opened in a separate process") {
		t.Errorf("no probe logged:\n%s", logs)
	}
	if n, _ := readMarker(dir, readBootID()); n != 0 {
		t.Errorf("marker after the open = %d", n)
	}
}

// TestProbeVerdicts: at the limit of unfinished opens, a store is moved
// aside only when opening it in a child process crashes that child; a
// child killed by SIGKILL or SIGTERM decides nothing and the store is
// opened with its records.
func TestProbeVerdicts(t *testing.T) {
	for _, c := range []struct {
		crash       string // probeCrashFile's content; "" for none
		quarantined bool
		why         string // in the Recovery's reason
	}{
		{"", false, ""},
		{"panic", true, "panic: initIndex: table corrupt"},
		{"nil", true, "nil pointer dereference"},
		{"abort", true, "aborted"},
		{"exit", true, "exit status 1"},
		{"SIGKILL", false, ""},
		{"SIGTERM", false, ""},
	} {
		t.Run(c.crash, func(t *testing.T) {
			p := testProfile()
			dir, want := storeWithRecords(t)
			if c.crash != "" {
				if err := os.WriteFile(filepath.Join(dir, probeCrashFile), []byte(c.crash), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := writeMarker(dir, p.MaxIncompleteOpens, readBootID()); err != nil {
				t.Fatal(err)
			}
			db, rec, err := Open(dir, p, testenv.Logger(t, slog.LevelWarn))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if !c.quarantined {
				if rec != nil {
					t.Fatalf("moved aside: %+v", rec)
				}
				verify(t, db.bdb, want)
				return
			}
			if rec == nil {
				t.Fatal("a store whose open crashes its probe was not moved aside")
			}
			if !strings.Contains(rec.Reason, "crashed") || !strings.Contains(rec.Reason, c.why) {
				t.Errorf("reason %q; want it to say the probe crashed: %q", rec.Reason, c.why)
			}
			verify(t, db.bdb, nil)
			if _, err := os.Stat(filepath.Join(rec.MovedTo, badger.ManifestFilename)); err != nil {
				t.Errorf("quarantined copy: %v", err)
			}
		})
	}
}

// TestNoProbeNeverQuarantinesOnCount: a program that cannot probe (no
// ServeProbe) opens its store again at the limit rather than moving it
// aside on a count a kill loop can raise.
func TestNoProbeNeverQuarantinesOnCount(t *testing.T) {
	prober.mu.Lock()
	saved := prober.path
	prober.path = ""
	prober.mu.Unlock()
	defer func() {
		prober.mu.Lock()
		prober.path = saved
		prober.mu.Unlock()
	}()
	p := testProfile()
	dir, want := storeWithRecords(t)
	if err := writeMarker(dir, p.MaxIncompleteOpens+5, readBootID()); err != nil {
		t.Fatal(err)
	}
	db, rec, err := Open(dir, p, testenv.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if rec != nil {
		t.Fatalf("moved aside on the count alone: %+v", rec)
	}
	verify(t, db.bdb, want)
}

var faultSink byte

// TestFaultInCheckIsDamage: a fault reading through an mmap inside Open's
// check (a file shorter than its mapping) is recovered and treated as
// damage, not a death of the process.
func TestFaultInCheckIsDamage(t *testing.T) {
	dir, _ := storeWithRecords(t)
	checks := 0
	db, rec, err := OpenChecked(dir, testProfile(), testenv.Logger(t, slog.LevelWarn), func(*badger.DB) error {
		if checks++; checks > 1 {
			return nil // the fresh store
		}
		path := filepath.Join(dir, "mapped")
		if err := os.WriteFile(path, make([]byte, 1<<16), 0o600); err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		m, err := syscall.Mmap(int(f.Fd()), 0, 1<<16, syscall.PROT_READ, syscall.MAP_SHARED)
		if err != nil {
			return err
		}
		defer syscall.Munmap(m)
		if err := os.Truncate(path, 0); err != nil {
			return err
		}
		faultSink = m[1<<15] // SIGBUS: the page is past the file's end
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if rec == nil || !strings.Contains(rec.Reason, "panicked") {
		t.Fatalf("Recovery = %+v; want one for the fault", rec)
	}
}

// writeExitEnv names the store a re-executed test binary opens, writes one
// key to and leaves at once, unclosed, as a process killed right after its
// open would: before the compactor's first look.
const writeExitEnv = "TETHER_KV_TEST_WRITE_EXIT"

func writeAndDie(dir string) {
	compactorOff = true // killed before the compactor's first look, however slow this process is
	db, _, err := Open(dir, testProfile(), slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err == nil {
		err = db.Update(func(txn *badger.Txn) error {
			return txn.Set(key(int(time.Now().UnixNano()%1e6)), []byte("v"))
		})
	}
	if err != nil {
		_, _ = os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(0)
}

// TestOpenAfterKillsBeforeCompaction: processes that die within
// CompactDelay of their open each leave one more level-0 table (Badger
// flushes the memtable it replayed); past NumLevelZeroTablesStall every
// later Open used to hang for ever, its flush waiting for a compaction
// that only starts after Open. Now each open allows what L0 holds, and the
// compactor compacts it at once.
func TestOpenAfterKillsBeforeCompaction(t *testing.T) {
	p := testProfile()
	dir, want := storeWithRecords(t)
	overStall := 0 // opens that found level 0 at the stall, and returned
	for i := range p.NumLevelZeroTablesStall + 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), writeExitEnv+"="+dir)
		var out strings.Builder
		cmd.Stderr = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d: %v\n%s", i, err, out.String())
			}
			if strings.Contains(out.String(), "level 0 holds more tables than writes may wait for") {
				overStall++
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("run %d: Open did not return in a minute (level 0 at the stall, nothing compacting)", i)
		}
	}
	if overStall == 0 {
		t.Fatalf("no open found level 0 at the stall: the test did not make the case it is about")
	}
	db, rec, err := Open(dir, p, testenv.Logger(t, slog.LevelWarn))
	if err != nil || rec != nil {
		t.Fatalf("Open: %v, %+v", err, rec)
	}
	defer db.Close()
	for k, v := range want {
		err := db.View(func(txn *badger.Txn) error {
			item, err := txn.Get([]byte(k))
			if err != nil {
				return err
			}
			got, err := item.ValueCopy(nil)
			if err == nil && !bytes.Equal(got, v) {
				err = fmt.Errorf("value %q", got)
			}
			return err
		})
		if err != nil {
			t.Fatalf("key %s: %v", k, err)
		}
	}
	if !testenv.Within(30*time.Second, func() bool { return db.CompactStats().Compactions > 0 }) {
		t.Errorf("level 0 not compacted after the open: %+v", db.bdb.Levels()[0])
	}
}
