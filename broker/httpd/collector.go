package httpd

import (
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-edge/tether/pkg/protocol"
)

// FleetSource is what the fleet collector reads at each scrape.
type FleetSource interface {
	Summary() protocol.FleetSummary
	Table() protocol.FleetNodes
}

// BrokerStats are the embedded broker's counters.
type BrokerStats struct {
	ClientsConnected, ClientsDisconnected int64
	MessagesReceived, MessagesSent        int64
	MessagesDropped                       int64
	BytesReceived, BytesSent              int64
	Retained, Inflight                    int64
	Refused                               int64 // refused without a PUBACK: a full persistent session
}

// TaskStats are the task store's counts by state.
type TaskStats struct {
	ByState map[string]int
	// Unplaced counts the placements that found no node; Preempted the
	// attempts taken back for a deadline task.
	Unplaced, Preempted uint64
	// Unplaceable is how many pending tasks found no node when last tried.
	Unplaceable int64
}

var (
	nodeLabels = []string{"node"}

	descNodes        = prometheus.NewDesc("tether_fleet_nodes", "Nodes the scheduler knows, by state.", []string{"state"}, nil)
	descThrottledAll = prometheus.NewDesc("tether_fleet_throttled_nodes", "Online nodes throttled or undervolted now.", nil, nil)
	descDuplicates   = prometheus.NewDesc("tether_fleet_duplicate_ids", "Node ids claimed by more than one agent.", nil, nil)
	descRejected     = prometheus.NewDesc("tether_fleet_rejected_messages_total", "Invalid messages refused since the scheduler started.", nil, nil)
	descNotExported  = prometheus.NewDesc("tether_fleet_nodes_not_exported", "Nodes beyond the per-node series limit (only in the aggregates).", nil, nil)
	descGapsAll      = prometheus.NewDesc("tether_fleet_gaps_total", "Messages lost for good across the fleet, by sequence number.", nil, nil)
	descPendingAll   = prometheus.NewDesc("tether_fleet_outbox_pending", "Records waiting in the fleet's outboxes, as last reported.", nil, nil)
	descInfo         = prometheus.NewDesc("tether_node_info", "A node's facts (value 1).", []string{"node", "arch", "model", "tier"}, nil)
	descOnline       = prometheus.NewDesc("tether_node_online", "1 when the node is online.", nodeLabels, nil)
	descCPU          = prometheus.NewDesc("tether_node_cpu_percent", "CPU use, percent of the node's capacity.", nodeLabels, nil)
	descMem          = prometheus.NewDesc("tether_node_memory_percent", "Memory in use, percent.", nodeLabels, nil)
	descTemp         = prometheus.NewDesc("tether_node_temperature_celsius", "The node's hottest sensor.", nodeLabels, nil)
	descUnplaced     = prometheus.NewDesc("tether_placements_no_node_total", "Placements that found no node for a pending task (tried again on every pass).", nil, nil)
	descUnplaceable  = prometheus.NewDesc("tether_tasks_unplaceable", "Pending tasks whose latest placement found no node: tasks that fit nowhere now.", nil, nil)
	descPreempted    = prometheus.NewDesc("tether_preemptions_total", "Running attempts taken back for another task: a deadline task that would miss its deadline, or, under srtf, a task with less work left.", nil, nil)
	descLinkRTT      = prometheus.NewDesc("tether_node_link_rtt_seconds", "The node's round trip to the scheduler through the broker, as measured (smoothed).", nodeLabels, nil)
	descLinkRate     = prometheus.NewDesc("tether_node_link_bits_per_second", "Throughput of blob transfers from the node, as measured (smoothed).", nodeLabels, nil)
	descWANRTT       = prometheus.NewDesc("tether_wan_rtt_seconds", "The site's WAN round trip to the cloud tier: as placement uses it (the configured WAN blended with the measurement), and as measured over the cloud nodes.", []string{"estimate"}, nil)
	descLinkUpRate   = prometheus.NewDesc("tether_node_link_up_bits_per_second", "Throughput of blob transfers to the node (fetched from the scheduler, timed as served), as measured (smoothed).", nodeLabels, nil)
	descWANRate      = prometheus.NewDesc("tether_wan_bits_per_second", "The site's WAN bandwidth by direction: as placement uses it, and as measured (down: transfers from the cloud nodes; up: transfers to them).", []string{"direction", "estimate"}, nil)
	descWANSamples   = prometheus.NewDesc("tether_wan_samples", "Samples behind the measured WAN estimate: probes (rtt), transfers from the cloud nodes (throughput) and to them (throughput_up).", []string{"measure"}, nil)
	descThrottled    = prometheus.NewDesc("tether_node_throttled", "1 when the node is throttled or undervolted now.", nodeLabels, nil)
	descLastSeen     = prometheus.NewDesc("tether_node_last_seen_timestamp_seconds", "When the scheduler last heard from the node.", nodeLabels, nil)
	descPending      = prometheus.NewDesc("tether_node_outbox_pending", "Records in the node's outbox waiting for the broker.", nodeLabels, nil)
	descOutboxLost   = prometheus.NewDesc("tether_node_outbox_dropped_total", "Metrics the node's outbox dropped or downsampled to stay within its bounds.", nodeLabels, nil)
	descGaps         = prometheus.NewDesc("tether_node_gaps_total", "The node's messages lost for good, by sequence number.", nodeLabels, nil)
	descClients      = prometheus.NewDesc("tether_broker_clients", "Embedded broker sessions, by state.", []string{"state"}, nil)
	descMsgs         = prometheus.NewDesc("tether_broker_messages_total", "Embedded broker messages, by direction.", []string{"direction"}, nil)
	descBytes        = prometheus.NewDesc("tether_broker_bytes_total", "Embedded broker bytes, by direction.", []string{"direction"}, nil)
	descRetained     = prometheus.NewDesc("tether_broker_retained_messages", "Retained messages held by the embedded broker.", nil, nil)
	descInflight     = prometheus.NewDesc("tether_broker_inflight_messages", "QoS 1 and 2 messages in flight.", nil, nil)
	descPacketsDrop  = prometheus.NewDesc("tether_broker_messages_dropped_total", "Messages dropped to clean-session subscribers that fell behind (never to persistent sessions).", nil, nil)
	descRefused      = prometheus.NewDesc("tether_broker_messages_refused_total", "Publishes refused without a PUBACK because a persistent session they go to was full (sent again by their publisher).", nil, nil)
	descTasks        = prometheus.NewDesc("tether_tasks", "Tasks in the scheduler's store, by state.", []string{"state"}, nil)
)

