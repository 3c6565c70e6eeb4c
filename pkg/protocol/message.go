package protocol

import "time"

// Header is carried by every agent→scheduler message.
type Header struct {
	V        int    `json:"v"`
	Node     string `json:"node"`
	Instance string `json:"instance"` // random per agent process start
	// Store identifies the agent's durable store. Seq counts within it,
	// across agent restarts and power cuts; a new store (first start, or a
	// damaged one replaced) starts a new count. Without a store, Seq counts
	// within Instance.
	Store string `json:"store,omitempty"`
	// Seq is +1 for every metrics or event message the agent makes. A
	// status message is not counted: it carries the seq of the last message
	// made before it (0 before the first), its place in the stream.
	Seq uint64 `json:"seq"`
	// TS is the agent's wall clock when the message was made. A board
	// without a real-time clock may send a wrong one before NTP syncs, so
	// Boot (the kernel's boot id) and UpMS (milliseconds since that boot,
	// CLOCK_BOOTTIME: counts while suspended, never jumps) let the
	// scheduler place the message on its own clock; see docs/protocol.md.
	TS   time.Time `json:"ts"`
	Boot string    `json:"boot,omitempty"`
	UpMS uint64    `json:"up_ms,omitempty"`
	// From is the oldest seq the agent's outbox still held when the
	// message was made (Seq itself when nothing older was waiting): every
	// message with a smaller seq was delivered or dropped by the outbox's
	// bounds, so one the scheduler never received is lost for good. Live
	// reports can overtake a backlog after an outage (docs/protocol.md,
	// "Delivery order"); From tells a hole that is still on its way from a
	// gap. 0: not known (the hole counts as a gap at once).
	From uint64 `json:"from,omitempty"`
}

// Node states carried by NodeStatus.State.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// Reasons a node is offline, carried by NodeStatus.Reason.
const (
	ReasonShutdown = "shutdown" // the agent said goodbye (SIGINT/SIGTERM)
	ReasonLost     = "lost"     // the broker published the agent's will
)

// Tiers a node can belong to.
const (
	TierEdge  = "edge"
	TierCloud = "cloud"
)

// NodeStatus is the retained message on a node's status topic: the birth
// (State online, with Facts) published on every connect, the will (State
// offline, Reason lost) the broker publishes when the connection dies, and
// the goodbye (State offline, Reason shutdown) of a clean shutdown.
//
// Conn numbers the agent process's connections (1, 2, …): a birth and the
// will registered for the same connection carry the same Conn. The
// scheduler applies a will only when its Instance and Conn match the
// node's current birth, so a late will of an old connection cannot turn a
// live node offline.
type NodeStatus struct {
	Header
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	Conn   uint32 `json:"conn"`
	// HeartbeatS is the longest the agent stays silent: a node not heard
	// from for longer (plus a grace) is offline.
	HeartbeatS float64 `json:"heartbeat_s,omitempty"`
	Facts      *Facts  `json:"facts,omitempty"` // set in births
	// Recovery, in the births of an agent process that found its store
	// damaged and started a fresh one, says what happened: records the
	// old store still held were not delivered.
	Recovery *Recovery `json:"recovery,omitempty"`
	// Health, in births, flags what keeps the node from taking work;
	// absent when nothing does. The agent publishes its birth again
	// whenever it changes, and every heartbeat while a flag is set (its
	// metrics may not be going out then).
	Health *Health `json:"health,omitempty"`
}

// Health is what an agent reports of its own condition in its births.
type Health struct {
	// DiskFull: the filesystem of the agent's data directory is below the
	// store's reserve. The agent stores and sends no metrics and, once it
	// is nearly out of space, no task events either (they wait, never
	// dropped); the scheduler places no new task on the node.
	DiskFull bool `json:"disk_full,omitempty"`
}

// Recovery describes a store that could not be opened and was set aside.
type Recovery struct {
	At      time.Time `json:"at"`
	Reason  string    `json:"reason"`
	MovedTo string    `json:"moved_to,omitempty"` // where the damaged store was kept
}

// Facts are a node's static properties, sent in every birth.
type Facts struct {
	Hostname     string            `json:"hostname"`
	OS           string            `json:"os"`
	Arch         string            `json:"arch"` // GOARCH, with GOARM for arm: "arm64", "armv7"
	Model        string            `json:"model,omitempty"`
	Platform     string            `json:"platform,omitempty"` // distribution and version
	Kernel       string            `json:"kernel,omitempty"`
	Cores        int               `json:"cores"`
	MemTotal     uint64            `json:"mem_total"` // bytes
	AgentVersion string            `json:"agent_version"`
	Tier         string            `json:"tier"`
	Labels       map[string]string `json:"labels,omitempty"`
	// TaskSlots is how many tasks the agent runs at once (its
	// tasks.slots); absent from agents that run no tasks.
	TaskSlots int `json:"task_slots,omitempty"`
	// TaskProgressS is the longest, in seconds, between two progress
	// events of a task the agent runs (its tasks.progress_interval), 1 to
	// MaxTaskProgress; absent from agents that report progress only at
	// checkpoints. The scheduler bounds a running attempt's silence by it.
	TaskProgressS int       `json:"task_progress_s,omitempty"`
	BootID        string    `json:"boot_id,omitempty"`
	BootTime      time.Time `json:"boot_time,omitzero"`
}

