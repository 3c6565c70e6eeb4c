package taskengine

import (
	"maps"
	"slices"
	"sort"

	"github.com/tether-edge/tether/pkg/task"
)

// list answers OpList: a page of tasks by id after req.After — the
// unfinished ones from memory, the finished ones from the store — and
// the cursor of the next page.
func (e *Engine) list(req task.ControlRequest, reply *task.Reply) {
	limit := req.Limit
	if limit <= 0 || limit > task.MaxPage {
		limit = task.MaxPage
	}
	var mem []string
	for id := range e.tasks {
		if id > req.After {
			mem = append(mem, id)
		}
	}
	sort.Strings(mem)
	var done []*Task
	if e.opts.FinishedAfter != nil {
		var err error
		if done, err = e.opts.FinishedAfter(req.After, limit+1); err != nil {
			e.log.Error("task store read failed", "err", err)
			reply.Error = "the scheduler cannot read its task store; try again later"
			return
		}
	}
	page := make([]task.Status, 0, min(limit, len(mem)+len(done)))
	more := false
	for i, j := 0, 0; i < len(mem) || j < len(done); {
		var t *Task
		switch {
		case j == len(done) || i < len(mem) && mem[i] <= done[j].Spec.ID:
			if j < len(done) && mem[i] == done[j].Spec.ID {
				j++ // in memory too: the same task, read from the store
			}
			t = e.tasks[mem[i]].t
			i++
		default:
			t = done[j]
			j++
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, listed(t, e.opts.Epoch))
	}
	reply.OK, reply.Tasks = true, page
	if more {
		reply.Next = page[len(page)-1].Task
	}
}

// listed is t's status as a list shows it: no attempts, result or spec,
// its error cut to MaxListError.
func listed(t *Task, epoch uint64) task.Status {
	st := t.Status()
	st.Epoch = epoch
	st.Attempts, st.Result, st.Spec = nil, nil, nil
	if len(st.Error) > task.MaxListError {
		st.Error = cut(st.Error, task.MaxListError)
	}
	return st
}

// quarantine answers OpQuarantine and OpRelease with the nodes in
// quarantine, by id.
func (e *Engine) quarantine(reply *task.Reply) {
	q := e.Quarantined()
	reply.OK = true
	for _, id := range slices.Sorted(maps.Keys(q)) {
		reply.Quarantine = append(reply.Quarantine, task.Quarantined{Node: id, Until: q[id]})
	}
}
