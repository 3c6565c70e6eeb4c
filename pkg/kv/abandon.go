package kv

// Abandon stops Run and the compactor like Close, and leaves Badger open:
// nothing more is written. It is for a process about to exit on a full
// disk, where Close would flush the memtable into a new table written
// through an mmap, and a write to a page the filesystem cannot back is
// SIGBUS. Every committed write is durable already (SyncWrites); the next
// Open replays the WAL. The directory stays locked until the process
// exits. Close after Abandon does nothing.
func (d *DB) Abandon() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	close(d.stop)
	d.mu.Unlock()
	d.runs.Wait()
}
