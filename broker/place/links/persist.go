package links

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// Saved is a table as the scheduler keeps it across a restart: each
// estimate stamped with the wall-clock time of its latest sample, so that
// the one restoring it knows its age. Encode and Decode turn it to and
// from JSON; the scheduler writes the file (broker/serve/linkstore.go).
type Saved struct {
	V     int                      `json:"v"`
	Nodes map[string]SavedEstimate `json:"nodes,omitempty"`
	WAN   *SavedEstimate           `json:"wan,omitempty"`
}

// SavedEstimate is one Estimate in a Saved table. A quantity without
// samples has zero values.
type SavedEstimate struct {
	RTT         time.Duration `json:"rtt_ns,omitempty"`
	RTTDev      time.Duration `json:"rtt_dev_ns,omitempty"`
	RTTSamples  int           `json:"rtt_samples,omitempty"`
	Mbps        float64       `json:"mbps,omitempty"`
	MbpsDev     float64       `json:"mbps_dev,omitempty"`
	MbpsSamples int           `json:"mbps_samples,omitempty"`
	// The scheduler → node direction (Estimate.UpMbps); absent from a
	// file written before it was measured.
	UpMbps    float64   `json:"up_mbps,omitempty"`
	UpMbpsDev float64   `json:"up_mbps_dev,omitempty"`
	UpSamples int       `json:"up_samples,omitempty"`
	At        time.Time `json:"at"` // the latest sample, wall clock
}

// SavedVersion is the version of Saved this code writes and reads.
const SavedVersion = 1

// Bounds of a Saved table.
const (
	// MaxSavedNodes is more nodes than a region holds (the fleet is sized
	// for 10,000): about 2 KB a node would be 2 GB of file.
	MaxSavedNodes = 1 << 20
	// MaxSamples bounds a sample count: a probe a second for 68 years.
	MaxSamples = math.MaxInt32
)

// The restore rule. An estimate counts as fewer samples the older it is:
// its counts halve every HalfLife (rounded to the nearest), so placement's blend (Blend) moves back
// toward the configured prior, and a new sample weighs more against it. A
// quantity whose count falls below one is dropped, and so is an estimate
// MaxAge old or older. A restart of seconds or minutes keeps nearly all of
// the evidence; a scheduler down for a day starts from the configuration.
const (
	HalfLife = time.Hour
	MaxAge   = 24 * time.Hour
)

// ErrSaved is wrapped by a Saved table that Decode refuses.
var ErrSaved = errors.New("saved link estimates invalid")

// Save returns the table as kept across a restart, at wall (the wall
// clock) and mono (the table's monotonic clock) of the same instant.
func (t *Table) Save(wall time.Time, mono time.Duration) Saved {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Saved{V: SavedVersion, Nodes: make(map[string]SavedEstimate, len(t.m))}
	for id, e := range t.m {
		if e.RTTSamples > 0 || e.MbpsSamples > 0 || e.UpSamples > 0 {
			s.Nodes[id] = saved(e, wall, mono)
		}
	}
	if len(s.Nodes) == 0 {
		s.Nodes = nil
	}
	if t.wan != nil {
		w := saved(t.wan, wall, mono)
		s.WAN = &w
	}
	return s
}

func saved(e *Estimate, wall time.Time, mono time.Duration) SavedEstimate {
	return SavedEstimate{RTT: e.RTT, RTTDev: e.RTTDev, RTTSamples: min(e.RTTSamples, MaxSamples),
		Mbps: e.Mbps, MbpsDev: e.MbpsDev, MbpsSamples: min(e.MbpsSamples, MaxSamples),
		UpMbps: e.UpMbps, UpMbpsDev: e.UpMbpsDev, UpSamples: min(e.UpSamples, MaxSamples),
		At: wall.Add(e.At - mono).UTC().Round(0)}
}

// Restore replaces the table's estimates with s's, aged by the restore
// rule at wall and mono (as Save takes them). An estimate stamped later
// than wall (the clock was set back) counts as new. It returns how many
// node estimates it kept and dropped.
func (t *Table) Restore(s Saved, wall time.Time, mono time.Duration) (kept, dropped int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m, t.wan = make(map[string]*Estimate, len(s.Nodes)), nil
	for id, se := range s.Nodes {
		if e, ok := restored(se, wall, mono); ok {
			t.m[id] = &e
			kept++
		} else {
			dropped++
		}
	}
	if s.WAN != nil {
		if e, ok := restored(*s.WAN, wall, mono); ok {
			t.wan = &e
		}
	}
	t.gen++
	return kept, dropped
}

