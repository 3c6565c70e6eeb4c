package serve

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// intake is the scheduler's receive path over an MQTT session, with an
// external broker (beside the embedded one, receive.go is). The session's
// receive goroutine only queues a message here and returns; workers
// decode and apply it. A fleet message (status, metrics) is acknowledged
// when queued (paho sends the PUBACK when the handler returns: fleet state
// is soft, rebuilt from births and fresh reports); a task event or a
// request only once committed (afterCommit), without holding the receive
// goroutine, so commits still batch.
// So the receive goroutine never waits for the fleet or the task engine,
// only for room in a full queue. A full queue is flow control, not loss:
// the receive goroutine stops reading, the broker holds the publishers
// (broker/mqttd's flow control; Mosquitto keeps the scheduler's persistent
// session queue), and the agents' outboxes keep what was not acknowledged.
//
// A node's messages (status, metrics, task events) all go to one worker,
// chosen by node id, so they are handled in the order they arrived; every
// other message (submissions, control requests) goes to worker 0, in
// order too.
type intake struct {
	shards []chan job
	seed   maphash.Seed
	wg     sync.WaitGroup
	// afterCommit runs its argument once what the worker applied so far is
	// committed (taskengine.Service.AfterCommit). A message of a deferred
	// subscription (task events, submissions, control requests: Ack set)
	// is acknowledged through it, so the broker keeps one the scheduler
	// dies or is deposed before committing, and delivers it to the
	// region's next scheduler. nil: acknowledged once applied.
	afterCommit func(func())
}

type job struct {
	m session.Message
	h session.Handler
}

// Intake sizing. intakeWorkers lets decoding and fleet updates use both of
// a small server's cores while one worker waits on a lock. intakeDepth is
// each worker's queue: 1,024 messages (~1 MB at Tether's message sizes) is
// a few hundred milliseconds of a 10k fleet's reports; beyond that,
// back-pressure is the better answer than more memory.
const (
	intakeWorkers = 4
	intakeDepth   = 1024
)

func newIntake(workers, depth int) *intake {
	in := &intake{shards: make([]chan job, workers), seed: maphash.MakeSeed()}
	for i := range in.shards {
		in.shards[i] = make(chan job, depth)
	}
	return in
}

// backlogged says a worker's queue is at least three quarters full: the
// receive goroutine is about to wait, or waits, for room, so what arrives
// after, the scheduler's own probe too, is late for a reason of its own.
func (in *intake) backlogged() bool {
	for _, ch := range in.shards {
		if 4*len(ch) >= 3*cap(ch) {
			return true
		}
	}
	return false
}

// handler returns h behind the queue.
func (in *intake) handler(h session.Handler) session.Handler {
	return func(m session.Message) {
		in.shards[in.shard(m.Topic)] <- job{m: m, h: h}
	}
}

// shard picks a node's worker from its topic, tether/v1/<region>/nodes/<id>/….
func (in *intake) shard(topic string) int {
	if len(in.shards) == 1 {
		return 0
	}
	rest, ok := strings.CutPrefix(topic, protocol.Root+"/")
	if !ok {
		return 0
	}
	_, rest, _ = strings.Cut(rest, "/") // region
	rest, ok = strings.CutPrefix(rest, "nodes/")
	if !ok {
		return 0
	}
	node, _, _ := strings.Cut(rest, "/")
	return int(maphash.String(in.seed, node) % uint64(len(in.shards)))
}

// start runs the workers until stop: call it once the session is done, so
// what it acknowledged is handled before the workers return.
func (in *intake) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	for _, ch := range in.shards {
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			for {
				select {
				case j := <-ch:
					in.apply(j)
				case <-ctx.Done():
					for {
						select {
						case j := <-ch:
							in.apply(j)
						default:
							return
						}
					}
				}
			}
		}()
	}
	return func() { cancel(); in.wg.Wait() }
}

// apply hands j to its handler and, for a deferred message, acknowledges
// it once committed.
func (in *intake) apply(j job) {
	j.h(j.m)
	switch {
	case j.m.Ack == nil:
	case in.afterCommit != nil:
		in.afterCommit(j.m.Ack)
	default:
		j.m.Ack()
	}
}
