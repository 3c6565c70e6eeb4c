package config

import "path/filepath"

// Blobs configures the scheduler's blob store: task inputs uploaded by
// submitters and outputs fetched from nodes (docs/tasks.md, Task data).
type Blobs struct {
	// Dir holds the blobs. Empty: "blobs" beside tasks.dir
	// (/var/lib/tether/blobs by default).
	Dir string `yaml:"dir"`
	// Quota bounds the bytes held there. 0: 16 GiB.
	Quota int64 `yaml:"quota"`
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
