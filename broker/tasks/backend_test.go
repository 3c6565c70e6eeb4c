package tasks_test

import (
	"testing"

	"github.com/tether-edge/tether/broker/tasks"
	"github.com/tether-edge/tether/broker/tasks/backendtest"
)

func TestBadgerBackend(t *testing.T) {
	backendtest.Run(t, tasks.OpenBadgerBackend)
}
