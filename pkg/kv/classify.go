package kv

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
)

// CorruptError says the store's files are damaged: Open moves such a store
// aside. A check passed to OpenChecked returns one for damage it finds in
// the data itself.
type CorruptError struct {
	Path   string // the damaged file, or the store's directory
	Reason string
	Err    error // the underlying error, if any
}

func (e *CorruptError) Error() string {
	s := e.Reason
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *CorruptError) Unwrap() error { return e.Err }

func corrupt(path, format string, args ...any) *CorruptError {
	return &CorruptError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

// environmental errnos are conditions of the machine, not of the store's
// files: moving the store aside would lose data and fix nothing. Badger
// often flattens errors into strings (y.Wrap uses %+v outside debug
// builds), so they are matched by their text as well.
var environmental = []syscall.Errno{
	syscall.EACCES, syscall.EPERM, syscall.EROFS, // permissions, read-only mounts
	syscall.ENOSPC, syscall.EDQUOT, // disk full
	syscall.ENOMEM,                 // mmap beyond the address space (badger#1229)
	syscall.EMFILE, syscall.ENFILE, // file descriptors
	syscall.EAGAIN,                 // the directory lock is held (EWOULDBLOCK)
	syscall.EIO,                    // the medium itself fails: a fresh store would too
	syscall.EBUSY, syscall.ETXTBSY, //
	syscall.ENOTDIR, syscall.EISDIR, // a path that is not what it should be
}

// isEnvironmental reports whether err is a condition of the machine.
func isEnvironmental(err error) bool {
	if errors.Is(err, fs.ErrPermission) {
		return true
	}
	msg := err.Error()
	for _, e := range environmental {
		if errors.Is(err, e) || strings.Contains(msg, e.Error()) {
			return true
		}
	}
	return strings.Contains(msg, "Another process is using this Badger database")
}

// badgerCorruption lists the texts of Badger's errors that mean damaged
// files (manifest.go, levels.go, table/, key_registry.go, value.go).
var badgerCorruption = []string{
	"manifest has bad magic",
	"manifest has checksum mismatch",
	"manifest has unsupported version",
	"Manifest file might be corrupted",
	"MANIFEST invalid",
	"MANIFEST file has invalid manifestChange op",
	"MANIFEST removes non-existing table",
	"file does not exist for table",
	"Level validation",
	"checksum mismatch",
	"CHECKSUM_MISMATCH",
	"failed to read index",
	"failed to initialize table",
	"Unable to parse log id",
	"Invalid filename",
	"Encryption key mismatch",
	"Invalid data key id",
	"cannot parse invalid wire-format data", // protobuf, in MANIFEST and KEYREGISTRY
	"proto:",
	"Invalid read",
	"unexpected EOF",
	"varint overflows", // a log entry header
}

// isCorruption reports whether err (from preflight, Badger's Open or a
// check) means the store's files are damaged. Environmental errors never
// are; errors not recognised are not either: they are returned rather than
// risking a healthy store.
func isCorruption(err error) bool {
	if err == nil || isEnvironmental(err) {
		return false
	}
	var ce *CorruptError
	if errors.As(err, &ce) {
		return true
	}
	msg := err.Error()
	for _, s := range badgerCorruption {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
