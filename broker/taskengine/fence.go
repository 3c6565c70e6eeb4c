package taskengine

import (
	"slices"
	"strings"
)

func (e *Engine) fenceMap(node string) map[string]*Fence {
	m, ok := e.fences[node]
	if !ok {
		m = map[string]*Fence{}
		e.fences[node] = m
	}
	return m
}

// fence records that node may still run attempt n of task id, and sends
// the cancel now if the node is online.
func (e *Engine) fence(node, id string, n uint32) {
	f := &Fence{Node: node, Task: id, Attempt: n}
	e.fenceMap(node)[id] = f
	if ns := e.node(node); ns.Online {
		e.sendFence(f)
	}
	e.writeFence(f)
}

// sendFence sends f's cancel and counts it.
func (e *Engine) sendFence(f *Fence) {
	f.Sends++
	f.SentAt, f.sent = e.now(), e.clock()
	e.sendCancel(f.Node, f.Task, f.Attempt)
}

func (e *Engine) writeFence(f *Fence) {
	v, err := frame(formatFence, f)
	if err != nil {
		e.log.Error("fence does not encode", "task", f.Task, "node", f.Node, "err", err) // cannot happen
		return
	}
	e.units = append(e.units, Unit{{Key: fenceKey(f.Node, f.Task), Value: v}})
}

// unfence forgets the fence of attempt n of task id on node: the node
// reported the attempt ended.
func (e *Engine) unfence(node, id string, n uint32) {
	m := e.fences[node]
	if f, ok := m[id]; ok && f.Attempt == n {
		e.dropFence(f)
	}
}

func (e *Engine) dropFence(f *Fence) {
	m := e.fences[f.Node]
	delete(m, f.Task)
	if len(m) == 0 {
		delete(e.fences, f.Node)
	}
	e.units = append(e.units, Unit{{Key: fenceKey(f.Node, f.Task)}})
}

// staleRunning handles a non-final event of a stale attempt: the node
// runs something it should not, so it is sent the cancel again, at most
// once per AckTimeout. It reports whether it sent one.
func (e *Engine) staleRunning(node, id string, n uint32, now instant) bool {
	f, ok := e.fences[node][id]
	if !ok || f.Attempt != n {
		f = &Fence{Node: node, Task: id, Attempt: n}
		e.fenceMap(node)[id] = f
	} else if now.sub(f.sent) < e.opts.AckTimeout {
		return false
	}
	e.sendFence(f)
	e.writeFence(f)
	return true
}

// nodeBack sends a node that came back (online again, or a new agent
// process) the cancels of its fenced attempts. A fence whose cancel was
// sent maxFenceSends times without the node reporting the attempt ended
// is dropped: the node most likely never had it.
func (e *Engine) nodeBack(node string) {
	for _, f := range sortedFences(e.fences[node]) {
		if f.Sends >= maxFenceSends {
			e.dropFence(f)
			continue
		}
		e.sendFence(f)
		e.writeFence(f)
	}
}

func sortedFences(m map[string]*Fence) []*Fence {
	out := make([]*Fence, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *Fence) int { return strings.Compare(a.Task, b.Task) })
	return out
}
