package serve

import (
	"context"
	"crypto/ed25519"
	"math"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// openTasks opens the task store — in tasks.dir, or with ha in the
// region's replicated stream — and loads the signing key: from
// tasks.signing_key_file, or with ha the region's (signingKey), which a
// key file must match. A key file that is configured but unusable, or
// that is not the region's, is an error; no key at all leaves tasks
// pending, which the engine logs.
func openTasks(ctx context.Context, cfg config.Config, o Options, lead *leadership) (*taskengine.Store, taskengine.Loaded, ed25519.PrivateKey, error) {
	log := o.Logger.With("component", "tasks")
	var key ed25519.PrivateKey
	f := cfg.Tasks.SigningKeyFile
	if lead != nil {
		var err error
		if key, err = lead.signingKey(ctx, lead.configured, f, log); err != nil { // read by campaign
			return nil, taskengine.Loaded{}, nil, err
		}
	} else if f != "" {
		var err error
		if key, err = taskengine.LoadSigningKey(f); err != nil {
			return nil, taskengine.Loaded{}, nil, err
		}
		log.Info("signing key loaded", "key", task.KeyID(key.Public().(ed25519.PublicKey)))
	}
	if key == nil {
		msg := "no signing key (tasks.signing_key_file): tasks are accepted but stay pending; " +
			"make one with `tether-broker keygen` and pin its public key on the agents"
		if lead != nil {
			msg = "no signing key (tasks.signing_key_file), and none in the region: tasks are accepted but stay pending; " +
				"make one with `tether-broker keygen`, give it to a scheduler of the region and pin its public key on the agents"
		}
		log.Error(msg)
	}
	if lead != nil {
		st, ld, err := lead.store(ctx, o.Logger)
		return st, ld, key, err
	}
	st, ld, rec, err := taskengine.OpenStore(cfg.Tasks.Dir, o.Logger)
	if err != nil {
		return nil, taskengine.Loaded{}, nil, err
	}
	if rec != nil {
		log.Error("the task store was damaged and set aside: the tasks it held are not scheduled",
			"reason", rec.Reason, "moved_to", rec.MovedTo)
	}
	return st, ld, key, nil
}

// taskNode is what the task engine needs of a fleet node: its facts, and
// from its latest metrics its CPU load and health flags for placement.
func taskNode(n fleet.Node) taskengine.NodeState {
	tn := taskengine.NodeState{ID: n.ID, Online: n.Online, Instance: n.Instance, DiskFull: n.DiskFull}
	if f := n.Facts; f != nil {
		tn.HasFacts, tn.Tier, tn.Labels, tn.Cores, tn.TaskSlots = true, f.Tier, f.Labels, f.Cores, f.TaskSlots
		tn.Model = f.Model
		tn.MemTotal = int64(min(f.MemTotal, math.MaxInt64))
		tn.ProgressEvery = time.Duration(f.TaskProgressS) * time.Second
	}
	if m := n.Metrics; m != nil {
		tn.CPU = min(max(m.CPU.Total/100, 0), 1)
		if th := m.Throttle; th != nil {
			tn.Throttled = th.Throttled || th.FreqCapped || th.SoftTempLimit
			tn.Undervoltage = th.Undervoltage
		}
	}
	return tn
}

// nodeChanged tells the task engine what the fleet now says of node.
func (s *scheduler) nodeChanged(id string) {
	if n, ok := s.fleet.Get(id); ok {
		s.tasks.UpdateNode(taskNode(n))
	}
}

// syncNodes gives the task engine what changed in the fleet since the
// last call (new metrics, overdue heartbeats): the nodes the fleet marked
// changed, not a scan of the whole fleet.
func (s *scheduler) syncNodes() {
	s.fleet.Drain(fleet.ForTasks, func(n fleet.Node) { s.tasks.UpdateNode(taskNode(n)) })
}

// onSubmit takes a submit request. A retained one is refused (and
// cleared): it would be delivered again at every start of the scheduler
// and make a task each time.
func (s *scheduler) onSubmit(m session.Message) {
	var err error
	if m.Retained {
		err = s.tasks.HandleRetained(m.Topic, m.Payload)
	} else {
		err = s.tasks.HandleSubmit(m.Payload) // touchInputs first (Options.BeforeSubmit)
	}
	if err != nil {
		s.reject(m, err)
	}
}

// touchInputs marks the inputs a submission names in the scheduler's blob
// store as just used, before the task that refers to them is committed: a
// collection that read the tasks' references before this submission would
// otherwise delete an input written more than blobGrace ago
// (blob.Store.Touch). The task service calls it with each submit request
// it decoded (taskengine.Options.BeforeSubmit).
func (s *scheduler) touchInputs(req task.SubmitRequest) {
	if s.blobStore == nil {
		return
	}
	for _, in := range req.Spec.Inputs {
		if in.FromNode() == "" {
			s.blobStore.Touch(in.Blob)
		}
	}
}

// onControl takes a control request; a retained one is refused, as
// onSubmit's.
func (s *scheduler) onControl(m session.Message) {
	var err error
	if m.Retained {
		err = s.tasks.HandleRetained(m.Topic, m.Payload)
	} else {
		err = s.tasks.HandleControl(m.Payload)
	}
	if err != nil {
		s.reject(m, err)
	}
}

// onTaskEvent takes an agent's task event: valid, from the node its topic
// names, and new in the node's sequence (the agent's outbox delivers at
// least once: the fleet drops what it already received).
func (s *scheduler) onTaskEvent(m session.Message) {
	ev, err := task.DecodeEvent(m.Payload)
	if err == nil {
		err = nodeOf(m.Topic, ev.Node)
	}
	if err != nil {
		s.reject(m, err)
		return
	}
	s.traceCounted(ev.Node, ev.Seq, "task")
	if !s.fleet.Accept(ev.Header) {
		s.log.Debug("task event received before dropped", "node", ev.Node, "seq", ev.Seq, "task", ev.Task)
		return
	}
	if ev.Task == task.UnverifiedTask {
		s.unverified.Warn("a node refused an assignment it could not verify: check the node's tasks.scheduler_keys, and who may publish on its command topic",
			"node", ev.Node, "reason", ev.Error)
		return
	}
	s.tasks.HandleEvent(ev)
}
