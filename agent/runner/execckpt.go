package runner

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tether-edge/tether/pkg/protocol"
)

// ckptWatch notices new checkpoints in an exec task's checkpoint
// directory. A task writes checkpoint.tmp and renames it to checkpoint, so
// a new checkpoint is a new file: another inode, or another size or
// modification time.
type ckptWatch struct {
	dir  string
	last fs.FileInfo // of the checkpoint last taken (or refused)
}

// seen marks the file at path as taken: the checkpoint restored at start.
func (w *ckptWatch) seen(path string) {
	if fi, err := os.Lstat(path); err == nil {
		w.last = fi
	}
}

var errNoCheckpoint = errors.New("no new checkpoint")

// poll returns a new checkpoint with the progress the task last reported
// (0, 0 when it reports none); errNoCheckpoint when there is none.
func (w *ckptWatch) poll() (state []byte, done, total int64, err error) {
	path := filepath.Join(w.dir, "checkpoint")
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, 0, errNoCheckpoint
	}
	if err != nil {
		return nil, 0, 0, err
	}
	if w.last != nil && os.SameFile(w.last, fi) && fi.Size() == w.last.Size() && fi.ModTime().Equal(w.last.ModTime()) {
		return nil, 0, 0, errNoCheckpoint
	}
	w.last = fi
	if !fi.Mode().IsRegular() {
		return nil, 0, 0, fmt.Errorf("checkpoint is not a regular file (%v)", fi.Mode().Type())
	}
	if fi.Size() > maxState {
		return nil, 0, 0, fmt.Errorf("checkpoint of %d bytes, above the %d the node keeps", fi.Size(), maxState)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	state, err = io.ReadAll(io.LimitReader(f, maxState+1))
	if err != nil {
		return nil, 0, 0, err
	}
	if len(state) > maxState {
		return nil, 0, 0, fmt.Errorf("checkpoint grew past the %d bytes the node keeps", maxState)
	}
	done, total = readProgress(filepath.Join(w.dir, "progress"))
	return state, done, total, nil
}

// readProgress reads "progress <done> <total>" from the task's progress
// file; 0, 0 when there is none or it says something else.
func readProgress(path string) (done, total int64) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 256))
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return parseProgress(string(b))
}

// parseProgress parses "progress <done> <total>": whole numbers, done at
// most total; anything else is 0, 0.
func parseProgress(line string) (done, total int64) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "progress" {
		return 0, 0
	}
	d, err1 := strconv.ParseInt(f[1], 10, 64)
	t, err2 := strconv.ParseInt(f[2], 10, 64)
	// Above protocol.MaxSeq the scheduler would refuse the task's events.
	if err1 != nil || err2 != nil || d < 0 || t < 0 || (t > 0 && d > t) || d > protocol.MaxSeq || t > protocol.MaxSeq {
		return 0, 0
	}
	return d, t
}

// pollCheckpoint journals the task's new checkpoint, if it wrote one.
func (r *Runner) pollCheckpoint(e *entry, w *ckptWatch) {
	state, done, total, err := w.poll()
	switch {
	case errors.Is(err, errNoCheckpoint):
		return
	case err != nil:
		r.log.Warn("task checkpoint not taken", "task", e.id, "err", err)
		return
	}
	r.checkpoint(e, state, done, total)
}
