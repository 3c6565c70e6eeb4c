package taskengine_test

import (
	"testing"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/broker/taskengine/backendtest"
)

func TestBadgerBackend(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, taskengine.OpenBadgerBackend)
}
