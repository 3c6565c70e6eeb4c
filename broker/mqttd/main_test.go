package mqttd

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test stops what it starts: the brokers (Run returns only after its
// connection goroutines have), paho clients (Disconnect) and Mosquitto
// processes. mochi's event loop and per-client write loops end just after
// Run returns, which goleak's retries absorb.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
