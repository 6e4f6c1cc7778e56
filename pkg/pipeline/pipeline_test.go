package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/event"
)

func record(t event.Type) []byte {
	return event.Encode(event.RawEvent{Hdr: event.RawHeader{Type: uint32(t), PID: 1}})
}

// The pump must never block its input, even when nothing drains the queue,
// and must count what it drops by type.
func TestPumpNeverBlocksAndCountsDrops(t *testing.T) {
	var st Stats
	in := make(chan []byte)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := Pump(ctx, in, 10, &st)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			in <- record(event.TypeOpen)
		}
		for i := 0; i < 5; i++ {
			in <- record(event.TypeExec)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("pump blocked its input")
	}
	// Nothing drains the queue: exactly the 95 records beyond its capacity
	// must be dropped. Wait for the pump to finish them before draining.
	deadline := time.Now().Add(5 * time.Second)
	for st.QueueDrops[event.TypeOpen].Load()+st.QueueDrops[event.TypeExec].Load() < 95 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(in)
	kept := 0
	for range out {
		kept++
	}
	if kept != 10 {
		t.Errorf("kept %d, want 10", kept)
	}
	if got := st.QueueDrops[event.TypeOpen].Load(); got != 90 {
		t.Errorf("open drops %d, want 90", got)
	}
	if got := st.QueueDrops[event.TypeExec].Load(); got != 5 {
		t.Errorf("exec drops %d, want 5", got)
	}
	if st.Received[event.TypeOpen].Load() != 100 {
		t.Errorf("received %d", st.Received[event.TypeOpen].Load())
	}
}

type collect struct {
	mu     sync.Mutex
	events []*event.Event
}

func (c *collect) Write(e *event.Event) error {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
	return nil
}
func (c *collect) Flush() error { return nil }

type nopEnricher struct{}

func (nopEnricher) Apply(e *event.Event) { e.Process.Exe = "/enriched" }

func TestConsumeStagesInOrder(t *testing.T) {
	var st Stats
	ctx := context.Background()
	in := make(chan []byte, 10)
	in <- record(event.TypeExec)
	in <- []byte("garbage")
	in <- record(event.TypeUserfaultfd)
	close(in)
	c := &collect{}
	failing := &failSink{}
	errc := Consume(Pump(ctx, in, 10, &st), event.Clock{}, nopEnricher{}, Self{}, &st, failing, c)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	if len(errs) != 1 || failing.writes != 1 {
		t.Errorf("failing sink: %d errors, %d writes; want it dropped after its first error", len(errs), failing.writes)
	}
	if len(c.events) != 2 || c.events[0].Type != event.TypeExec || c.events[1].Type != event.TypeUserfaultfd {
		t.Fatalf("%+v", c.events)
	}
	if c.events[0].Process.Exe != "/enriched" || st.DecodeErrors.Load() != 1 || st.Emitted.Load() != 2 {
		t.Errorf("exe %q, decode errors %d, emitted %d", c.events[0].Process.Exe, st.DecodeErrors.Load(), st.Emitted.Load())
	}
}

type failSink struct{ writes int }

func (f *failSink) Write(*event.Event) error { f.writes++; return errors.New("disk full") }
func (f *failSink) Flush() error             { return nil }
