// Package httpd is the scheduler's HTTP side: Prometheus metrics
// (/metrics), liveness (/healthz), readiness (/readyz) and the live web
// dashboard (/, its API under /api/) on one listener (serve's
// http.listen, off when empty). The dashboard's design is in hub.go
// (what is sent to whom) and auth.go (logins).
//
// The metrics are built at scrape time from what the scheduler already
// holds — the fleet's rows and summary, the embedded broker's counters, the
// task store's states — so nothing is kept per node between scrapes and a
// node that leaves the fleet leaves the metrics with it. Cardinality is
// bounded: per-node series (label node only; one info series carries arch,
// model, tier) are exported for at most Options.PerNodeLimit nodes, in node
// order, and the fleet-wide aggregates always; docs/metrics.md lists them.
package httpd
