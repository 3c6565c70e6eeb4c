package config

import (
	"path/filepath"
	"time"
)

// Blobs configures the scheduler's blob store: task inputs uploaded by
// submitters and outputs fetched from nodes (docs/tasks.md, Task data).
type Blobs struct {
	// Dir holds the blobs. Empty: "blobs" beside tasks.dir
	// (/var/lib/tether/blobs by default).
	Dir string `yaml:"dir"`
	// Quota bounds the bytes held there. 0: 16 GiB.
	Quota int64 `yaml:"quota"`
	// NodeShare bounds the bytes of the blobs fetched from any one node
	// (its tasks' outputs, inputs held there) that the store holds. 0:
	// a sixteenth of the quota.
	NodeShare int64 `yaml:"node_share"`
	// Retention is how long the blobs of a finished task (its inputs and
	// outputs) are kept after it ended. 0: as long as the task's record,
	// which the scheduler keeps for good. Blobs no task refers to are
	// deleted an hour after they were written either way.
	Retention time.Duration `yaml:"retention"`
}

// DefaultBlobQuota is the scheduler's blob quota when none is set.
const DefaultBlobQuota = 16 << 30

// BlobDir returns where the scheduler keeps blobs.
func (c *Config) BlobDir() string {
	if c.Blobs.Dir != "" {
		return c.Blobs.Dir
	}
	return filepath.Join(filepath.Dir(filepath.Clean(c.Tasks.Dir)), "blobs")
}

// BlobQuota returns the scheduler's blob quota.
func (c *Config) BlobQuota() int64 {
	if c.Blobs.Quota > 0 {
		return c.Blobs.Quota
	}
	return DefaultBlobQuota
}

// BlobNodeShare returns the most bytes of the blob store that blobs
// fetched from one node may take: blobs.node_share, at most the quota.
func (c *Config) BlobNodeShare() int64 {
	if c.Blobs.NodeShare > 0 {
		return min(c.Blobs.NodeShare, c.BlobQuota())
	}
	return c.BlobQuota() / 16
}
