package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
)

// Record kinds on disk.
const (
	kindData byte = 'R'
	kindAck  byte = 'A'
	kindDrop byte = 'D'
	hdrLen        = 9 // kind, length, crc
)

// Severities, lowest first (0 is telemetry).
const NumSeverities = alert.SpoolPriorities

// Record is one spooled message.
type Record struct {
	Seq      uint64
	Severity uint8
	ID       string // the message id (Nats-Msg-Id)
	Subject  string
	Data     []byte
}

// Options configure a spool.
type Options struct {
	// MaxBytes bounds the live data; past it the lowest severity is dropped.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment starts.
	SegmentBytes int64
	// SyncAlways fsyncs before Append returns; otherwise the spool is
	// fsynced every SyncInterval.
	SyncAlways   bool
	SyncInterval time.Duration

	// quota, when set (tests), makes writes past that many bytes of spool
	// files fail with ENOSPC, as a full filesystem does.
	quota int64
}

type entry struct {
	seg      *segment
	off      int64
	size     int64
	severity uint8
}

type segment struct {
	first     uint64
	path      string
	size      int64
	live      int   // data records neither acked nor dropped
	liveBytes int64 // their bytes: size - liveBytes is reclaimable
}

// Stats report the spool's state (alert.SpoolStats, in heartbeats).
type Stats = alert.SpoolStats

// Spool is safe for concurrent use.
type Spool struct {
	dir  string
	opts Options

	mu        sync.Mutex
	segs      []*segment
	cur       *os.File
	index     map[uint64]*entry
	order     []uint64 // live seqs, ascending (compacted lazily)
	next      uint64
	liveBytes int64
	dropped   [NumSeverities]uint64
	corrupt   uint64
	appended  map[uint64]time.Time
	dirty     bool
	closed    bool
	full      bool
	fullHits  uint64
	writeErrs uint64
	reserve   int64 // bytes of the reserve file
	tmpBytes  int64 // bytes of a rewrite in progress (quota accounting)
	stop      chan struct{}
	done      chan struct{}
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("spool closed")

// ErrFull is returned when a record cannot be stored because the filesystem
// is full and only records of higher severity are left to shed. The record
// is counted as dropped at its severity.
var ErrFull = errors.New("spool filesystem full")

// reserveName holds back space so a full filesystem can still be compacted.
const reserveName = "reserve"

// isFull tells whether a write failed for lack of space.
func isFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

// Open opens (or creates) the spool in dir and replays what it holds.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 4 << 20
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 20
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = 100 * time.Millisecond
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	// On a small filesystem, small segments: compacting one must fit in
	// the reserve.
	if total, _, err := fsSpace(dir); err == nil && total > 0 {
		if seg := int64(total / 32); seg < opts.SegmentBytes {
			opts.SegmentBytes = max(seg, 16<<10)
		}
	}
	if opts.quota > 0 && opts.quota/32 < opts.SegmentBytes {
		opts.SegmentBytes = max(opts.quota/32, 4<<10)
	}
	s := &Spool{dir: dir, opts: opts, index: map[uint64]*entry{}, appended: map[uint64]time.Time{},
		next: 1, stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.load(); err != nil {
		return nil, err
	}
	if err := s.startSegment(false); err != nil {
		return nil, err
	}
	s.makeReserve()
	go s.syncLoop()
	return s, nil
}

// fsSpace is the size of the filesystem holding dir and the space free on it.
func fsSpace(dir string) (total, free uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize), nil
}

// reserveSize is what compacting the largest segment can need.
func (s *Spool) reserveSize() int64 { return s.opts.SegmentBytes + 16<<10 }

