package kv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The opening marker counts opens that started and never returned: Open
// writes it (count+1) before touching the store and restores it when it
// returns, so only a process that died inside Open leaves it raised. A
// panic in one of Badger's own goroutines (a table opened in parallel, a
// compaction) or a fatal runtime error cannot be recovered, and would
// otherwise repeat at every start. A power cut is not such a death: the
// marker holds the kernel's boot id, and opens interrupted by a reboot do
// not count. The marker lives inside the store's directory, where Badger
// ignores unknown files, so it moves aside with it.
const markerName = "TETHER-OPENING"

// readMarker returns the number of opens that never finished during boot.
func readMarker(dir, boot string) (int, error) {
	return readCount(filepath.Join(dir, markerName), boot)
}

// readCount reads a count of attempts that never finished during boot
// from the marker file at path: the opening marker, or the rebuild's.
func readCount(path, boot string) (int, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	count, markBoot, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	if boot != "" && markBoot != boot {
		return 0, nil // the earlier opens ended with the machine
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 0 {
		// A torn marker was written by an open that did not finish.
		return 1, nil
	}
	return n, nil
}

// writeMarker records n unfinished opens during boot, durably (0 removes
// the marker).
func writeMarker(dir string, n int, boot string) error {
	return writeCount(filepath.Join(dir, markerName), n, boot)
}

// writeCount records n unfinished attempts during boot in the marker file
// at path, durably (0 removes it).
func writeCount(path string, n int, boot string) error {
	dir := filepath.Dir(path)
	if n == 0 {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return err
		}
		return syncDir(dir)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%d %s\n", n, boot)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// readBootID returns the kernel's boot id ("" where there is none).
func readBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// syncDir makes the directory's entries (creations, renames, removals)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
