package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/tether-edge/tether/broker/place/links"
	"github.com/tether-edge/tether/pkg/atomicfile"
)

// The link estimates outlive a restart (docs/scheduling.md, "Links
// measured live"): the table is written to cfg.LinksFile() — beside the
// task store, replaced atomically — once a minute when it changed and when
// the scheduler stops, and read back when it starts, each estimate aged by
// links' restore rule (its sample counts halve every hour, dropped after a
// day). A file that cannot be read or does not validate is logged and
// ignored: the scheduler starts from the configured links, and its next
// save replaces the file.

// linkSaveEvery is how often a changed table is written.
const linkSaveEvery = time.Minute

// maxLinksFile bounds the file read back: links.MaxSavedNodes estimates
// of a few hundred bytes.
const maxLinksFile = 256 << 20

// loadLinks restores tb from path at wall and mono. A missing file is no
// error (kept is 0); any other failure leaves tb as it was.
func loadLinks(tb *links.Table, path string, wall time.Time, mono time.Duration) (kept, dropped int, err error) {
	data, err := readLimited(path, maxLinksFile)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	s, err := links.Decode(data)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	kept, dropped = tb.Restore(s, wall, mono)
	return kept, dropped, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", path, fi.Size(), limit)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// saveLinks writes tb to path at wall and mono, and returns what it wrote.
func saveLinks(tb *links.Table, path string, wall time.Time, mono time.Duration) ([]byte, error) {
	b, err := links.Encode(tb.Save(wall, mono))
	if err != nil {
		return nil, err
	}
	return b, atomicfile.Write(path, bytes.NewReader(b), atomicfile.Options{})
}

// restoreLinks loads the saved estimates into s.links at the start.
func (s *scheduler) restoreLinks() {
	path := s.cfg.LinksFile()
	kept, dropped, err := loadLinks(s.links, path, s.wall(), s.monotonic())
	switch {
	case err != nil:
		s.log.Warn("link estimates not restored: starting from the configured links", "file", path, "err", err)
	case kept > 0 || dropped > 0:
		s.log.Info("link estimates restored", "file", path, "nodes", kept, "dropped_as_old", dropped)
	}
	s.linksSaved = s.links.Gen()
}

// linkSaveLoop writes the table when it changed, once per linkSaveEvery
// and when ctx ends.
func (s *scheduler) linkSaveLoop(ctx context.Context) {
	tick := time.NewTicker(linkSaveEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.saveLinksIfChanged()
			return
		case <-tick.C:
			s.saveLinksIfChanged()
		}
	}
}

func (s *scheduler) saveLinksIfChanged() {
	gen := s.links.Gen()
	if gen == s.linksSaved {
		return
	}
	data, err := saveLinks(s.links, s.cfg.LinksFile(), s.wall(), s.monotonic())
	if err != nil {
		s.log.Warn("link estimates not saved", "file", s.cfg.LinksFile(), "err", err)
		return
	}
	if s.replica != nil {
		// The region's copy, for a successor (ha): bounded, as at a stop
		// the run's context is over.
		ctx, cancel := context.WithTimeout(context.Background(), linkRegionTimeout)
		err := s.replica.PutLinks(ctx, data)
		cancel()
		if err != nil {
			s.log.Warn("link estimates not saved in the region's bucket", "err", err)
			return
		}
	}
	s.linksSaved = gen
}

// linkRegionTimeout bounds a save of the link estimates to the region's
// bucket, and their read at the start.
const linkRegionTimeout = 30 * time.Second

// restoreRegionLinks replaces the table with the region's saved estimates
// (ha): those of whichever scheduler acted last, fresher than this one's
// own file. None saved: the file's stay.
func (s *scheduler) restoreRegionLinks(ctx context.Context, r replica) {
	ctx, cancel := context.WithTimeout(ctx, linkRegionTimeout)
	defer cancel()
	data, err := r.Links(ctx)
	if err == nil && data == nil {
		return
	}
	var saved links.Saved
	if err == nil {
		saved, err = links.Decode(data)
	}
	if err != nil {
		s.log.Warn("the region's link estimates not restored: keeping this scheduler's own", "err", err)
		return
	}
	kept, dropped := s.links.Restore(saved, s.wall(), s.monotonic())
	s.log.Info("link estimates restored from the region's bucket", "nodes", kept, "dropped_as_old", dropped)
}

// wall is the scheduler's wall clock (Options.Now).
func (s *scheduler) wall() time.Time {
	if s.o.Now != nil {
		return s.o.Now()
	}
	return time.Now()
}