// makeReserve (re)creates the reserve file; on a full filesystem it keeps
// what fits and tries again later.
func (s *Spool) makeReserve() {
	want := s.reserveSize()
	if s.reserve >= want {
		return
	}
	path := filepath.Join(s.dir, reserveName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && s.reserve == 0 {
		s.reserve = st.Size() // left by an earlier run
	}
	zeros := make([]byte, 32<<10)
	for s.reserve < want {
		n := min(int64(len(zeros)), want-s.reserve)
		if s.opts.quota > 0 && s.used()+n > s.opts.quota {
			return
		}
		w, err := f.WriteAt(zeros[:n], s.reserve)
		s.reserve += int64(w)
		if err != nil {
			return
		}
	}
	_ = f.Sync()
}

// releaseReserve frees the reserve for compaction.
func (s *Spool) releaseReserve() {
	if s.reserve == 0 {
		return
	}
	if err := os.Truncate(filepath.Join(s.dir, reserveName), 0); err == nil {
		s.reserve = 0
	}
}

// used is the bytes of every spool file (quota accounting).
func (s *Spool) used() int64 {
	u := s.reserve + s.tmpBytes
	for _, g := range s.segs {
		u += g.size
	}
	return u
}

// write writes b to f, failing like a full filesystem past the test quota.
func (s *Spool) write(f *os.File, b []byte) (int, error) {
	if s.opts.quota > 0 {
		if room := s.opts.quota - s.used(); int64(len(b)) > room {
			n := 0
			if room > 0 {
				n, _ = f.Write(b[:room])
			}
			return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
	}
	return f.Write(b)
}

func segName(first uint64) string { return fmt.Sprintf("seg-%020d.log", first) }

// load replays every segment: data records become live, acks and drops
// remove them. A torn or corrupt tail ends a segment's replay.
func (s *Spool) load() error {
	names, err := filepath.Glob(filepath.Join(s.dir, "seg-*.log"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), "seg-"), ".log"), 10, 64)
		if err != nil {
			continue
		}
		seg := &segment{first: first, path: name}
		s.segs = append(s.segs, seg)
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		good, err := scan(bufio.NewReader(f), func(off int64, kind byte, body []byte) {
			switch kind {
			case kindData:
				r, err := decodeData(body)
				if err != nil {
					s.corrupt++
					return
				}
				s.index[r.Seq] = &entry{seg: seg, off: off, size: int64(len(body) + hdrLen), severity: r.Severity}
				s.order = append(s.order, r.Seq)
				s.liveBytes += int64(len(body) + hdrLen)
				seg.live++
				seg.liveBytes += int64(len(body) + hdrLen)
				if r.Seq >= s.next {
					s.next = r.Seq + 1
				}
			case kindAck, kindDrop:
				if len(body) == 8 {
					s.forget(binary.LittleEndian.Uint64(body))
				}
			}
		})
		f.Close()
		if err != nil {
			s.corrupt++
			// Cut the torn tail so later appends start from a clean record.
			if terr := os.Truncate(name, good); terr != nil {
				return terr
			}
		}
		seg.size = good
	}
	sort.Slice(s.order, func(i, j int) bool { return s.order[i] < s.order[j] })
	now := time.Now()
	for _, q := range s.order {
		s.appended[q] = now
	}
	s.trimSegments()
	return nil
}

// scan calls fn for every intact record and returns the offset after the
// last one; err is set when the data ends in a torn or corrupt record.
func scan(r io.Reader, fn func(off int64, kind byte, body []byte)) (int64, error) {
	var off int64
	hdr := make([]byte, hdrLen)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			if errors.Is(err, io.EOF) {
				return off, nil
			}
			return off, err
		}
		n := binary.LittleEndian.Uint32(hdr[1:])
		if n > 64<<20 {
			return off, errors.New("record length out of range")
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return off, err
		}
		if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(hdr[5:]) {
			return off, errors.New("checksum mismatch")
		}
		fn(off, hdr[0], body)
		off += int64(hdrLen) + int64(n)
	}
}

func encodeData(r Record) []byte {
	b := binary.LittleEndian.AppendUint64(nil, r.Seq)
	b = append(b, r.Severity)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.ID)))
	b = append(b, r.ID...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Subject)))
	b = append(b, r.Subject...)
	return append(b, r.Data...)
}

// DecodeData parses a data record's body.
func decodeData(b []byte) (Record, error) {
	var r Record
	if len(b) < 13 {
		return r, errors.New("short data record")
	}
	r.Seq, r.Severity = binary.LittleEndian.Uint64(b), b[8]
	n := int(binary.LittleEndian.Uint16(b[9:]))
	b = b[11:]
	if len(b) < n+2 {
		return r, errors.New("short id")
	}
	r.ID, b = string(b[:n]), b[n:]
	n = int(binary.LittleEndian.Uint16(b))
	b = b[2:]
	if len(b) < n {
		return r, errors.New("short subject")
	}
	r.Subject, r.Data = string(b[:n]), append([]byte(nil), b[n:]...)
	return r, nil
}

