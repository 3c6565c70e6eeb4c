package kv

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The preflight used to read every value-log file at every open, so a
// store's open time grew with its history rather than its live data. A
// value-log file that is neither of the two newest is never written again:
// Badger appends only to the file it created at its last open and to the
// files it rotates to, truncates a file once when it rotates away from it
// (and, at open, the newest), and deletes files by truncating them to zero
// first. So only the newest files can hold what a crash tore, and an older
// file whose size, modification and change times and inode are still those
// the preflight saw when it last read it whole is still what it read.
//
// verifiedName records, after each preflight, what it found in every
// value-log file: the next preflight reads again only the two newest files
// and those whose stamp changed. The record lives in the store's
// directory, so it moves aside with a damaged store; a record that is
// missing, torn or out of range only costs a full read.
//
// What this gives up: damage of the medium inside an older file that
// leaves its stamp alone (a bit flipped on the card) is no longer found at
// open; Badger still checks every value's checksum when it reads it
// (VerifyValueChecksum), and the agent's records carry their own CRC.
const verifiedName = "TETHER-VERIFIED"

// verifiedHeader is the record's first line: its format.
const verifiedHeader = "tether-verified 1"

// maxVerified bounds what a record is trusted to hold: 2^20 files of at
// least a header is more value log than any device profile reaches.
const (
	maxVerifiedFiles = 1 << 20
	maxVerifiedBytes = 128 << 20
	maxStampLen      = 128
)

// verifiedLog is what the preflight found in one value-log file.
type verifiedLog struct {
	stamp   string // fileStamp when it was read
	entries bool   // it held complete entries
}

// readVerified returns the record in dir, or nil when there is none or it
// cannot be trusted.
func readVerified(dir string, log *slog.Logger) map[uint64]verifiedLog {
	f, err := os.Open(filepath.Join(dir, verifiedName))
	if err != nil {
		if !os.IsNotExist(err) {
			log.Debug("value-log record unreadable; reading every value-log file", "err", err)
		}
		return nil
	}
	defer f.Close()
	m, err := parseVerified(io.LimitReader(f, maxVerifiedBytes))
	if err != nil {
		log.Warn("value-log record damaged; reading every value-log file", "err", err)
		return nil
	}
	return m
}

// parseVerified decodes a record, checking every field's range.
func parseVerified(r io.Reader) (map[uint64]verifiedLog, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), 256)
	if !sc.Scan() || sc.Text() != verifiedHeader {
		return nil, fmt.Errorf("no %q header", verifiedHeader)
	}
	m := map[uint64]verifiedLog{}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "vlog" {
			return nil, fmt.Errorf("line %d: malformed", len(m)+2)
		}
		id, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("line %d: file id: %w", len(m)+2, err)
		}
		if f[2] != "0" && f[2] != "1" {
			return nil, fmt.Errorf("line %d: entries %q", len(m)+2, f[2])
		}
		if !validStamp(f[3]) {
			return nil, fmt.Errorf("line %d: stamp %q", len(m)+2, f[3])
		}
		if _, dup := m[id]; dup {
			return nil, fmt.Errorf("line %d: file %d listed twice", len(m)+2, id)
		}
		if len(m) == maxVerifiedFiles {
			return nil, fmt.Errorf("more than %d files", maxVerifiedFiles)
		}
		m[id] = verifiedLog{stamp: f[3], entries: f[2] == "1"}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// encodeVerified is parseVerified's inverse (ids ascending).
func encodeVerified(ids []uint64, m map[uint64]verifiedLog) []byte {
	var b strings.Builder
	b.WriteString(verifiedHeader + "\n")
	for _, id := range ids {
		v, ok := m[id]
		if !ok {
			continue
		}
		e := "0"
		if v.entries {
			e = "1"
		}
		fmt.Fprintf(&b, "vlog %d %s %s\n", id, e, v.stamp)
	}
	return []byte(b.String())
}

// validStamp accepts what fileStamp makes: digits, colons and signs.
func validStamp(s string) bool {
	if s == "" || len(s) > maxStampLen {
		return false
	}
	for _, c := range s {
		if c != ':' && c != '-' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// writeVerified replaces the record in dir. It is fsynced before the
// rename, so a cut leaves the old record or the new one; the directory is
// not synced: losing the rename only costs a full read at the next open.
func writeVerified(dir string, data []byte) error {
	path := filepath.Join(dir, verifiedName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
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
	}
	return err
}

// fileStamp identifies a file's contents as far as its metadata can:
// size and modification time everywhere, plus inode and change time where
// the platform has them (stamp_*.go). Any write, truncation or
// replacement of the file changes it.
func fileStamp(fi os.FileInfo) string {
	s := strconv.FormatInt(fi.Size(), 10) + ":" + strconv.FormatInt(fi.ModTime().UnixNano(), 10)
	if extra := platformStamp(fi); extra != "" {
		s += ":" + extra
	}
	return s
}