// Metrics is one resource report. Pointer and omitempty fields are absent
// when the node cannot measure them (no swap, no sensor, not a Pi).
type Metrics struct {
	Header
	CPU      CPU                `json:"cpu"`
	Load     *Load              `json:"load,omitempty"`
	Mem      Mem                `json:"mem"`
	Swap     *Usage             `json:"swap,omitempty"`
	Disk     *Disk              `json:"disk,omitempty"`
	Net      *Net               `json:"net,omitempty"`
	TempC    map[string]float64 `json:"temp_c,omitempty"` // sensor name → °C
	UptimeS  uint64             `json:"uptime_s"`
	Throttle *Throttle          `json:"throttle,omitempty"`
	Outbox   *Outbox            `json:"outbox,omitempty"`
	// Heartbeat is true when nothing crossed a threshold and the report was
	// sent only because the maximum silence elapsed.
	Heartbeat bool `json:"heartbeat,omitempty"`
}

// Outbox is the state of the agent's durable outbox when a report was made:
// what waits for the broker, and what its bounds have thrown away since the
// store was created (metrics only: status and task events are never
// dropped). A report without it had an empty outbox and no losses.
type Outbox struct {
	Pending     int    `json:"pending"`               // records waiting for the broker's PUBACK
	Bytes       int64  `json:"bytes"`                 // their size on disk
	Dropped     uint64 `json:"dropped,omitempty"`     // metrics dropped: too old, or oldest first when full
	Downsampled uint64 `json:"downsampled,omitempty"` // metrics removed to thin a full outbox
	Corrupt     uint64 `json:"corrupt,omitempty"`     // records unreadable after damage
}

// CPU utilisation in percent of one core (Total is averaged over cores).
type CPU struct {
	Total   float64   `json:"total"`
	PerCore []float64 `json:"per_core,omitempty"`
}

// Load is the kernel's load average.
type Load struct {
	M1  float64 `json:"m1"`
	M5  float64 `json:"m5"`
	M15 float64 `json:"m15"`
}

// Mem is physical memory in bytes.
type Mem struct {
	Total     uint64  `json:"total"`
	Available uint64  `json:"available"`
	Used      uint64  `json:"used"`
	Percent   float64 `json:"percent"` // used ÷ total × 100
}

// Usage is a capacity with its use, in bytes.
type Usage struct {
	Total   uint64  `json:"total"`
	Used    uint64  `json:"used"`
	Percent float64 `json:"percent"`
}

// Disk is the usage of the filesystem holding the agent's data directory.
type Disk struct {
	Path string `json:"path"`
	Usage
}

// Net is the summed rate of all non-loopback interfaces, bytes per second.
type Net struct {
	RxBps float64 `json:"rx_bps"`
	TxBps float64 `json:"tx_bps"`
}

// Throttle is the Raspberry Pi firmware's get_throttled word, decoded. Now
// flags are current; Occurred flags are sticky since boot. Flags that are
// false are left out: a healthy Pi reports {"raw":0}.
type Throttle struct {
	Raw                   uint32 `json:"raw"`
	Undervoltage          bool   `json:"undervoltage,omitempty"`
	FreqCapped            bool   `json:"freq_capped,omitempty"`
	Throttled             bool   `json:"throttled,omitempty"`
	SoftTempLimit         bool   `json:"soft_temp_limit,omitempty"`
	UndervoltageOccurred  bool   `json:"undervoltage_occurred,omitempty"`
	FreqCappedOccurred    bool   `json:"freq_capped_occurred,omitempty"`
	ThrottledOccurred     bool   `json:"throttled_occurred,omitempty"`
	SoftTempLimitOccurred bool   `json:"soft_temp_limit_occurred,omitempty"`
}

// SchedulerStatus is the retained message on the scheduler's status topic;
// its will says offline.
type SchedulerStatus struct {
	V        int       `json:"v"`
	State    string    `json:"state"` // StateOnline or StateOffline
	Reason   string    `json:"reason,omitempty"`
	Instance string    `json:"instance"`
	Version  string    `json:"version"`
	TS       time.Time `json:"ts"`
	// Epoch is the scheduler's leadership term (0: a scheduler without
	// high availability); an observer trusts the status of the highest.
	Epoch uint64 `json:"epoch,omitempty"`
}

// FleetSummary is the retained count of the region's nodes.
type FleetSummary struct {
	V          int       `json:"v"`
	TS         time.Time `json:"ts"`
	Nodes      int       `json:"nodes"`
	Online     int       `json:"online"`
	Offline    int       `json:"offline"`
	Throttled  int       `json:"throttled,omitempty"`  // online nodes throttled or undervolted now
	Duplicates []string  `json:"duplicates,omitempty"` // node ids claimed by more than one agent
	Rejected   uint64    `json:"rejected"`             // invalid messages since the scheduler started
	// BadRows counts rows of the fleet view left out since the scheduler
	// started because a node's values did not encode or validate.
	BadRows uint64 `json:"bad_rows,omitempty"`
	// WAN is the site's link to the cloud tier as placement uses it.
	WAN *WANLink `json:"wan,omitempty"`
}