// startSegment opens the segment appends go to: the last one while it has
// room (unless fresh), else a new one.
func (s *Spool) startSegment(fresh bool) error {
	if s.cur != nil {
		if err := s.cur.Sync(); err != nil {
			return err
		}
		s.cur.Close()
		s.cur = nil
	}
	var seg *segment
	if n := len(s.segs); n > 0 && s.segs[n-1].size < s.opts.SegmentBytes && !fresh {
		seg = s.segs[n-1] // reopen the last one for appending
	} else if n > 0 && s.segs[n-1].size == 0 {
		seg = s.segs[n-1] // an empty one is as good as a new one
	} else {
		seg = &segment{first: s.next, path: filepath.Join(s.dir, segName(s.next))}
		s.segs = append(s.segs, seg)
	}
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.cur = f
	return nil
}

// writeRecord appends one record with a single write(2), so a crash of the
// agent loses nothing. A failed or short write is cut off again: the log
// stays whole and the next write starts clean (nothing sticks).
func (s *Spool) writeRecord(kind byte, body []byte) (*segment, int64, error) {
	if s.cur == nil {
		if err := s.startSegment(false); err != nil {
			s.writeErrs++
			return nil, 0, err
		}
	}
	seg := s.segs[len(s.segs)-1]
	if seg.size >= s.opts.SegmentBytes {
		if err := s.startSegment(true); err != nil {
			s.writeErrs++
			return nil, 0, err
		}
		seg = s.segs[len(s.segs)-1]
	}
	buf := make([]byte, hdrLen, hdrLen+len(body))
	buf[0] = kind
	binary.LittleEndian.PutUint32(buf[1:], uint32(len(body)))
	binary.LittleEndian.PutUint32(buf[5:], crc32.ChecksumIEEE(body))
	buf = append(buf, body...)
	off := seg.size
	if n, err := s.write(s.cur, buf); err != nil {
		s.writeErrs++
		if n > 0 {
			if terr := s.cur.Truncate(off); terr != nil {
				// The tail cannot be cut: continue in a new segment (the
				// torn record is cut off at the next replay).
				seg.size += int64(n)
				_ = s.startSegment(true)
			}
		}
		return nil, 0, err
	}
	seg.size += int64(len(buf))
	s.dirty = true
	if s.opts.SyncAlways {
		if err := s.cur.Sync(); err != nil {
			return nil, 0, err
		}
		s.dirty = false
	}
	return seg, off, nil
}

