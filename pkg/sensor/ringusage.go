package sensor

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ringPositions maps the ring buffer's consumer and producer position pages
// read-only, to report how full the buffer is without touching the reader.
type ringPositions struct {
	cons, prod []byte
}

func mapRingPositions(fd int) (*ringPositions, error) {
	page := unix.Getpagesize()
	cons, err := unix.Mmap(fd, 0, page, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap ring buffer consumer page: %w", err)
	}
	prod, err := unix.Mmap(fd, int64(page), page, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		unix.Munmap(cons)
		return nil, fmt.Errorf("mmap ring buffer producer page: %w", err)
	}
	return &ringPositions{cons: cons, prod: prod}, nil
}

func (r *ringPositions) pending() uint64 {
	c := atomic.LoadUint64((*uint64)(unsafe.Pointer(&r.cons[0])))
	p := atomic.LoadUint64((*uint64)(unsafe.Pointer(&r.prod[0])))
	if p < c {
		return 0
	}
	return p - c
}

func (r *ringPositions) close() {
	unix.Munmap(r.cons)
	unix.Munmap(r.prod)
}
