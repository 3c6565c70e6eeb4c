package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MountTmpfs mounts a tmpfs of size (mount's syntax: "24m") at a new
// directory under t.TempDir and unmounts it when the test ends. It needs
// root: under CI=true failing to mount is a failure, elsewhere a skip.
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	return MountTmpfsWith(t, "size="+size)
}

// MountTmpfsWith is MountTmpfs with tmpfs's mount options as given
// ("size=24m,nr_inodes=2000").
func MountTmpfsWith(t testing.TB, options string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput(); err != nil {
		msg := "cannot mount a tmpfs (the test needs root): " + err.Error() + ": " + string(out)
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "--lazy", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// FillDisk writes the file path until its filesystem has no space left,
// and returns how many bytes it wrote.
func FillDisk(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var n int64
	for len(chunk) > 0 {
		w, err := f.Write(chunk)
		n += int64(w)
		if err != nil {
			chunk = chunk[:len(chunk)/2] // the last blocks, down to a byte
		}
	}
	return n
}
