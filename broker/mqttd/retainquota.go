package mqttd

import "sync"

// retainedQuota accounts the retained messages each client other than the
// scheduler holds on the broker, and admits a new one only within the
// quotas (Options.MaxRetainedPerClient, MaxRetainedBytesPerClient).
//
// A retained message is owned by whoever retained it last; when another
// client replaces or deletes it, its previous owner's usage drops. Usage
// stays after a client disconnects, since its retained messages do too.
// Memory: one entry per retained topic of a quota'd client, so at most
// maxCount per client id ever admitted.
//
// admit and set for one client run on that client's read goroutine, in
// order, so a client cannot race itself past its quota.
type retainedQuota struct {
	maxCount, maxBytes int

	mu     sync.Mutex // guards topics and usage
	topics map[string]retainedEntry
	usage  map[string]retainedUsage // by owner; no zero entries
}

type retainedEntry struct {
	owner string
	size  int
}

type retainedUsage struct{ count, bytes int }

func newRetainedQuota(maxCount, maxBytes int) *retainedQuota {
	return &retainedQuota{
		maxCount: maxCount,
		maxBytes: maxBytes,
		topics:   map[string]retainedEntry{},
		usage:    map[string]retainedUsage{},
	}
}

// admit reports whether owner may retain size bytes on topic. An empty
// payload deletes a retained message and is always admitted.
func (q *retainedQuota) admit(owner, topic string, size int) bool {
	if size == 0 {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.usage[owner]
	if old, ok := q.topics[topic]; ok && old.owner == owner {
		u.count--
		u.bytes -= old.size
	}
	return u.count+1 <= q.maxCount && u.bytes+size <= q.maxBytes
}

// set records that topic's retained message is now size bytes from owner
// ("" for a client without a quota; size 0: deleted).
func (q *retainedQuota) set(owner, topic string, size int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if old, ok := q.topics[topic]; ok {
		u := q.usage[old.owner]
		u.count--
		u.bytes -= old.size
		if u.count <= 0 {
			delete(q.usage, old.owner)
		} else {
			q.usage[old.owner] = u
		}
		delete(q.topics, topic)
	}
	if owner == "" || size == 0 {
		return
	}
	q.topics[topic] = retainedEntry{owner: owner, size: size}
	u := q.usage[owner]
	u.count++
	u.bytes += size
	q.usage[owner] = u
}

// used returns owner's retained count and bytes.
func (q *retainedQuota) used(owner string) (count, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.usage[owner]
	return u.count, u.bytes
}
