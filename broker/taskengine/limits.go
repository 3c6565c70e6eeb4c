package taskengine

import (
	"math"
	"path"
	"strconv"
)

// LabelSlots is the label by which a node may say how many tasks it runs
// at once (1 to 1024), over the task_slots of its facts. What it says is
// a claim: Limits bound it.
const LabelSlots = "tether.slots"

// Limits are what the operator allows a node to claim. A node's facts and
// labels are its own word: a node that claims 4096 slots and never does
// the work would otherwise be given every task. A node's slots are its
// claim (LabelSlots, else its facts' task_slots, else its cores) bounded
// by its cores × SlotsPerCore and by MaxSlots (or its NodeLimit's); the
// engine never has more of its tasks assigned or running on a node than
// its slots, and keeps the rest pending. MaxSpeed bounds the speed a
// node's labels declare (the placer's prior, before results teach it).
type Limits struct {
	MaxSlots     int     // default 16
	SlotsPerCore int     // default 4
	MaxSpeed     float64 // reference cores per slot; default 4
	// Nodes override MaxSlots and MaxSpeed for the nodes whose id matches
	// Match (path.Match: "gpu-*"); the first match wins. Node ids are the
	// nodes' MQTT usernames, checked by the broker, unlike their labels.
	Nodes []NodeLimit
}

// NodeLimit is what the operator allows the nodes whose id matches Match.
// Zero fields take the Limits' own.
type NodeLimit struct {
	Match    string
	MaxSlots int
	MaxSpeed float64
}

// Defaults of Limits.
const (
	DefaultMaxSlots     = 16
	DefaultSlotsPerCore = 4
	DefaultMaxSpeed     = 4.0
	maxSlotsClaim       = 1024 // what a label may claim at all
)

func (l *Limits) ensureDefaults() {
	if l.MaxSlots <= 0 {
		l.MaxSlots = DefaultMaxSlots
	}
	if l.SlotsPerCore <= 0 {
		l.SlotsPerCore = DefaultSlotsPerCore
	}
	if !(l.MaxSpeed > 0) {
		l.MaxSpeed = DefaultMaxSpeed
	}
}

// allowed returns the slots and speed the operator allows node id.
func (l *Limits) allowed(id string) (slots int, speed float64) {
	slots, speed = l.MaxSlots, l.MaxSpeed
	for _, nl := range l.Nodes {
		if ok, _ := path.Match(nl.Match, id); ok {
			if nl.MaxSlots > 0 {
				slots = nl.MaxSlots
			}
			if nl.MaxSpeed > 0 {
				speed = nl.MaxSpeed
			}
			break
		}
	}
	return slots, speed
}

// bound sets n.Slots and n.MaxSpeed: what n claims within what the
// operator allows.
func (l *Limits) bound(n *NodeState) {
	cores := min(max(n.Cores, 1), maxSlotsClaim)
	claim := cores
	if n.TaskSlots > 0 {
		claim = min(n.TaskSlots, maxSlotsClaim)
	}
	if s, ok := n.Labels[LabelSlots]; ok {
		if v, err := strconv.ParseFloat(s, 64); err == nil && v >= 1 && v <= maxSlotsClaim && v == math.Trunc(v) {
			claim = int(v)
		}
	}
	slots, speed := l.allowed(n.ID)
	n.Slots = min(claim, cores*l.SlotsPerCore, slots)
	n.MaxSpeed = speed
}
