// Package atomicfile replaces a file's content so that a crash or a power
// cut leaves the old content or the new one, never a mix: the new content
// is written to a temporary file beside it, fsynced, renamed over it, and
// the directory fsynced so the rename itself survives.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Options say what the new file keeps of the one it replaces.
type Options struct {
	// Mode of a new file; default 0600. A file that exists keeps its own,
	// unless ForceMode (a secret is 0600 whatever it was).
	Mode      fs.FileMode
	ForceMode bool
	// KeepOwner keeps an existing file's owner and group (root:mosquitto
	// 0640 so Mosquitto can read a credentials file). Only root can give a
	// file away: failing to is an error, not a silently unreadable file.
	KeepOwner bool
}

// Write replaces path with what r yields.
func Write(path string, r io.Reader, o Options) (err error) {
	mode := o.Mode
	if mode == 0 {
		mode = 0o600
	}
	uid, gid := -1, -1
	if fi, statErr := os.Stat(path); statErr == nil {
		if !o.ForceMode {
			mode = fi.Mode().Perm()
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && o.KeepOwner {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	} else if !errors.Is(statErr, fs.ErrNotExist) {
		return statErr
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if uid >= 0 && (uid != os.Getuid() || gid != os.Getgid()) {
		if err = f.Chown(uid, gid); err != nil {
			return fmt.Errorf("keep owner of %s: %w", path, err)
		}
	}
	if _, err = io.Copy(f, r); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
