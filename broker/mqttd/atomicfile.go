package mqttd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/tether-edge/tether/pkg/protocol"
)

func validateUser(user string) error {
	if err := protocol.ValidateID("user", user); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory is written, fsynced and renamed over path, then the directory is
// fsynced so the rename survives a power cut. An existing file's mode and
// owner are kept; a new file is 0600.
func writeFileAtomic(path string, data []byte) (err error) {
	mode := fs.FileMode(0o600)
	uid, gid := -1, -1
	if fi, statErr := os.Stat(path); statErr == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	} else if !errors.Is(statErr, fs.ErrNotExist) {
		return fmt.Errorf("credentials: %w", statErr)
	}

	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if uid >= 0 && (uid != os.Getuid() || gid != os.Getgid()) {
		// Keep the owner (e.g. root:mosquitto 0640 so Mosquitto can read
		// it); only root can give a file away, so failing here is an error
		// worth reporting rather than a silently unreadable file.
		if err = f.Chown(uid, gid); err != nil {
			return fmt.Errorf("credentials: keep owner of %s: %w", path, err)
		}
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("credentials: sync %s: %w", dir, err)
	}
	return nil
}
