// Package ha makes a region's scheduler highly available on the region's
// NATS cluster (deploy/nats): two or more schedulers campaign for the
// region, one holds it, and its task store lives in a replicated JetStream
// stream that refuses every write of a deposed holder. No consensus of our
// own: the lease, the fence and the data are all decided by the stream's
// Raft group through JetStream's expected-last-subject-sequence checks.
//
// One stream per region, TETHER_<region> (file storage, Replicas copies,
// one message per subject, per-message TTLs and atomic batches allowed;
// nats-server ≥ 2.12), with the subjects
//
//	tether.ha.<region>.lease     {holder, epoch}, Nats-TTL LeaseTTL
//	tether.ha.<region>.epoch     the fence: its stream sequence is the epoch
//	tether.ha.<region>.s.<key>   a task-store record (key: base32hex, no
//	                             padding); a delete is an empty message
//	                             with the Tether-Deleted header and a TTL
//	tether.ha.<region>.key       the region's signing key (PEM PKCS #8),
//	                             written once (key.go)
//
// Leadership (lease.go): a scheduler acquires the lease by publishing it
// expecting the subject's last sequence to be 0 (absent, or expired by its
// TTL), renews it every LeaseTTL/5 expecting its own last sequence, and
// then bumps the epoch. Every record it writes expects the epoch subject's
// last sequence to be its own epoch, so once another scheduler has bumped
// it the stream rejects the old one's writes (backend.go). A holder stops
// acting (Term.Lost) when a renewal fails, or at the last successful
// renewal's send time + LeaseTTL − LeaseTTL/10 by its own monotonic clock:
// the lease, stored after that send, expires on the servers no earlier.
package ha
