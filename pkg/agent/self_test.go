package agent

import (
	"os"
	"testing"

	"github.com/vigil-sec/vigil/pkg/event"
)

type nop struct{}

func (nop) Apply(*event.Event) {}

func TestSelfFilterMatchesOwnNamespaceAndPid(t *testing.T) {
	f := newSelfFilter(nop{})
	if f.pidns == 0 {
		t.Fatal("own pid namespace inode not found")
	}
	own := &event.Event{PidNS: f.pidns, Process: event.Process{PID: 99999, NsPID: uint32(os.Getpid())}}
	if !f.Drop(own) {
		t.Error("the agent's own event (global pid differs, namespace pid matches) was kept")
	}
	other := &event.Event{PidNS: f.pidns + 1, Process: event.Process{PID: 99999, NsPID: uint32(os.Getpid())}}
	if f.Drop(other) {
		t.Error("the same pid in another namespace was dropped")
	}
	sibling := &event.Event{PidNS: f.pidns, Process: event.Process{PID: 99999, NsPID: uint32(os.Getpid()) + 1}}
	if f.Drop(sibling) {
		t.Error("another process in the agent's namespace was dropped")
	}
}