// WANLink is the site's WAN as placement uses it: the configured WAN
// blended with the estimate measured over the cloud nodes, the
// configuration counting as one sample (docs/scheduling.md, "Links
// measured live"): the round trip, the down direction (cloud → site)
// and the up direction (site → cloud) each once measured. Measured is the
// pooled estimate, nil before a first sample.
type WANLink struct {
	RTTMS    float64       `json:"rtt_ms"`
	UpMbps   float64       `json:"up_mbps"`
	DownMbps float64       `json:"down_mbps"`
	Measured *LinkEstimate `json:"measured,omitempty"`
}

// FleetNodes is the retained table of the region's nodes, as the scheduler
// sees them; `tether-broker nodes` prints it.
type FleetNodes struct {
	V     int         `json:"v"`
	TS    time.Time   `json:"ts"`
	Nodes []FleetNode `json:"nodes"`
}

// FleetNode is one row of FleetNodes.
type FleetNode struct {
	Node      string   `json:"node"`
	Online    bool     `json:"online"`
	Reason    string   `json:"reason,omitempty"` // why offline
	Arch      string   `json:"arch,omitempty"`
	Model     string   `json:"model,omitempty"`
	Tier      string   `json:"tier,omitempty"`
	Version   string   `json:"version,omitempty"` // the agent's, from its birth
	CPU       *float64 `json:"cpu,omitempty"`     // percent
	MemPct    *float64 `json:"mem,omitempty"`     // percent
	TempC     *float64 `json:"temp_c,omitempty"`  // hottest sensor
	Throttled bool     `json:"throttled,omitempty"`
	// DiskFull: the node's latest birth said its disk is full
	// (Health.DiskFull): no new task is placed on it.
	DiskFull bool      `json:"disk_full,omitempty"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Measured is when the latest metrics were taken, on the scheduler's
	// clock; ClockSkewMS is the node's wall clock minus the scheduler's
	// (large on a board without a real-time clock before NTP syncs).
	Measured    time.Time `json:"measured,omitzero"`
	ClockSkewMS int64     `json:"clock_skew_ms,omitempty"`
	Duplicate   bool      `json:"duplicate,omitempty"`
	// StoreRecovered is when the node last replaced a damaged store.
	StoreRecovered time.Time `json:"store_recovered,omitzero"`
	Seq            uint64    `json:"seq,omitempty"`  // last sequence number applied
	Gaps           uint64    `json:"gaps,omitempty"` // messages lost for good, by sequence number
	// Missing: messages not received yet whose later peers were (a
	// backlog still on its way behind live reports).
	Missing uint64 `json:"missing,omitempty"`
	// Outbox is the node's outbox as of its latest report: Pending is its
	// backlog, Dropped+Downsampled what its bounds threw away (these show
	// among Gaps too).
	Outbox *Outbox `json:"outbox,omitempty"`
	Dups   uint64  `json:"dups,omitempty"` // duplicate messages seen
	// Link is the node's link to the site as the scheduler measured it;
	// absent until a first measurement.
	Link *LinkEstimate `json:"link,omitempty"`
}

// LinkEstimate is a node's link as the scheduler measures it: round trips
// of light probes through the broker, the throughput of blob transfers
// from the node (Mbps: toward the site, the WAN's down direction for a
// cloud node) and of those to it (UpMbps: the blobs it fetched from the
// scheduler, timed as the scheduler served them), each smoothed with its
// mean deviation (docs/scheduling.md, "Links measured live"). A quantity
// with no samples is left out.
type LinkEstimate struct {
	RTTMS         float64 `json:"rtt_ms,omitempty"`
	RTTDevMS      float64 `json:"rtt_dev_ms,omitempty"`
	RTTSamples    uint64  `json:"rtt_samples,omitempty"`
	Mbps          float64 `json:"mbps,omitempty"`
	MbpsDev       float64 `json:"mbps_dev,omitempty"`
	MbpsSamples   uint64  `json:"mbps_samples,omitempty"`
	UpMbps        float64 `json:"up_mbps,omitempty"`
	UpMbpsDev     float64 `json:"up_mbps_dev,omitempty"`
	UpMbpsSamples uint64  `json:"up_mbps_samples,omitempty"`
}

// Bounds of a LinkEstimate.
const (
	MaxLinkRTTMS = 600_000 // ten minutes
	MaxLinkMbps  = 1e6
)

// DuplicateNotice is the payload of the duplicate command: the agent
// instances the scheduler saw take turns with one node id.
type DuplicateNotice struct {
	V         int       `json:"v"`
	Node      string    `json:"node"`
	Instances []string  `json:"instances"`
	TS        time.Time `json:"ts"`
}
