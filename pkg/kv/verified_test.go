package kv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// smallVlogs is the device profile with 1 MiB value-log files, so that a
// few MiB of values span many files.
func smallVlogs() Profile {
	p := Device()
	p.ValueLogFileSize = 1 << 20
	return p
}

// openLogged opens dir with a captured debug log and returns the last
// "value-log files checked" line's read and unchanged counts (-1 when
// there was none: a new store).
func openLogged(t *testing.T, dir string, p Profile) (db *DB, rec *Recovery, read, unchanged int) {
	t.Helper()
	var c captureLogger
	db, rec, err := Open(dir, p, c.logger())
	if err != nil {
		t.Fatalf("Open: %v\n%s", err, c.String())
	}
	m := regexp.MustCompile(`msg="value-log files checked".* read=(\d+) .*unchanged_since_read=(\d+)`).
		FindAllStringSubmatch(c.String(), -1)
	if len(m) == 0 {
		return db, rec, -1, -1
	}
	last := m[len(m)-1]
	read, _ = strconv.Atoi(last[1])
	unchanged, _ = strconv.Atoi(last[2])
	return db, rec, read, unchanged
}

// TestOpenReadsOnlyValueLogsThatChanged: the preflight reads the two
// newest value-log files and those changed since it last read them, not
// the store's whole history; an older file that changed is read again,
// and damage in it still moves the store aside.
func TestOpenReadsOnlyValueLogsThatChanged(t *testing.T) {
	p := smallVlogs()
	dir := filepath.Join(t.TempDir(), "db")
	db, _, _, _ := openLogged(t, dir, p)
	want := fill(t, db, 0, 160, 40<<10, 8) // 6.4 MiB of values: 7 files or more
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	vlogs := files(t, dir, ".vlog")
	if len(vlogs) < 6 {
		t.Fatalf("%d value-log files; the test needs at least 6", len(vlogs))
	}

	// The first open after the writes reads them all and records them.
	db, _, read, unchanged := openLogged(t, dir, p)
	if read != len(vlogs) || unchanged != 0 {
		t.Errorf("first open: read %d, unchanged %d; want %d, 0", read, unchanged, len(vlogs))
	}
	verify(t, db.bdb, want)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Later opens read the two newest and whatever Badger's last open
	// truncated (the file that was newest then).
	db, _, read, unchanged = openLogged(t, dir, p)
	n := len(files(t, dir, ".vlog"))
	t.Logf("second open: read %d of %d value-log files, %d unchanged since the first", read, n, unchanged)
	if read > 3 || read+unchanged < n-1 || unchanged < n-4 {
		t.Errorf("second open: read %d, unchanged %d of %d files; want at most 3 read", read, unchanged, n)
	}
	verify(t, db.bdb, want)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// A record that cannot be trusted costs a full read, nothing else.
	if err := os.WriteFile(filepath.Join(dir, verifiedName), []byte("tether-verified 1\nvlog 1 1 12:x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n = len(files(t, dir, ".vlog"))
	db, _, read, unchanged = openLogged(t, dir, p)
	if read != n || unchanged != 0 {
		t.Errorf("damaged record: read %d, unchanged %d; want %d, 0", read, unchanged, n)
	}
	verify(t, db.bdb, want)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The oldest file cut inside an entry, in place: its stamp changed,
	// so it is read, and the values past the cut are lost: damage.
	oldest := files(t, dir, ".vlog")[0]
	fi, err := os.Stat(oldest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(oldest, fi.Size()/2+7); err != nil {
		t.Fatal(err)
	}
	db, rec, read, _ := openLogged(t, dir, p)
	defer db.Close()
	if rec == nil {
		t.Fatalf("an older value log cut mid-entry was not found (read %d files)", read)
	}
	t.Logf("recovered: %s", rec.Reason)
}

func TestParseVerified(t *testing.T) {
	good := "tether-verified 1\nvlog 3 1 1234:-5:77:1:2\nvlog 7 0 20:1\n"
	m, err := parseVerified(strings.NewReader(good))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if len(m) != 2 || m[3] != (verifiedLog{stamp: "1234:-5:77:1:2", entries: true}) || m[7].entries {
		t.Fatalf("parsed %v", m)
	}
	if got := encodeVerified([]uint64{3, 7}, m); !bytes.Equal(got, []byte(good)) {
		t.Errorf("re-encoded %q, want %q", got, good)
	}
	for _, bad := range []string{
		"",
		"tether-verified 2\n",
		"tether-verified 1\nvlog 3 1\n",
		"tether-verified 1\nvlog 4294967296 1 1:1\n",
		"tether-verified 1\nvlog -1 1 1:1\n",
		"tether-verified 1\nvlog 3 2 1:1\n",
		"tether-verified 1\nvlog 3 1 1:x\n",
		"tether-verified 1\nvlog 3 1 " + strings.Repeat("1", maxStampLen+1) + "\n",
		"tether-verified 1\nvlog 3 1 1:1\nvlog 3 1 1:1\n",
		"tether-verified 1\nmem 3 1 1:1\n",
		"tether-verified 1\nvlog 3 1 1:1\n" + strings.Repeat("x", 300) + "\n",
	} {
		if m, err := parseVerified(strings.NewReader(bad)); err == nil {
			t.Errorf("parse(%q) = %v, want an error", bad, m)
		}
	}
}

// FuzzParseVerified: a record parseVerified accepts re-encodes to itself
// once its ids are sorted (the only freedom the format has), and parses
// back to the same map.
func FuzzParseVerified(f *testing.F) {
	f.Add([]byte("tether-verified 1\nvlog 3 1 1234:-5:77:1:2\nvlog 7 0 20:1\n"))
	f.Add([]byte("tether-verified 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseVerified(bytes.NewReader(b))
		if err != nil {
			return
		}
		ids := make([]uint64, 0, len(m))
		for id := range m {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		enc := encodeVerified(ids, m)
		m2, err := parseVerified(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("re-encoded record %q does not parse: %v", enc, err)
		}
		if fmt.Sprint(m2) != fmt.Sprint(m) {
			t.Fatalf("round trip: %v, want %v", m2, m)
		}
	})
}