// collector builds every metric at scrape time.
type collector struct {
	fleet        FleetSource
	broker       func() BrokerStats // nil: no embedded broker
	tasks        func() TaskStats   // nil: no task store
	perNodeLimit int
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNodes, descThrottledAll, descDuplicates, descRejected, descNotExported,
		descGapsAll, descPendingAll, descInfo, descOnline, descCPU, descMem, descTemp, descLinkRTT, descLinkRate, descLinkUpRate, descWANRTT, descWANRate, descWANSamples, descThrottled, descLastSeen,
		descPending, descOutboxLost, descGaps, descClients, descMsgs, descBytes, descRetained, descInflight,
		descPacketsDrop, descRefused, descTasks, descUnplaced, descUnplaceable, descPreempted} {
		ch <- d
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if c.fleet != nil {
		c.collectFleet(ch)
	}
	if c.broker != nil {
		s := c.broker()
		gauge(ch, descClients, float64(s.ClientsConnected), "connected")
		gauge(ch, descClients, float64(s.ClientsDisconnected), "disconnected")
		counter(ch, descMsgs, float64(s.MessagesReceived), "received")
		counter(ch, descMsgs, float64(s.MessagesSent), "sent")
		counter(ch, descBytes, float64(s.BytesReceived), "received")
		counter(ch, descBytes, float64(s.BytesSent), "sent")
		gauge(ch, descRetained, float64(s.Retained))
		gauge(ch, descInflight, float64(s.Inflight))
		counter(ch, descPacketsDrop, float64(s.MessagesDropped))
		counter(ch, descRefused, float64(s.Refused))
	}
	if c.tasks != nil {
		st := c.tasks()
		states := st.ByState
		names := make([]string, 0, len(states))
		for s := range states {
			names = append(names, s)
		}
		sort.Strings(names)
		for _, s := range names {
			gauge(ch, descTasks, float64(states[s]), s)
		}
		counter(ch, descUnplaced, float64(st.Unplaced))
		gauge(ch, descUnplaceable, float64(st.Unplaceable))
		counter(ch, descPreempted, float64(st.Preempted))
	}
}

