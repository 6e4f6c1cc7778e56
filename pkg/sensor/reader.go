package sensor

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// DrainInterval bounds how long a record waits in the ring buffer while
// events flow: the kernel wakes the reader only once WakeupBytes are
// pending, and the reader drains the ring at least this often.
const DrainInterval = 20 * time.Millisecond

// IdleDrainInterval is how long the reader waits at most once the ring has
// been empty for a while: each empty wait doubles the next, from
// DrainInterval up to this, and any record brings it back. A thread
// blocked in epoll_wait for more than 10 ms makes the Go runtime's sysmon
// retake its P and start polling again at 20 µs, about 60 wake-ups each
// time: at 50 waits a second that was 80% of the idle agent's CPU (8 ms a
// second, 1.5 at this bound; docs/performance.md). The first record after
// a quiet spell waits at most this long.
const IdleDrainInterval = 200 * time.Millisecond

// ringReader reads the ring buffer that libbpfgo loaded. cilium/ebpf's
// reader is used because it consumes records the kernel submitted without a
// wake-up (BPF_RB_NO_WAKEUP) once a deadline passes, which libbpf's
// ring_buffer__poll does not: per-record wake-ups were the agent's largest
// cost under event storms (docs/performance.md).
type ringReader struct {
	mu     sync.RWMutex
	closed bool
	rd     *ringbuf.Reader
	m      *ebpf.Map
	done   chan struct{}
	alive  atomic.Int64 // unix ns of the last loop iteration (at least every DrainInterval)
}

func newRingReader(fd int) (*ringReader, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup ring buffer fd: %w", err)
	}
	m, err := ebpf.NewMapFromFD(dup)
	if err != nil {
		unix.Close(dup)
		return nil, fmt.Errorf("ring buffer map: %w", err)
	}
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		_ = m.Close()
		return nil, fmt.Errorf("ring buffer reader: %w", err)
	}
	return &ringReader{rd: rd, m: m, done: make(chan struct{})}, nil
}

// run passes every record to push until the reader is closed, then calls
// done.
func (r *ringReader) run(push func([]byte), done func(), log *zap.Logger) {
	defer close(r.done)
	defer done()
	wait := DrainInterval
	for {
		r.alive.Store(time.Now().UnixNano())
		r.rd.SetDeadline(time.Now().Add(wait))
		rec, err := r.rd.Read()
		switch {
		case err == nil:
			push(rec.RawSample)
			wait = DrainInterval
		case errors.Is(err, os.ErrDeadlineExceeded): // nothing came
			wait = min(2*wait, IdleDrainInterval)
		case errors.Is(err, ringbuf.ErrClosed):
			return
		default:
			log.Error("ring buffer read failed", zap.Error(err))
			return
		}
	}
}

// pending is 0 once the reader is closed: status snapshots (heartbeats)
// may still be taken while the agent shuts down, and cilium/ebpf's reader
// has unmapped the ring by then.
func (r *ringReader) pending() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return 0
	}
	return uint64(r.rd.AvailableBytes())
}

func (r *ringReader) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	_ = r.rd.Close() // wakes the reader; the map goes after it stopped
	<-r.done
	_ = r.m.Close()
}
