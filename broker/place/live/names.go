package live

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/tether-edge/tether/broker/place"
)

// DefaultPolicy is the scheduler's policy when none is configured.
const DefaultPolicy = "tether"

// aliases are the long names of policies whose registry names are short.
var aliases = map[string]string{"round-robin": "rr", "weighted-random": "wrandom"}

// queueOrders are the central queues the live scheduler keeps (Queued): tasks wait at the
// scheduler until a slot frees, taken in this order. Each is the simulator's queue of the same
// name (broker/place's Central): srtf also preempts for a task that would wait, edf also
// refuses at submission a deadline task its admission test says cannot be met.
var queueOrders = []string{"edf", "fifo", "priority", "sjf", "srtf"}

// dispatchNames returns the registry's policies the live scheduler can dispatch with: those
// that place at arrival and need nothing but a random source (not the simulator's oracle, not
// the central queues).
func dispatchNames(r *place.Registry) []string {
	var out []string
	for _, n := range r.Names() {
		p, err := r.New(n, place.Env{Rand: rand.New(rand.NewPCG(1, 1))})
		if err == nil && p.Dispatcher != nil {
			out = append(out, n)
		}
	}
	return out
}

// Names returns the policy names a scheduler may be configured with, sorted, long aliases
// included. A spec may name the dispatch policies among them, or the scheduler's own queue.
func Names() []string {
	names := append(dispatchNames(place.NewRegistry()), queueOrders...)
	for a := range aliases {
		names = append(names, a)
	}
	slices.Sort(names)
	return names
}

// DefaultNodeQueue is placement.node_queue's default: how many tasks beyond its slots Tether
// may commit to a node (place.DefaultNodeQueue, the simulator's default too).
const DefaultNodeQueue = place.DefaultNodeQueue

// NodeQueue is the task engine's Options.NodeQueue for a scheduler whose placement.policy is
// policy and whose placement.node_queue is queue: queue, except under a central queue, which
// binds tasks to free slots only.
func NodeQueue(policy string, queue int) int {
	if name, err := Canonical(policy); err != nil || slices.Contains(queueOrders, name) {
		return 0
	}
	return queue
}

// Canonical returns the registry name of a policy name, or an error naming the valid ones.
func Canonical(name string) (string, error) {
	return canonical(place.NewRegistry(), name)
}

func canonical(r *place.Registry, name string) (string, error) {
	if a, ok := aliases[name]; ok {
		return a, nil
	}
	live := dispatchNames(r)
	if slices.Contains(live, name) || slices.Contains(queueOrders, name) {
		return name, nil
	}
	valid := describe(live) + "; or a central queue: " + strings.Join(queueOrders, ", ")
	if slices.Contains(r.Names(), name) {
		return "", fmt.Errorf("placement policy %q is not one the live scheduler runs (the simulator does); use one of %s",
			name, valid)
	}
	return "", fmt.Errorf("unknown placement policy %q: use one of %s", name, valid)
}

// describe lists policy names for a message, with the long alias beside a short name.
func describe(names []string) string {
	long := map[string]string{}
	for a, n := range aliases {
		long[n] = a
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n
		if a, ok := long[n]; ok {
			parts[i] = a + " (" + n + ")"
		}
	}
	return strings.Join(parts, ", ")
}
