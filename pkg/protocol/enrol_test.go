package protocol

import (
	"errors"
	"strings"
	"testing"
)

func TestEnrolBounds(t *testing.T) {
	pw := strings.Repeat("p", 32)
	good := EnrolRequest{V: 1, Node: "pi-1", Token: "t", Password: pw}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]EnrolRequest{
		"version":     {V: 2, Node: "pi-1", Token: "t", Password: pw},
		"node":        {V: 1, Node: "pi/1", Token: "t", Password: pw},
		"no token":    {V: 1, Node: "pi-1", Password: pw},
		"long token":  {V: 1, Node: "pi-1", Token: strings.Repeat("t", MaxEnrolToken+1), Password: pw},
		"short pw":    {V: 1, Node: "pi-1", Token: "t", Password: "short"},
		"long pw":     {V: 1, Node: "pi-1", Token: "t", Password: strings.Repeat("p", MaxEnrolPassword+1)},
		"space in pw": {V: 1, Node: "pi-1", Token: "t", Password: pw + " x"},
	} {
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, m)
		}
	}
	for name, m := range map[string]EnrolReply{
		"outcome":           {V: 1, Node: "pi-1", Outcome: "maybe"},
		"pending no reason": {V: 1, Node: "pi-1", Outcome: EnrolPending},
		"long reason":       {V: 1, Node: "pi-1", Outcome: EnrolRefused, Reason: strings.Repeat("r", 257)},
		"node":              {V: 1, Node: "", Outcome: EnrolEnrolled},
	} {
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, m)
		}
	}
	if _, err := DecodeEnrolRequest(make([]byte, MaxEnrolMessage+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized request: %v", err)
	}
	topics, _ := NewTopics("eu")
	if got := topics.EnrolRequest("pi-1"); got != "tether/v1/eu/enrol/pi-1/request" {
		t.Error(got)
	}
}
