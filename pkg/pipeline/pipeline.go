package pipeline

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/pkg/event"
)

// typeOffset is the offset of event_hdr.type in a record.
const typeOffset = 24

// Stats are the pipeline's counters, per event type where that applies.
type Stats struct {
	Received     [event.TypeMax]atomic.Uint64
	QueueDrops   [event.TypeMax]atomic.Uint64
	DecodeErrors atomic.Uint64
	// SelfDrops counts the agent's own events the kernel could not tell apart.
	SelfDrops atomic.Uint64
	Emitted   atomic.Uint64
	// ConsumedAt is the unix ns of the consumer's last batch.
	ConsumedAt atomic.Int64
	queue      atomic.Pointer[chan []byte]
}

// QueueDepth is the number of records waiting, and the queue's capacity.
func (s *Stats) QueueDepth() (int, int) {
	q := s.queue.Load()
	if q == nil {
		return 0, 0
	}
	return len(*q), cap(*q)
}

func recordType(b []byte) event.Type {
	if len(b) < typeOffset+4 {
		return event.TypeNone
	}
	t := event.Type(binary.LittleEndian.Uint32(b[typeOffset:]))
	if t >= event.TypeMax {
		return event.TypeNone
	}
	return t
}

// Pump moves records from the ring-buffer reader into a bounded queue. It
// never blocks the reader: when the queue is full the record is dropped and
// counted against its type.
func Pump(ctx context.Context, in <-chan []byte, size int, st *Stats) <-chan []byte {
	out := make(chan []byte, size)
	st.queue.Store(&out)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case rec, ok := <-in:
				if !ok {
					return
				}
				t := recordType(rec)
				st.Received[t].Add(1)
				select {
				case out <- rec:
				default:
					st.QueueDrops[t].Add(1)
				}
			}
		}
	}()
	return out
}

// Self identifies the agent's own process as events report it: its pid in
// its own PID namespace and that namespace's inode. The kernel drops the
// agent's activity by global pid, which differs from os.Getpid() when the
// agent runs in a PID namespace (a container, an nspawn guest); Consume
// drops what the kernel let through. The zero Self drops nothing.
type Self struct {
	PidNS uint32
	NsPID uint32
}

func (s Self) matches(e *event.Event) bool {
	return s.PidNS != 0 && e.PidNS == s.PidNS && e.Process.NsPID == s.NsPID
}

// Enricher adds context to an event in place (the process tree does).
type Enricher interface {
	Apply(e *event.Event)
}

// Sink receives the pipeline's events.
type Sink interface {
	Write(e *event.Event) error
	// Flush is called when the queue is momentarily empty.
	Flush() error
}

// Consume runs the stages after the queue (decode, enrich, the sinks) in one
// goroutine, taking every record waiting in the queue as a batch: a busy host
// pays one goroutine wake-up per batch instead of one per stage per event.
// Records that fail to decode are counted; the agent's own events (self)
// are dropped and counted. A sink's error is sent on the
// returned channel once and that sink is dropped. The channel closes when in
// closes.
func Consume(in <-chan []byte, clk event.Clock, en Enricher, self Self, st *Stats, sinks ...Sink) <-chan error {
	errc := make(chan error, len(sinks))
	go func() {
		defer close(errc)
		live := append([]Sink(nil), sinks...)
		handle := func(rec []byte) {
			e, err := event.Decode(rec, clk)
			if err != nil {
				st.DecodeErrors.Add(1)
				return
			}
			if self.matches(e) {
				st.SelfDrops.Add(1)
				return
			}
			en.Apply(e)
			for i := 0; i < len(live); i++ {
				if err := live[i].Write(e); err != nil {
					errc <- err
					live = append(live[:i], live[i+1:]...)
					i--
				}
			}
			st.Emitted.Add(1)
		}
		for rec := range in {
			handle(rec)
		drain:
			for {
				select {
				case rec, ok := <-in:
					if !ok {
						break drain
					}
					handle(rec)
				default:
					break drain
				}
			}
			for _, s := range live {
				_ = s.Flush()
			}
			st.ConsumedAt.Store(time.Now().UnixNano())
		}
	}()
	return errc
}
