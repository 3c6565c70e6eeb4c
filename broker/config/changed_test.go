package config

import (
	"slices"
	"testing"
	"time"
)

func TestChanged(t *testing.T) {
	a := Default()
	if got := Changed(a, Default()); len(got) != 0 {
		t.Fatalf("the defaults against themselves: %v", got)
	}
	b := Default()
	b.LogLevel = "debug"
	b.Tasks.ProgressTimeout = time.Minute
	b.Embedded.OperatorUsers = []string{"operator", "alice"}
	b.HTTP.Listen = "127.0.0.1:9883"
	a.Placement.Policy, b.Placement.Policy = "p2c", "p2c"
	a.MQTTURL, b.MQTTURL = nil, []string{}
	want := []string{"embedded.operator_users", "tasks.progress_timeout", "http.listen", "log_level"}
	if got := Changed(a, b); !slices.Equal(got, want) {
		t.Fatalf("Changed = %v, want %v", got, want)
	}
}
