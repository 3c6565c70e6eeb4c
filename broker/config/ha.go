package config

import (
	"net/url"
	"os"
	"time"
)

// HA makes the scheduler one of several for its region (docs/scaling.md,
// Scheduler high availability): the region's lease, held through the NATS
// cluster's JetStream, chooses the one that acts; the others stand by. The
// task store then lives in the cluster's replicated stream instead of
// tasks.dir, and the scheduler connects to the cluster's MQTT listeners
// (mqtt_url) with the same username and password on its core-NATS
// listeners (nats_url).
type HA struct {
	// NATSURL lists the cluster's core-NATS listeners (nats://HOST:4222,
	// tls://…). Set, the scheduler runs highly available; empty, it is
	// the region's only scheduler, with its store in tasks.dir.
	NATSURL []string `yaml:"nats_url"`
	// Holder names this scheduler in the lease and in logs. Empty: the
	// host name.
	Holder string `yaml:"holder"`
	// LeaseTTL is how long the lease outlives its holder's last renewal:
	// a standby takes over about this long after the active scheduler
	// died. The holder stops acting before it ends. 0: 5s.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// Replicas is how many cluster nodes keep the region's stream and its
	// blob bucket. 0: 3.
	Replicas int `yaml:"replicas"`
	// BlobBytes bounds the region's blob bucket, the replicated copy of
	// the scheduler's blob store: its objects plus JetStream's overhead
	// per message. At most blobs.quota. 0: the smaller of blobs.quota and
	// DefaultHABlobBytes. Every cluster node's max_file_store must hold it
	// beside the MQTT streams (JetStream reserves it when it creates the
	// bucket, and refuses a bucket larger than a node's store).
	BlobBytes int64 `yaml:"blob_bytes"`
}

// DefaultHABlobBytes is ha.blob_bytes when none is set (and blobs.quota
// is larger): half the max_file_store of deploy/nats/nats.conf.
const DefaultHABlobBytes = 4 << 30

// HABlobBytes returns ha.blob_bytes or its default.
func (c *Config) HABlobBytes() int64 {
	if c.HA.BlobBytes > 0 {
		return c.HA.BlobBytes
	}
	return min(c.BlobQuota(), DefaultHABlobBytes)
}

// Enabled reports whether the scheduler runs highly available.
func (h HA) Enabled() bool { return len(h.NATSURL) > 0 }

// HolderName returns ha.holder or, empty, the host name.
func (h HA) HolderName() string {
	if h.Holder != "" {
		return h.Holder
	}
	if n, err := os.Hostname(); err == nil && n != "" {
		return n
	}
	return "scheduler"
}

// DefaultLeaseTTL is ha.lease_ttl when none is set.
const DefaultLeaseTTL = 5 * time.Second

// TTL returns ha.lease_ttl or its default.
func (h HA) TTL() time.Duration {
	if h.LeaseTTL > 0 {
		return h.LeaseTTL
	}
	return DefaultLeaseTTL
}

func (c *Config) validateHA(add func(format string, args ...any)) {
	h := c.HA
	if !h.Enabled() {
		return
	}
	if c.UsesEmbedded() {
		add("ha.nats_url: a highly available scheduler needs the NATS cluster's MQTT listeners in mqtt_url, not the embedded broker")
	}
	if c.Enrol.File != "" {
		add("ha.nats_url: enrolment (enrol.file) cannot run with ha: NATS reads its users from its own configuration (tether-broker natsconf), which the scheduler does not rewrite")
	}
	for _, u := range h.NATSURL {
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || (p.Scheme != "nats" && p.Scheme != "tls") {
			add("ha.nats_url %q: write it as nats://HOST:4222 or tls://HOST:4222", u)
		}
	}
	if h.LeaseTTL != 0 && (h.LeaseTTL < 2*time.Second || h.LeaseTTL > 5*time.Minute) {
		add("ha.lease_ttl %v: between 2s and 5m", h.LeaseTTL)
	}
	if h.Replicas != 0 && (h.Replicas < 1 || h.Replicas > 5) {
		add("ha.replicas %d: between 1 and 5 (JetStream's limit)", h.Replicas)
	}
	if h.BlobBytes < 0 || h.BlobBytes > c.BlobQuota() {
		add("ha.blob_bytes %d: between 0 (the default) and blobs.quota (%d)", h.BlobBytes, c.BlobQuota())
	}
	if h.Holder != "" {
		if len(h.Holder) > 64 {
			add("ha.holder: at most 64 bytes")
		}
		for _, r := range h.Holder {
			if r < 0x20 || r == 0x7f {
				add("ha.holder %q: no control characters", h.Holder)
				break
			}
		}
	}
}
