package mqtt

import (
	"sync"
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/packets"
)

// outQueue is a client's queue of packets waiting to be written (Tether: in
// place of a buffered channel of MaximumClientWritesPending slots and a
// goroutine ranging over it for the connection's whole life).
//
// The channel was allocated in full at connect, 8 bytes a slot, and its
// goroutine parked between writes with a stack of its own: ~12 KiB a
// connection at Tether's sizes, most of it for nodes that receive a command
// now and then. The queue holds nothing while it is empty, and a writer
// goroutine exists only while it is not: push starts one when the queue
// goes from empty to not, and it ends when it has written the last packet.
// At most one writer runs at a time, so packets are written in the order
// they were pushed.
type outQueue struct {
	mu      sync.Mutex
	pkts    []*packets.Packet // pkts[head:] are waiting
	head    int
	writing bool         // a writer goroutine owns the queue's head
	n       atomic.Int32 // len(pkts) - head, readable without mu
}

// push queues pk for cl unless max packets are already waiting (then it
// reports false and pk is not queued), and starts cl.writeQueued on a
// goroutine of its own if no writer runs. (cl, not a func: a method value
// passed here would be allocated for every packet routed.)
func (q *outQueue) push(pk *packets.Packet, max int32, cl *Client) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n.Load() >= max {
		return false
	}
	q.pkts = append(q.pkts, pk)
	q.n.Add(1)
	if !q.writing {
		q.writing = true
		go cl.writeQueued()
	}
	return true
}

// pop takes the next packet for the writer, or reports false, ending the
// writer's turn, when the queue is empty or stop is true (the client has
// stopped: what is left is not written, as before). An empty queue lets its
// slice go.
func (q *outQueue) pop(stop bool) (*packets.Packet, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.pkts) || stop {
		q.writing = false
		if q.head == len(q.pkts) {
			q.pkts, q.head = nil, 0
		}
		return nil, false
	}
	pk := q.pkts[q.head]
	q.pkts[q.head] = nil
	q.head++
	q.n.Add(-1)
	return pk, true
}

// len is the number of packets waiting (not counting one being written).
func (q *outQueue) len() int { return int(q.n.Load()) }
