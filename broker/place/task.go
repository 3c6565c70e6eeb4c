package place

// MaxClasses bounds the number of task classes; learned rates are kept per node and class.
const MaxClasses = 8

// Task is what placement needs to know about one task (one attempt of it).
type Task struct {
	ID    uint64
	Class int // task class in [0, MaxClasses), e.g. one per application
	// Work is the task's size in work units as declared by its submitter.
	Work float64
	// Remaining is the work still to do for a task that was preempted and checkpointed; zero
	// means the whole Work.
	Remaining float64
	InBytes   float64 // input to move from Source to the chosen node
	OutBytes  float64 // result to move back to Source
	// Source is the node index where the input lives and the result goes, -1 for the
	// site itself (the scheduler's LAN), or SourceCloud for the cloud tier.
	Source   int
	Arrival  float64 // when the task was submitted
	Deadline float64 // absolute completion deadline; zero means none
	Priority int     // larger is more urgent
	Tiers    TierMask
	MemBytes int64
	// Checkpointable tasks may be preempted: they checkpoint and resume later or elsewhere.
	Checkpointable bool
	// Policy names the dispatch policy the task's spec asks for; empty means the
	// scheduler's default (see PerTask).
	Policy string
	// Fetched is 1 + the index of a node that already holds the task's input, fetched ahead
	// on a hint while the task waited at the scheduler (0: none): moving the input there
	// costs only the assignment's way to the node (Transfer). Only the simulator's
	// -hold-prefetch sets it; the live scheduler sends no such hints yet.
	Fetched int
	// Allow, when set, is a further constraint the caller checks per node (the live
	// scheduler's labels and reserved resources): a node it refuses is not usable for the
	// task. It must be cheap and must not change the View.
	Allow func(node int) bool
}

// SourceCloud is Task.Source for input that lives in the cloud tier: moving it to a cloud
// node costs nothing, to an edge node the WAN plus the node's own link.
const SourceCloud = -2

// Left returns the work still to do.
func (t *Task) Left() float64 {
	if t.Remaining > 0 {
		return t.Remaining
	}
	return t.Work
}

// fits reports whether node n satisfies the task's constraints (tier, memory).
func fits(n *NodeSpec, t *Task) bool {
	return t.Tiers.Allows(n.Tier) && t.MemBytes <= n.MemBytes
}
