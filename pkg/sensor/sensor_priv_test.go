package sensor

import (
	"os/exec"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/vigil-sec/vigil/internal/testenv"
	"github.com/vigil-sec/vigil/pkg/event"
)

func TestLoadAttachAll(t *testing.T) {
	testenv.RequireObject(t, Object())
	s, err := New(Config{Types: event.AllTypes(), DropFailed: true}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	defer s.Close()
	attached := 0
	for _, p := range s.Programs() {
		if p.Attached {
			attached++
			continue
		}
		if !optionalHooks[hookOf(p.Name)] {
			t.Errorf("program %s (%s) not attached: %s", p.Name, p.Section, p.Error)
		}
	}
	if attached < 50 {
		t.Errorf("only %d programs attached", attached)
	}
}

func TestOnlyConfiguredTypesLoaded(t *testing.T) {
	testenv.RequireObject(t, Object())
	s, err := New(Config{Types: []event.Type{event.TypeConnect}}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := map[string]bool{}
	for _, p := range s.Programs() {
		if p.Type != event.TypeConnect && p.Type != event.TypeExec {
			t.Errorf("program %s for %s loaded, but only connect was configured", p.Name, p.Type)
		}
		got[p.Name] = p.Attached
	}
	for _, want := range []string{"sched_exec", "exit_connect"} {
		if !got[want] {
			t.Errorf("%s not attached", want)
		}
	}
}

// With no consumer, a one-page ring buffer fills up: the kernel must count
// every failed reserve against the event's type.
func TestRingBufferDropsCounted(t *testing.T) {
	testenv.RequireObject(t, Object())
	s, err := New(Config{Types: []event.Type{event.TypeExec}, RingBufferBytes: 4096}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 50; i++ {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Drops[event.TypeExec] == 0 {
		t.Fatalf("no exec drops counted after 50 execs into a 4 KiB ring nobody reads")
	}
	if c.Drops[event.TypeOpen] != 0 {
		t.Errorf("drops counted for a type that is not loaded: %d", c.Drops[event.TypeOpen])
	}
}

// The fallback that finds refused programs one by one: on this kernel it
// must refuse none of the configured ones.
func TestProbeProgramsOneByOne(t *testing.T) {
	testenv.RequireObject(t, Object())
	s, err := New(Config{Types: []event.Type{event.TypeExec, event.TypeMount}}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	refused := map[string]string{}
	if err := s.probePrograms(map[event.Type]bool{event.TypeExec: true, event.TypeMount: true}, refused); err != nil {
		t.Fatal(err)
	}
	if len(refused) != 0 {
		t.Errorf("programs refused: %v", refused)
	}
}

// Status snapshots (heartbeats) may be taken while the agent shuts down:
// reading the ring's fill level after Close must not crash.
func TestRingBufferUsedAfterClose(t *testing.T) {
	testenv.RequireObject(t, Object())
	s, err := New(Config{Types: []event.Type{event.TypeExec}}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := s.Start(func([]byte) {}, func() {}); err != nil {
		t.Fatal(err)
	}
	_ = s.RingBufferUsed()
	s.Close()
	if got := s.RingBufferUsed(); got != 0 {
		t.Errorf("after close: %d bytes pending", got)
	}
}
