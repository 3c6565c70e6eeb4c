package serve

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/mqttd/mqttdtest"
	"github.com/tether-edge/tether/pkg/logging"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestCommandsAreNotHeldByAFullSession: pi-bad never acknowledges a
// command and its persistent session is full, so the broker refuses the
// scheduler's rebirth request to it without a PUBACK, and that publish
// waits out commandTimeout. A request to pi-good made just after is sent
// at once, not after it (before, commandLoop sent one command at a time).
func TestCommandsAreNotHeldByAFullSession(t *testing.T) {
	t.Parallel()
	const room = 16
	srv, url := mqttdtest.Start(t, mqttd.Options{Region: "default", AllowAnonymous: true,
		SchedulerUsers: []string{"sched"}, MaxInflight: room, Logger: testenv.Logger(t, slog.LevelError)})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	topics, _ := protocol.NewTopics("default")
	open := func(user string) *session.Session {
		t.Helper()
		s, err := session.New(session.Options{Brokers: []string{url}, ClientID: user, Username: user, CleanSession: true})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Run(ctx) }()
		if err := s.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}

	mqttdtest.Silent(t, ctx, url, "pi-bad", topics.NodeCommands("pi-bad"), nil)
	good := open("pi-good")
	got := make(chan time.Time, 1)
	if err := good.Subscribe(ctx, topics.NodeCommands("pi-good"), 1, func(session.Message) { got <- time.Now() }); err != nil {
		t.Fatal(err)
	}
	sched := open("sched")
	for range room { // fill pi-bad's session
		if err := sched.Publish(ctx, session.Message{Topic: topics.NodeCommand("pi-bad", protocol.CmdRebirth), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}

	s := &scheduler{sess: sched, topics: topics, log: testenv.Logger(t, slog.LevelError),
		actions: make(chan nodeAction, 8)}
	s.unsent = logging.NewEvery(s.log, time.Second)
	wg.Add(1)
	go func() { defer wg.Done(); s.commandLoop(ctx) }()
	s.actions <- nodeAction{"pi-bad", fleet.AskRebirth}
	testenv.Eventually(t, 5*time.Second, "the broker to refuse the request to pi-bad's full session", func() bool { return srv.Stats().Refused >= 1 })
	asked := time.Now()
	s.actions <- nodeAction{"pi-good", fleet.AskRebirth}
	select {
	case at := <-got:
		if d := at.Sub(asked); d > time.Second {
			t.Fatalf("pi-good's rebirth request took %v, held behind pi-bad's refused one", d)
		}
	case <-time.After(commandTimeout - 500*time.Millisecond):
		t.Fatal("pi-good's rebirth request was held behind pi-bad's refused one")
	}
}
