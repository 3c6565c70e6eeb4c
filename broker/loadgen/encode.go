package loadgen

import (
	"context"
	"encoding/json"
)

// encoder marshals messages for every node on a few goroutines of its
// own. encoding/json's reflection runs deep: on the nodes' own goroutines
// it would grow each of ten thousand stacks to 16–32 KiB for good, the
// biggest part of the generator's memory. Here the deep stacks are only
// the workers'.
type encoder struct {
	req chan encodeReq
}

type encodeReq struct {
	v   any
	out chan []byte
}

func newEncoder(ctx context.Context, workers int) *encoder {
	e := &encoder{req: make(chan encodeReq)}
	for range workers {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case r := <-e.req:
					b, _ := json.Marshal(r.v) // plain structs always encode
					r.out <- b
				}
			}
		}()
	}
	return e
}

// marshal encodes v on a worker; out is the caller's own 1-buffered
// channel, reused across calls.
func (e *encoder) marshal(v any, out chan []byte) []byte {
	e.req <- encodeReq{v: v, out: out}
	return <-out
}
