package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"time"
)

// On disk, in the store directory:
//
//	snap  "TPLSNAP1", span count (u32), spans (from, to: u64 each), CRC-32C
//	      of all before it. Replaced whole: written to snap.tmp, fsynced,
//	      renamed, directory fsynced.
//	log   16-byte records appended after snap was written: seq (u64),
//	      CRC-32C of the seq's 8 bytes, "TPL1". A torn or zeroed tail ends
//	      the log; open truncates it away.
//
// A seq may be in both (a cut between snap's rename and log's truncation).

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type span struct{ from, to uint64 }

type recordLog struct {
	dir  string
	sync bool
	f    *os.File // log, opened for appending
	have []span   // sorted, disjoint
}

const recSize = 16

func openLog(dir string, sync bool) (*recordLog, bool, error) {
	l := &recordLog{dir: dir, sync: sync}
	recovered := false
	snap, err := readSnap(filepath.Join(dir, "snap"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		// The quarantine path: keep the broken files, start empty.
		q := filepath.Join(dir, fmt.Sprintf("quarantine-%d", time.Now().UnixNano()))
		if err := os.Mkdir(q, 0o755); err != nil {
			return nil, false, err
		}
		for _, n := range []string{"snap", "log"} {
			os.Rename(filepath.Join(dir, n), filepath.Join(q, n))
		}
		snap, recovered = nil, true
	}
	for _, s := range snap {
		l.add(s.from, s.to)
	}
	f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, err
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return nil, false, err
	}
	valid := 0
	for ; valid+recSize <= len(b); valid += recSize {
		seq, ok := parseRec(b[valid : valid+recSize])
		if !ok {
			break
		}
		l.add(seq, seq)
	}
	if valid != len(b) {
		if err := f.Truncate(int64(valid)); err != nil {
			return nil, false, err
		}
	}
	if err := f.Sync(); err != nil { // the log (and its truncation) is durable before we append
		return nil, false, err
	}
	if _, err := f.Seek(int64(valid), 0); err != nil {
		return nil, false, err
	}
	l.f = f
	return l, recovered, syncDir(dir)
}

func parseRec(b []byte) (uint64, bool) {
	seq := binary.LittleEndian.Uint64(b)
	return seq, string(b[12:16]) == "TPL1" && binary.LittleEndian.Uint32(b[8:]) == crc32.Checksum(b[:8], castagnoli)
}

func (l *recordLog) next() uint64 {
	if len(l.have) == 0 {
		return 1
	}
	return l.have[len(l.have)-1].to + 1
}

// add keeps have sorted and merged; seqs arrive mostly in order.
func (l *recordLog) add(from, to uint64) {
	var out []span
	placed := false
	for _, s := range l.have {
		switch {
		case s.to+1 < from:
			out = append(out, s)
		case to+1 < s.from:
			if !placed {
				out, placed = append(out, span{from, to}), true
			}
			out = append(out, s)
		default:
			from, to = min(from, s.from), max(to, s.to)
		}
	}
	if !placed {
		out = append(out, span{from, to})
	}
	l.have = out
}

func (l *recordLog) append(seq uint64) error {
	var b [recSize]byte
	binary.LittleEndian.PutUint64(b[:], seq)
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[:8], castagnoli))
	copy(b[12:], "TPL1")
	if _, err := l.f.Write(b[:]); err != nil {
		return err
	}
	if l.sync {
		if err := l.f.Sync(); err != nil {
			return err
		}
	}
	l.add(seq, seq)
	return nil
}

// compact folds the log into a new snapshot and empties the log.
func (l *recordLog) compact() error {
	b := []byte("TPLSNAP1")
	b = binary.LittleEndian.AppendUint32(b, uint32(len(l.have)))
	for _, s := range l.have {
		b = binary.LittleEndian.AppendUint64(b, s.from)
		b = binary.LittleEndian.AppendUint64(b, s.to)
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	tmp := filepath.Join(l.dir, "snap.tmp")
	if err := writeFile(tmp, b, l.sync); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(l.dir, "snap")); err != nil {
		return err
	}
	if l.sync {
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	if _, err := l.f.Seek(0, 0); err != nil {
		return err
	}
	if l.sync {
		return l.f.Sync()
	}
	return nil
}

func readSnap(name string) ([]span, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if len(b) < 16 || string(b[:8]) != "TPLSNAP1" {
		return nil, fmt.Errorf("%s: bad header", name)
	}
	n := int(binary.LittleEndian.Uint32(b[8:]))
	if len(b) != 12+16*n+4 {
		return nil, fmt.Errorf("%s: %d bytes for %d spans", name, len(b), n)
	}
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%s: checksum", name)
	}
	spans := make([]span, n)
	for i := range spans {
		spans[i] = span{binary.LittleEndian.Uint64(b[12+16*i:]), binary.LittleEndian.Uint64(b[20+16*i:])}
	}
	return spans, nil
}

func writeFile(name string, b []byte, sync bool) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
