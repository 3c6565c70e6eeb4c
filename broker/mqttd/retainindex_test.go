package mqttd

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// specMatch is MQTT's topic matching, level by level [MQTT-4.7]: + one
// level, # the rest including the parent level, $-topics hidden from
// first-level wildcards.
func specMatch(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range f {
		switch {
		case l == "#":
			return true
		case i == len(tp):
			return false
		case l != "+" && l != tp[i]:
			return false
		}
	}
	return len(f) == len(tp)
}

// TestRetainIndexMatches: for random retained topics set and cleared, and
// random filters, the index finds exactly the topics MQTT's matching rule
// finds (+ and # at every level, # matching its parent level, $-topics
// hidden from first-level wildcards, empty levels) — and, for filters
// without # or a first-level +, exactly what mochi's own single-goroutine
// lookup finds (mochi leaves out the parent level a # matches — "+/#" does
// not give it "b" — and hides only $SYS from a first-level wildcard).
func TestRetainIndexMatches(t *testing.T) {
	levels := []string{"a", "b", "c", "", "$SYS", "$x"}
	word := func(r *rand.Rand, n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = levels[r.IntN(len(levels))]
		}
		return strings.Join(parts, "/")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		x := &retainIndex{}
		ti := mqtt.NewTopicsIndex()
		held := map[string]bool{}
		for range 40 {
			topic := word(r, 1+r.IntN(4))
			if topic == "" || strings.Contains(topic[1:], "$") {
				continue // no empty topic; a $ past the first character is ordinary, kept out to keep the cases clear
			}
			payload := []byte("x")
			if r.IntN(4) == 0 {
				payload = nil // clears
			}
			ti.RetainMessage(packets.Packet{TopicName: topic, Payload: payload, FixedHeader: packets.FixedHeader{Retain: true}})
			x.set(topic, len(payload) > 0)
			held[topic] = len(payload) > 0
		}
		for range 30 {
			parts := strings.Split(word(r, 1+r.IntN(4)), "/")
			for i := range parts {
				switch r.IntN(4) {
				case 0:
					parts[i] = "+"
				case 1:
					if i == len(parts)-1 {
						parts[i] = "#"
					}
				}
			}
			filter := strings.Join(parts, "/")
			var want []string
			for topic, ok := range held {
				if ok && specMatch(filter, topic) {
					want = append(want, topic)
				}
			}
			got := x.topics(filter)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, filter %q: index %q, want %q", round, filter, got, want)
			}
			if strings.Contains(filter, "#") || strings.HasPrefix(filter, "+") {
				continue // where mochi departs from MQTT: #'s parent level, $-topics under a first-level +
			}
			var fromMochi []string
			for _, pk := range ti.Messages(filter) {
				fromMochi = append(fromMochi, pk.TopicName)
			}
			slices.Sort(fromMochi)
			if fromMochi = slices.Compact(fromMochi); !slices.Equal(got, fromMochi) {
				t.Fatalf("round %d, filter %q: index %q, mochi %q", round, filter, got, fromMochi)
			}
		}
	}
}

// TestRetainIndexForgetsClearedTopics: clearing a topic removes its levels
// that lead nowhere else, so a topic cleared for good costs nothing.
func TestRetainIndexForgetsClearedTopics(t *testing.T) {
	x := &retainIndex{}
	x.set("t/v1/r/tasks/status/a", true)
	x.set("t/v1/r/tasks/status/b", true)
	x.set("t/v1/r/tasks/status/a", false)
	if got := x.topics("t/#"); !slices.Equal(got, []string{"t/v1/r/tasks/status/b"}) {
		t.Fatalf("after clearing a: %q", got)
	}
	x.set("t/v1/r/tasks/status/b", false)
	if len(x.root.kids) != 0 {
		t.Fatalf("levels left after every topic was cleared: %v", x.root.kids)
	}
}

// TestRetainIndexHidesDollarTopics: a topic starting with $ is matched by
// no wildcard at the first level, only by a filter that names it
// [MQTT-4.7.2-1].
func TestRetainIndexHidesDollarTopics(t *testing.T) {
	x := &retainIndex{}
	for _, topic := range []string{"$internal/a", "$SYS/b", "tether/c"} {
		x.set(topic, true)
	}
	for filter, want := range map[string][]string{
		"#": {"tether/c"}, "+/a": nil, "+/+": {"tether/c"},
		"$internal/#": {"$internal/a"}, "$SYS/+": {"$SYS/b"},
	} {
		got := x.topics(filter)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%q: %q, want %q", filter, got, want)
		}
	}
}

// TestRetainedReplayBesideRetainedPublishes: new subscribers' retained
// replays run while other clients publish and clear retained messages.
// Replaying through mochi's Topics.Messages was a data race with its
// RetainMessage (the race detector failed TestBurstAdmission with it);
// under -race this test fails the same way if a replay reads mochi's tree.
// Each subscriber still gets every topic retained before it subscribed
// that nobody cleared.
func TestRetainedReplayBesideRetainedPublishes(t *testing.T) {
	s := startServer(t, testOptions(t))
	addr := s.Addr().String()
	sched := mustDial(t, addr, "scheduler")
	const stable = 200
	for i := range stable {
		topic := fmt.Sprintf("tether/v1/%s/nodes/n-%04d/status", testRegion, i)
		if tok := sched.pc.Publish(topic, 1, true, `{"stable":true}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("retained publish: %v", tok.Error())
		}
	}
	sched.barrier()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // churn: retained statuses set and cleared
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			topic := fmt.Sprintf("tether/v1/%s/tasks/status/churn-%d", testRegion, i%50)
			payload := `{"churn":true}`
			if i%3 == 0 {
				payload = ""
			}
			if tok := sched.pc.Publish(topic, 1, true, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Errorf("churn publish: %v", tok.Error())
				return
			}
		}
	})
	for round := range 10 {
		mon := mustDial(t, addr, "monitor")
		got := map[string]bool{}
		if code := mon.subscribe(fmt.Sprintf("tether/v1/%s/#", testRegion), 1); code != 1 {
			t.Fatalf("subscription granted %#x", code)
		}
		deadline := time.After(30 * time.Second)
		for n := 0; n < stable; {
			select {
			case m := <-mon.msgs:
				if m.Retained() && strings.Contains(m.Topic(), "/nodes/") && !got[m.Topic()] {
					got[m.Topic()] = true
					n++
				}
			case <-deadline:
				t.Fatalf("round %d: the replay gave %d of %d stable retained topics", round, n, stable)
			}
		}
		mon.pc.Disconnect(0)
	}
	close(stop)
	wg.Wait()
}
