package taskengine

import "fmt"

// RecordUnits returns the units that write ld's records and the finished
// tasks, in the key schema of keys.go: each unfinished task with its
// checkpoint (ld.Checkpoints), each finished task under f/, each fence
// and quarantine. Committed to a store with nothing else in it, they read
// back as ld (Damaged aside) and the finished tasks: what copying a store
// to another Backend commits (the finished tasks paged with
// FinishedAfter).
func RecordUnits(ld Loaded, finished []*Task) ([]Unit, error) {
	units := make([]Unit, 0, len(ld.Active)+len(finished)+len(ld.Fences)+len(ld.Quarantine))
	for _, t := range ld.Active {
		id := t.Spec.ID
		v, err := encodeTask(t)
		if err != nil {
			return nil, fmt.Errorf("task %s does not encode: %w", id, err)
		}
		u := Unit{{Key: activeKey(id), Value: v}}
		if c := ld.Checkpoints[id]; c != nil {
			cv, err := frame(formatCheckpoint, c)
			if err != nil {
				return nil, fmt.Errorf("checkpoint of task %s does not encode: %w", id, err)
			}
			u = append(u, Write{Key: checkpointKey(id), Value: cv})
		}
		units = append(units, u)
	}
	for _, t := range finished {
		v, err := encodeTask(t)
		if err != nil {
			return nil, fmt.Errorf("task %s does not encode: %w", t.Spec.ID, err)
		}
		units = append(units, Unit{{Key: finishedKey(t.Spec.ID), Value: v}})
	}
	for _, f := range ld.Fences {
		v, err := frame(formatFence, f)
		if err != nil {
			return nil, fmt.Errorf("fence %s/%s does not encode: %w", f.Node, f.Task, err)
		}
		units = append(units, Unit{{Key: fenceKey(f.Node, f.Task), Value: v}})
	}
	for _, q := range ld.Quarantine {
		v, err := frame(formatQuarantine, q)
		if err != nil {
			return nil, fmt.Errorf("quarantine of node %s does not encode: %w", q.Node, err)
		}
		units = append(units, Unit{{Key: quarantineKey(q.Node), Value: v}})
	}
	return units, nil
}
