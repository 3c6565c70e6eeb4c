// Command selftestworkload is the power-cut harness's own guest workload:
// a tiny append-only record log on plain files with fsync, speaking the
// same console protocol as the store's TestPowerLossWorkload (see
// scripts/powerloss/doc.go). It tests the harness, not Tether's store.
//
// -nosync acknowledges records without fsync: the harness must then report
// lost records (TestHarnessDetectsLoss). -odirect writes records with
// O_DIRECT and never flushes: only a disk that loses unflushed writes
// loses them (TestVolatileCacheDetectsUnflushedLoss).
//
// It announces two store events: EVENT open 1 before it opens the log, and
// EVENT gc <n> as its n-th compaction begins (TestHarnessAimsAtEvents);
// it never rotates, closes or reopens.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// main runs until the VM's power is cut: run returns only with an error.
func main() {
	err := run(os.Args[1:], os.Getenv, os.Stdout)
	fmt.Fprintln(os.Stderr, "selftestworkload:", err)
	os.Exit(1)
}

func run(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("selftestworkload", flag.ContinueOnError)
	dir := fs.String("dir", getenv("TETHER_POWERLOSS_DIR"), "store directory")
	nosync := fs.Bool("nosync", false, "acknowledge without fsync (to prove the harness sees losses)")
	every := fs.Int("compact-every", 200, "compact the log into the snapshot every N commits")
	odirect := fs.Bool("odirect", false, "O_DIRECT records, never flushed (to prove the volatile cache loses unflushed writes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("no store directory: set TETHER_POWERLOSS_DIR or -dir")
	}
	out := bufio.NewWriter(stdout)
	say := func(format string, a ...any) error { // one write per line
		fmt.Fprintf(out, "TETHER-PL "+format+"\n", a...)
		return out.Flush()
	}

	if *odirect {
		return runDirect(*dir, say)
	}
	say("EVENT open 1")
	l, recovered, err := openLog(*dir, !*nosync)
	if err != nil {
		return err
	}
	rec := 0
	if recovered {
		rec = 1
	}
	if err := say("OPENED recovered=%d next=%d", rec, l.next()); err != nil {
		return err
	}
	for _, s := range l.have {
		if s.from == s.to {
			say("HAVE %d", s.from)
		} else {
			say("HAVE %d-%d", s.from, s.to)
		}
	}
	for n, gcs := 1, 0; ; n++ {
		seq := l.next()
		if err := l.append(seq); err != nil {
			return err
		}
		if err := say("COMMIT %d", seq); err != nil {
			return err
		}
		if *every > 0 && n%*every == 0 {
			gcs++
			say("COMPACT BEGIN")
			say("EVENT gc %d", gcs)
			if err := l.compact(); err != nil {
				return err
			}
			say("COMPACT END")
		}
	}
}

func runDirect(dir string, say func(string, ...any) error) error {
	l, err := openDirect(dir)
	if err != nil {
		return err
	}
	if err := say("OPENED recovered=0 next=%d", l.next); err != nil {
		return err
	}
	if l.next > 1 {
		say("HAVE 1-%d", l.next-1)
	}
	for seq := l.next; ; seq++ {
		if l.full() {
			// The cut will come. FULL ends the listing for the harness
			// (any protocol line after HAVE does) on a boot that opens a
			// full log. A bare select{} is a deadlock to the Go runtime
			// (no other goroutine, no timer), which killed the workload.
			say("FULL")
			for {
				time.Sleep(time.Hour)
			}
		}
		if err := l.append(seq); err != nil {
			return err
		}
		if err := say("COMMIT %d", seq); err != nil {
			return err
		}
	}
}
