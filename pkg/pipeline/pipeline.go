package pipeline

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/pkg/event"
)

// typeOffset is the offset of event_hdr.type in a record (from the
// contract, not a literal).
const typeOffset = event.TypeOffset

// Stats are the pipeline's counters, per event type where that applies.
type Stats struct {
	Received     [event.TypeMax]atomic.Uint64
	QueueDrops   [event.TypeMax]atomic.Uint64
	DecodeErrors atomic.Uint64
	// SelfDrops counts the agent's own events the kernel could not tell apart.
	SelfDrops atomic.Uint64
	Emitted   atomic.Uint64
	// SinkErrors counts failed event writes (the sink is kept).
	SinkErrors atomic.Uint64
	// ShutdownDiscarded counts queued records left unevaluated because
	// shutdown ran out of time.
	ShutdownDiscarded atomic.Uint64
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

// lifecycle types keep the process tree whole: the queue holds room for
// them after bulk events no longer fit.
func lifecycle(t event.Type) bool {
	return t == event.TypeExec || t == event.TypeExit || t == event.TypeFork
}

// Queue is the bounded queue between the ring-buffer reader and Consume.
// The reader pushes into it itself: Push never blocks (when the queue is
// full the record is dropped and counted against its type), so the reader
// is never slowed by the consumer, and a record costs no hand-off to a
// goroutine in between (a pump goroutine woke for every record, which was
// most of the agent's CPU on a build's trickle of events). The last eighth
// of the queue is kept for exec, exit and fork, so a flood of file or
// network events sheds those first.
type Queue struct {
	ch        chan []byte
	st        *Stats
	bulkLimit int
}

// NewQueue makes a queue of size records whose counters are st's.
func NewQueue(size int, st *Stats) *Queue {
	q := &Queue{ch: make(chan []byte, size), st: st, bulkLimit: size - size/8}
	st.queue.Store(&q.ch)
	return q
}

// Push queues a record or drops it, counting either. One goroutine pushes.
func (q *Queue) Push(rec []byte) {
	t := recordType(rec)
	q.st.Received[t].Add(1)
	if len(q.ch) >= q.bulkLimit && !lifecycle(t) {
		q.st.QueueDrops[t].Add(1)
		return
	}
	select {
	case q.ch <- rec:
	default:
		q.st.QueueDrops[t].Add(1)
	}
}

// Close ends the queue once the pusher is done: Consume drains what is
// queued, then returns.
func (q *Queue) Close() { close(q.ch) }

// Records is what Consume reads.
func (q *Queue) Records() <-chan []byte { return q.ch }

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
// are dropped and counted. A sink's error is counted and sent on the
// returned channel (when there is room: the receiver logs it); the sink is
// kept, so one failed write never stops an output. The channel closes when
// in closes, or when stop closes: then the records still queued are
// counted as ShutdownDiscarded, not evaluated (a bounded shutdown).
func Consume(in <-chan []byte, stop <-chan struct{}, clk event.Clock, en Enricher, self Self, st *Stats, sinks ...Sink) <-chan error {
	errc := make(chan error, 16)
	go func() {
		defer close(errc)
		live := append([]Sink(nil), sinks...)
		stopped := func() bool {
			select {
			case <-stop:
				for {
					select {
					case _, ok := <-in:
						if !ok {
							return true
						}
						st.ShutdownDiscarded.Add(1)
					default:
						return true
					}
				}
			default:
				return false
			}
		}
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
			for _, s := range live {
				if err := s.Write(e); err != nil {
					st.SinkErrors.Add(1)
					select {
					case errc <- err:
					default:
					}
				}
			}
			st.Emitted.Add(1)
		}
		for rec := range in {
			if stopped() {
				st.ShutdownDiscarded.Add(1)
				return
			}
			handle(rec)
		drain:
			for n := 1; ; n++ {
				if n%64 == 0 && stopped() {
					return
				}
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