func (c *collector) collectFleet(ch chan<- prometheus.Metric) {
	sum := c.fleet.Summary()
	gauge(ch, descNodes, float64(sum.Online), "online")
	gauge(ch, descNodes, float64(sum.Offline), "offline")
	gauge(ch, descThrottledAll, float64(sum.Throttled))
	gauge(ch, descDuplicates, float64(len(sum.Duplicates)))
	counter(ch, descRejected, float64(sum.Rejected))
	if w := sum.WAN; w != nil {
		collectWAN(ch, w)
	}

	rows := c.fleet.Table().Nodes
	sort.Slice(rows, func(i, j int) bool { return rows[i].Node < rows[j].Node })
	var gaps, pending float64
	for _, r := range rows {
		gaps += float64(r.Gaps)
		if r.Outbox != nil {
			pending += float64(r.Outbox.Pending)
		}
	}
	gauge(ch, descGapsAll, gaps)
	gauge(ch, descPendingAll, pending)
	limit := c.perNodeLimit
	if limit < 0 || limit > len(rows) {
		limit = len(rows)
	}
	gauge(ch, descNotExported, float64(len(rows)-limit))
	for _, r := range rows[:limit] {
		gauge(ch, descInfo, 1, r.Node, r.Arch, r.Model, r.Tier)
		gauge(ch, descOnline, b2f(r.Online), r.Node)
		gauge(ch, descThrottled, b2f(r.Throttled), r.Node)
		if r.CPU != nil {
			gauge(ch, descCPU, *r.CPU, r.Node)
		}
		if r.MemPct != nil {
			gauge(ch, descMem, *r.MemPct, r.Node)
		}
		if r.TempC != nil {
			gauge(ch, descTemp, *r.TempC, r.Node)
		}
		if l := r.Link; l != nil {
			if l.RTTSamples > 0 {
				gauge(ch, descLinkRTT, l.RTTMS/1000, r.Node)
			}
			if l.MbpsSamples > 0 {
				gauge(ch, descLinkRate, l.Mbps*1e6, r.Node)
			}
			if l.UpMbpsSamples > 0 {
				gauge(ch, descLinkUpRate, l.UpMbps*1e6, r.Node)
			}
		}
		if !r.LastSeen.IsZero() {
			gauge(ch, descLastSeen, float64(r.LastSeen.UnixNano())/float64(time.Second), r.Node)
		}
		if r.Outbox != nil {
			gauge(ch, descPending, float64(r.Outbox.Pending), r.Node)
			counter(ch, descOutboxLost, float64(r.Outbox.Dropped+r.Outbox.Downsampled), r.Node)
		} else {
			gauge(ch, descPending, 0, r.Node)
		}
		counter(ch, descGaps, float64(r.Gaps), r.Node)
	}
}

// collectWAN exports the WAN as placement uses it and, once measured, the
// measurement.
func collectWAN(ch chan<- prometheus.Metric, w *protocol.WANLink) {
	gauge(ch, descWANRTT, w.RTTMS/1000, "placement")
	gauge(ch, descWANRate, w.UpMbps*1e6, "up", "placement")
	gauge(ch, descWANRate, w.DownMbps*1e6, "down", "placement")
	m := w.Measured
	if m == nil {
		return
	}
	gauge(ch, descWANSamples, float64(m.RTTSamples), "rtt")
	gauge(ch, descWANSamples, float64(m.MbpsSamples), "throughput")
	gauge(ch, descWANSamples, float64(m.UpMbpsSamples), "throughput_up")
	if m.RTTSamples > 0 {
		gauge(ch, descWANRTT, m.RTTMS/1000, "measured")
	}
	if m.MbpsSamples > 0 {
		gauge(ch, descWANRate, m.Mbps*1e6, "down", "measured")
	}
	if m.UpMbpsSamples > 0 {
		gauge(ch, descWANRate, m.UpMbps*1e6, "up", "measured")
	}
}