// Append spools a record and returns its sequence number. When the spool is
// over budget afterwards, the lowest-severity records are dropped (counted).
func (s *Spool) Append(severity uint8, id, subject string, data []byte) (uint64, error) {
	if severity >= NumSeverities {
		severity = NumSeverities - 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	r := Record{Seq: s.next, Severity: severity, ID: id, Subject: subject, Data: data}
	body := encodeData(r)
	seg, off, err := s.writeRecord(kindData, body)
	s.full = err != nil && isFull(err)
	for attempt := 0; err != nil; attempt++ {
		if !isFull(err) || attempt > 1000 {
			return 0, fmt.Errorf("spool append: %w", err)
		}
		if attempt == 0 {
			s.fullHits++
		}
		if !s.makeRoom(severity, int64(len(body)+hdrLen)) {
			s.dropped[severity]++
			return 0, fmt.Errorf("spool append (%s severity %d refused): %w: %w", id, severity, ErrFull, err)
		}
		seg, off, err = s.writeRecord(kindData, body)
	}
	s.next++
	s.index[r.Seq] = &entry{seg: seg, off: off, size: int64(len(body) + hdrLen), severity: severity}
	s.order = append(s.order, r.Seq)
	s.appended[r.Seq] = time.Now()
	s.liveBytes += int64(len(body) + hdrLen)
	seg.live++
	seg.liveBytes += int64(len(body) + hdrLen)
	if s.liveBytes > s.opts.MaxBytes {
		s.shed()
	}
	if s.reserve < s.reserveSize() && len(s.index)%64 == 0 {
		s.makeReserve()
	}
	return r.Seq, nil
}

// makeRoom frees space on a full filesystem for a record of severity sev
// and need bytes, as the budget does: what was delivered or dropped is
// compacted away first; then the oldest records of the lowest severity, up
// to sev itself, are shed (counted). It reports false when only higher
// severities are left, and the new record must be refused.
func (s *Spool) makeRoom(sev uint8, need int64) bool {
	// Dead bytes first: delivered records whose space was never reclaimed.
	if s.reclaimable() > 0 {
		if s.compactAll() {
			return true
		}
	}
	// Shed in the budget's order: lowest severity first, oldest first.
	want := need + 4<<10
	var freed int64
	for v := uint8(0); v <= sev && freed < want; v++ {
		for _, q := range s.order {
			if freed >= want {
				break
			}
			if e, ok := s.index[q]; ok && e.severity == v {
				freed += e.size
				s.dropped[v]++
				s.forget(q)
			}
		}
	}
	s.compactOrder()
	if freed == 0 {
		return false
	}
	s.compactAll()
	return true
}

// reclaimable is the bytes of dead records in closed segments and the
// current one.
func (s *Spool) reclaimable() int64 {
	var d int64
	for _, g := range s.segs {
		d += g.size - g.liveBytes
	}
	return d
}

// compactAll rewrites every segment holding dead records, oldest first,
// with the reserve released so the rewrites have room, then takes the
// reserve back. Appends continue in a new segment. It reports whether any
// space was reclaimed. Dropped records need no drop record here: the
// rewrite removes them.
func (s *Spool) compactAll() bool {
	if s.cur != nil {
		_ = s.cur.Sync()
		s.cur.Close()
		s.cur = nil
	}
	s.releaseReserve()
	before := s.used()
	for _, g := range s.segs {
		if g.size == g.liveBytes {
			continue
		}
		if err := s.rewrite(g); err != nil {
			// Later segments may hold acks of records in this one: stop.
			break
		}
	}
	s.trimSegments()
	reclaimed := s.used() < before
	if err := s.startSegment(true); err != nil {
		s.writeErrs++
	}
	s.makeReserve()
	return reclaimed
}

// shed drops the oldest records of the lowest severity present until the
// spool is within budget, then compacts old segments.
func (s *Spool) shed() {
	for sev := uint8(0); sev < NumSeverities && s.liveBytes > s.opts.MaxBytes; sev++ {
		for _, q := range s.order {
			if s.liveBytes <= s.opts.MaxBytes {
				break
			}
			if e, ok := s.index[q]; ok && e.severity == sev {
				body := binary.LittleEndian.AppendUint64(nil, q)
				if _, _, err := s.writeRecord(kindDrop, body); err != nil {
					return
				}
				s.dropped[sev]++
				s.forget(q)
			}
		}
	}
	s.compactOrder()
	s.compact()
}

// forget removes a live record from the index.
func (s *Spool) forget(q uint64) {
	e, ok := s.index[q]
	if !ok {
		return
	}
	delete(s.index, q)
	delete(s.appended, q)
	s.liveBytes -= e.size
	e.seg.live--
	e.seg.liveBytes -= e.size
}

func (s *Spool) compactOrder() {
	out := s.order[:0]
	for _, q := range s.order {
		if _, ok := s.index[q]; ok {
			out = append(out, q)
		}
	}
	s.order = out
}

// trimSegments deletes leading segments with no live data records (only in
// order, so acks in later segments never refer to a record that reappears).
func (s *Spool) trimSegments() {
	for len(s.segs) > 1 && s.segs[0].live == 0 {
		os.Remove(s.segs[0].path)
		s.segs = s.segs[1:]
	}
}

// compact rewrites the oldest segments holding dead records so the disk
// stays near the live size while nothing is acknowledged (an outage).
func (s *Spool) compact() {
	var disk int64
	for _, g := range s.segs {
		disk += g.size
	}
	for i := 0; i < len(s.segs)-1 && disk > s.opts.MaxBytes+s.opts.SegmentBytes; i++ {
		g := s.segs[i]
		before := g.size
		if err := s.rewrite(g); err != nil {
			return
		}
		disk -= before - g.size
	}
	s.trimSegments()
}

// rewrite keeps only a segment's live data records.
func (s *Spool) rewrite(g *segment) error {
	f, err := os.Open(g.path)
	if err != nil {
		return err
	}
	tmp := g.path + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		f.Close()
		return err
	}
	var off int64
	var werr error
	moved := map[uint64]int64{}
	defer func() { s.tmpBytes = 0 }()
	_, _ = scan(bufio.NewReader(f), func(_ int64, kind byte, body []byte) {
		if werr != nil || kind != kindData || len(body) < 8 {
			return
		}
		q := binary.LittleEndian.Uint64(body)
		if e, live := s.index[q]; !live || e.seg != g {
			return
		}
		buf := make([]byte, hdrLen, hdrLen+len(body))
		buf[0] = kindData
		binary.LittleEndian.PutUint32(buf[1:], uint32(len(body)))
		binary.LittleEndian.PutUint32(buf[5:], crc32.ChecksumIEEE(body))
		buf = append(buf, body...)
		if _, werr = s.write(out, buf); werr != nil {
			return
		}
		moved[q] = off
		off += int64(len(buf))
		s.tmpBytes = off
	})
	f.Close()
	if werr == nil {
		werr = out.Sync()
	}
	out.Close()
	if werr != nil {
		os.Remove(tmp)
		s.writeErrs++
		return werr
	}
	if err := os.Rename(tmp, g.path); err != nil {
		os.Remove(tmp)
		return err
	}
	for q, o := range moved {
		s.index[q].off = o
	}
	g.size, g.liveBytes = off, off
	return nil
}

