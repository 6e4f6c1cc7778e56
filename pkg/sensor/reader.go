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

// DefaultDrainInterval bounds how long a record waits in the ring buffer
// while events flow: the kernel wakes the reader only once WakeupBytes are
// pending, and the reader drains the ring at least this often. Each wait
// longer than 10 ms costs the Go runtime's sysmon about 60 wake-ups (a
// thread blocked in epoll_wait makes it retake the thread's P and poll
// again from 20 µs), and each drain wakes the consumer: on a build's
// trickle of events the agent's CPU was 19 ticks per three builds at 20 ms,
// 33 at 8 ms, 10.5 at 50 ms and 8 at 100 ms. Once the ring has stayed
// empty, each empty wait doubles the next up to four times the interval,
// and any record brings it back: at a constant 20 ms the idle agent spent
// 8 ms of CPU a second, 1.5 with this (docs/performance.md). The agent's
// event_delay setting changes it.
const DefaultDrainInterval = 50 * time.Millisecond

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
	alive  atomic.Int64 // unix ns of the last loop iteration (at least every 2 s)
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
func (r *ringReader) run(push func([]byte), done func(), drain, idle time.Duration, log *zap.Logger) {
	defer close(r.done)
	defer done()
	wait := drain
	for {
		r.alive.Store(time.Now().UnixNano())
		r.rd.SetDeadline(time.Now().Add(wait))
		rec, err := r.rd.Read()
		switch {
		case err == nil:
			push(rec.RawSample)
			wait = drain
		case errors.Is(err, os.ErrDeadlineExceeded): // nothing came
			wait = min(2*wait, idle)
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
