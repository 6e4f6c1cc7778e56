package pipeline

import (
	"testing"

	"github.com/vigil-sec/vigil/pkg/event"
)

func TestSelfMatchesOwnNamespaceAndPid(t *testing.T) {
	s := Self{PidNS: 4026532186, NsPID: 350}
	own := &event.Event{PidNS: s.PidNS, Process: event.Process{PID: 99999, NsPID: s.NsPID}}
	if !s.matches(own) {
		t.Error("the agent's own event (global pid differs, namespace pid matches) was kept")
	}
	if other := (&event.Event{PidNS: s.PidNS + 1, Process: event.Process{NsPID: s.NsPID}}); s.matches(other) {
		t.Error("the same pid in another namespace was dropped")
	}
	if sibling := (&event.Event{PidNS: s.PidNS, Process: event.Process{NsPID: s.NsPID + 1}}); s.matches(sibling) {
		t.Error("another process in the agent's namespace was dropped")
	}
	if (Self{}).matches(&event.Event{}) {
		t.Error("the zero Self dropped an event")
	}
}