func restored(se SavedEstimate, wall time.Time, mono time.Duration) (Estimate, bool) {
	age := max(wall.Sub(se.At), 0)
	if age >= MaxAge {
		return Estimate{}, false
	}
	e := Estimate{At: mono - age}
	if n := Decay(se.RTTSamples, age); n > 0 {
		e.RTT, e.RTTDev, e.RTTSamples = se.RTT, se.RTTDev, n
	}
	if n := Decay(se.MbpsSamples, age); n > 0 {
		e.Mbps, e.MbpsDev, e.MbpsSamples = se.Mbps, se.MbpsDev, n
	}
	if n := Decay(se.UpSamples, age); n > 0 {
		e.UpMbps, e.UpMbpsDev, e.UpSamples = se.UpMbps, se.UpMbpsDev, n
	}
	return e, e.RTTSamples > 0 || e.MbpsSamples > 0 || e.UpSamples > 0
}

// Decay is a count of n samples aged age by the restore rule, rounded to
// the nearest: a restart of minutes keeps every sample.
func Decay(n int, age time.Duration) int {
	if age >= MaxAge || n <= 0 {
		return 0
	}
	return int(math.Round(float64(n) * math.Exp2(-age.Seconds()/HalfLife.Seconds())))
}

// Encode returns s as JSON.
func Encode(s Saved) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// Decode parses and validates a Saved table.
func Decode(data []byte) (Saved, error) {
	var s Saved
	if err := json.Unmarshal(data, &s); err != nil {
		return Saved{}, fmt.Errorf("%w: %w", ErrSaved, err)
	}
	if err := s.Validate(); err != nil {
		return Saved{}, err
	}
	if len(s.Nodes) == 0 {
		s.Nodes = nil // as Save leaves a table without node estimates
	}
	return s, nil
}

// Validate checks s as Decode does: the version, node ids, and every
// value within the bounds a sample has (ObserveRTT, ObserveTransfer).
func (s *Saved) Validate() error {
	if s.V != SavedVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrSaved, s.V, SavedVersion)
	}
	if len(s.Nodes) > MaxSavedNodes {
		return fmt.Errorf("%w: %d nodes, at most %d", ErrSaved, len(s.Nodes), MaxSavedNodes)
	}
	for id, e := range s.Nodes {
		if err := protocol.ValidateID("node", id); err != nil {
			return fmt.Errorf("%w: %w", ErrSaved, err)
		}
		if err := e.validate(); err != nil {
			return fmt.Errorf("%w: node %s: %w", ErrSaved, id, err)
		}
	}
	if s.WAN != nil {
		if err := s.WAN.validate(); err != nil {
			return fmt.Errorf("%w: wan: %w", ErrSaved, err)
		}
	}
	return nil
}

func (e *SavedEstimate) validate() error {
	switch {
	case e.At.Year() < 2000 || e.At.Year() > 9999:
		return fmt.Errorf("sampled at %v", e.At)
	case !inCount(e.RTTSamples) || !inCount(e.MbpsSamples) || !inCount(e.UpSamples):
		return fmt.Errorf("sample counts %d, %d and %d outside [0, %d]", e.RTTSamples, e.MbpsSamples, e.UpSamples, MaxSamples)
	case e.RTTSamples == 0 && e.MbpsSamples == 0 && e.UpSamples == 0:
		return errors.New("no samples")
	case e.RTTSamples == 0 && (e.RTT != 0 || e.RTTDev != 0):
		return errors.New("a round trip without samples")
	case e.RTTSamples > 0 && (e.RTT <= 0 || e.RTT > MaxRTT || e.RTTDev < 0 || e.RTTDev > MaxRTT):
		return fmt.Errorf("round trip %v ± %v outside (0, %v]", e.RTT, e.RTTDev, MaxRTT)
	case e.MbpsSamples == 0 && (e.Mbps != 0 || e.MbpsDev != 0):
		return errors.New("a throughput without samples")
	case e.MbpsSamples > 0 && !(e.Mbps > 0 && e.Mbps <= MaxMbps && e.MbpsDev >= 0 && e.MbpsDev <= MaxMbps):
		return fmt.Errorf("throughput %g ± %g Mbit/s outside (0, %g]", e.Mbps, e.MbpsDev, float64(MaxMbps))
	case e.UpSamples == 0 && (e.UpMbps != 0 || e.UpMbpsDev != 0):
		return errors.New("an up throughput without samples")
	case e.UpSamples > 0 && !(e.UpMbps > 0 && e.UpMbps <= MaxMbps && e.UpMbpsDev >= 0 && e.UpMbpsDev <= MaxMbps):
		return fmt.Errorf("up throughput %g ± %g Mbit/s outside (0, %g]", e.UpMbps, e.UpMbpsDev, float64(MaxMbps))
	}
	return nil
}

func inCount(n int) bool { return n >= 0 && n <= MaxSamples }
