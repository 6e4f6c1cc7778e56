package pipeline

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/event"
)

func record(t event.Type) []byte {
	return event.Encode(event.RawEvent{Hdr: event.RawHeader{Type: uint32(t), PID: 1}})
}

// Push must never block, even when nothing drains the queue, and must
// count what it drops by type; a flood of bulk events leaves room for
// exec, exit and fork (they used to be dropped like the rest).
func TestQueuePushNeverBlocksAndCountsDrops(t *testing.T) {
	var st Stats
	q := NewQueue(16, &st)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			q.Push(record(event.TypeOpen))
		}
		for i := 0; i < 2; i++ {
			q.Push(record(event.TypeExec))
		}
		q.Push(record(event.TypeFork))
		q.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Push blocked")
	}
	// Nothing drained the queue: opens fill 14 of its 16 places, the rest
	// of them are dropped; the two execs take the room kept for lifecycle
	// events and the fork finds the queue full.
	if d, c := st.QueueDepth(); d != 16 || c != 16 {
		t.Errorf("queue depth %d of %d", d, c)
	}
	kept := map[event.Type]int{}
	for rec := range q.Records() {
		kept[recordType(rec)]++
	}
	if kept[event.TypeOpen] != 14 || kept[event.TypeExec] != 2 {
		t.Errorf("kept %v, want 14 opens and 2 execs", kept)
	}
	if got := st.QueueDrops[event.TypeOpen].Load(); got != 86 {
		t.Errorf("open drops %d, want 86", got)
	}
	if got := st.QueueDrops[event.TypeFork].Load(); got != 1 || st.QueueDrops[event.TypeExec].Load() != 0 {
		t.Errorf("fork drops %d, exec drops %d", got, st.QueueDrops[event.TypeExec].Load())
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
	q := NewQueue(10, &st)
	q.Push(record(event.TypeExec))
	q.Push([]byte("garbage"))
	q.Push(record(event.TypeUserfaultfd))
	q.Close()
	c := &collect{}
	failing := &failSink{}
	errc := Consume(q.Records(), nil, event.Clock{}, nopEnricher{}, Self{}, &st, failing, c)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	// A failed write is counted and reported, and the sink is kept (it used
	// to be dropped for good after one error).
	if len(errs) != 2 || failing.writes != 2 || st.SinkErrors.Load() != 2 {
		t.Errorf("failing sink: %d errors, %d writes, %d counted", len(errs), failing.writes, st.SinkErrors.Load())
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

type slowSink struct{ n int }

func (s *slowSink) Write(*event.Event) error { s.n++; time.Sleep(20 * time.Millisecond); return nil }
func (s *slowSink) Flush() error             { return nil }

// Shutdown is bounded: once stop closes, what is still queued is counted,
// not evaluated (draining 1,000 records at 20 ms each took 20 s).
func TestConsumeStopsWhenTold(t *testing.T) {
	var st Stats
	in := make(chan []byte, 1000)
	for i := 0; i < 1000; i++ {
		in <- record(event.TypeOpen)
	}
	close(in)
	stop := make(chan struct{})
	slow := &slowSink{}
	errc := Consume(in, stop, event.Clock{}, nopEnricher{}, Self{}, &st, slow)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	done := make(chan struct{})
	go func() {
		for range errc {
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("consumer did not stop")
	}
	if got := uint64(slow.n) + st.ShutdownDiscarded.Load(); got != 1000 || slow.n == 1000 {
		t.Errorf("evaluated %d, discarded %d", slow.n, st.ShutdownDiscarded.Load())
	}
}