// Ack marks a record delivered.
func (s *Spool) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if _, ok := s.index[seq]; !ok {
		return nil
	}
	if _, _, err := s.writeRecord(kindAck, binary.LittleEndian.AppendUint64(nil, seq)); err != nil {
		if !isFull(err) {
			return fmt.Errorf("spool ack: %w", err)
		}
		// No room for the ack record: compacting the delivered record away
		// is the ack (a crash before that resends it; the stream
		// deduplicates by message id).
		s.full = true
		s.forget(seq)
		s.compactAll()
		return nil
	}
	s.forget(seq)
	if len(s.order) > 1024 && len(s.index) < len(s.order)/2 {
		s.compactOrder()
	}
	s.trimSegments()
	return nil
}

// Next returns up to max live records with sequence numbers above after, in
// order.
func (s *Spool) Next(after uint64, max int) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.order), func(i int) bool { return s.order[i] > after })
	var out []Record
	for ; i < len(s.order) && len(out) < max; i++ {
		q := s.order[i]
		e, ok := s.index[q]
		if !ok {
			continue
		}
		r, err := s.read(e)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *Spool) read(e *entry) (Record, error) {
	f, err := os.Open(e.seg.path)
	if err != nil {
		return Record{}, err
	}
	defer f.Close()
	buf := make([]byte, e.size)
	if _, err := f.ReadAt(buf, e.off); err != nil {
		return Record{}, err
	}
	if crc32.ChecksumIEEE(buf[hdrLen:]) != binary.LittleEndian.Uint32(buf[5:]) {
		return Record{}, errors.New("spool record checksum mismatch")
	}
	return decodeData(buf[hdrLen:])
}

// Stats returns the spool's state.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Records: len(s.index), LiveBytes: s.liveBytes, Segments: len(s.segs), Dropped: s.dropped, Corruptions: s.corrupt,
		DiskFull: s.full, DiskFullEvents: s.fullHits, WriteErrors: s.writeErrs, ReserveBytes: s.reserve}
	if _, free, err := fsSpace(s.dir); err == nil {
		st.FreeBytes = free
	}
	for _, g := range s.segs {
		st.DiskBytes += g.size
	}
	for _, q := range s.order {
		if _, ok := s.index[q]; ok {
			st.OldestAge = time.Since(s.appended[q])
			break
		}
	}
	return st
}

func (s *Spool) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			if s.dirty && !s.closed && s.cur != nil {
				_ = s.cur.Sync()
				s.dirty = false
			}
			s.mu.Unlock()
		}
	}
}

// Close flushes, fsyncs and closes the spool.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var err error
	if s.cur != nil {
		err = s.cur.Sync()
		s.cur.Close()
	}
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	return err
}
