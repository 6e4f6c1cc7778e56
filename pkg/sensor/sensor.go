package sensor

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	bpf "github.com/aquasecurity/libbpfgo"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/pkg/event"
)

// Config selects what the kernel side collects.
type Config struct {
	// Types are the event types to collect; programs for others are not loaded.
	Types []event.Type
	// WatchedPrefixes: read-opens are sent only for paths under these.
	WatchedPrefixes []string
	// NoisyPrefixes: write-opens under these are not sent...
	NoisyPrefixes []string
	// WriteWatchedPrefixes: ...unless they are under one of these.
	WriteWatchedPrefixes []string
	// RingBufferBytes is the ring buffer size (a power of two, >= page size).
	RingBufferBytes int
	// DropFailed drops failed syscalls other than permission denials.
	DropFailed bool
	// DrainInterval is how often the reader drains the ring while records
	// come (DefaultDrainInterval when 0); after a quiet spell it waits up
	// to four times as long.
	DrainInterval time.Duration
	// AgentPID is the process whose activity is dropped in the kernel.
	AgentPID int
}

// wakeupBytes is how much must be pending before the kernel wakes the
// reader: an eighth of the ring, at most 256 KiB.
func (c Config) wakeupBytes() uint64 {
	w := uint64(c.RingBufferBytes / 8)
	if w > 256<<10 {
		w = 256 << 10
	}
	return w
}

// ProgramStatus reports what happened to one BPF program.
type ProgramStatus struct {
	Name     string     `json:"name"`
	Section  string     `json:"section"`
	Type     event.Type `json:"event_type"`
	Attached bool       `json:"attached"`
	Error    string     `json:"error,omitempty"`
}

// ErrExecRequired is returned when process exec cannot be traced: without it
// there is no process lineage, so the sensor refuses to run.
var ErrExecRequired = errors.New("the process exec probe could not be attached")

// Sensor owns the loaded BPF object and its links.
type Sensor struct {
	log      *zap.Logger
	cfg      Config
	mod      *bpf.Module
	reader   *ringReader
	programs []ProgramStatus
	closeMu  sync.Mutex
	closed   bool
	objFile  *os.File
}

// libbpf's print callback is process-wide: it is installed once and logs
// to whichever logger was routed last (each sensor routes its own, so the
// first logger no longer wins for ever).
var (
	hookOnce  sync.Once
	libbpfLog atomic.Pointer[zap.Logger]
	// quietLibbpf demotes libbpf's warnings to debug while an optional
	// program is attached: its failure is logged once, as "program
	// skipped".
	quietLibbpf atomic.Bool
)

// LibbpfKey is the log field holding libbpf's own text (kept apart from
// the message, so no key repeats in a line).
const LibbpfKey = "libbpf"

// RouteLibbpfLogs sends libbpf's output to log at debug level (warnings at
// warn), under the name "libbpf" with its text in the LibbpfKey field.
func RouteLibbpfLogs(log *zap.Logger) {
	libbpfLog.Store(log.Named("libbpf"))
	hookOnce.Do(func() {
		bpf.SetLoggerCbs(bpf.Callbacks{Log: func(level int, msg string) {
			l := libbpfLog.Load()
			if l == nil {
				return
			}
			msg = strings.TrimRight(msg, "\n")
			if level == bpf.LibbpfWarnLevel && !quietLibbpf.Load() {
				l.Warn("libbpf warning", zap.String(LibbpfKey, msg))
			} else {
				l.Debug("libbpf message", zap.String(LibbpfKey, msg))
			}
		}})
	})
}

// New loads the BPF object with the given configuration and attaches its
// programs. Call Start to begin reading, and Close to detach everything.
func New(cfg Config, log *zap.Logger) (*Sensor, error) {
	if log == nil {
		log = zap.NewNop()
	}
	RouteLibbpfLogs(log)
	obj := Object()
	if len(obj) == 0 {
		return nil, ErrNoObject
	}
	if _, err := EnsureMounted(Tracefs); err != nil {
		return nil, fmt.Errorf("prepare tracefs: %w", err)
	}
	want := map[event.Type]bool{event.TypeExec: true}
	for _, t := range cfg.Types {
		want[t] = true
	}
	if cfg.RingBufferBytes == 0 {
		cfg.RingBufferBytes = 8 << 20
	}
	if cfg.AgentPID == 0 {
		cfg.AgentPID = os.Getpid()
	}
	s := &Sensor{log: log, cfg: cfg}

	// libbpfgo honours SkipMemlockBump only for objects opened from a file:
	// hand the embedded object over through a memfd.
	fd, err := unix.MemfdCreate("vigil.bpf.o", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd for the BPF object: %w", err)
	}
	s.objFile = os.NewFile(uintptr(fd), "vigil.bpf.o")
	if _, err := s.objFile.Write(obj); err != nil {
		s.objFile.Close()
		return nil, fmt.Errorf("write the BPF object: %w", err)
	}

	refused := map[string]string{}
	progs := programTypes(want)
	mod, err := s.load(progs, refused)
	if err != nil {
		// Find which programs the kernel refuses, one by one, then load the rest.
		log.Warn("object load failed, probing programs one by one", zap.Error(err))
		if perr := s.probePrograms(progs, refused); perr != nil {
			s.objFile.Close()
			return nil, perr
		}
		mod, err = s.load(progs, refused)
		if err != nil {
			s.objFile.Close()
			return nil, fmt.Errorf("load BPF object: %w", err)
		}
	}
	s.mod = mod
	if err := s.configureMaps(want); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.attach(progs, refused); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// nameMovers are the event types whose programs see names move (renames
// and mounts): the kernel forgets the read-opens it remembered as unsent
// when one succeeds. Links and unlinks move no remaining name.
var nameMovers = []event.Type{event.TypeRename, event.TypeMount, event.TypeUmount}

// programTypes is the event types whose programs are loaded: the wanted
// ones and, when opens are traced, the name movers, attached for their
// invalidation even when their events are not wanted (those stay
// disabled in the kernel: nothing is sent for them).
func programTypes(want map[event.Type]bool) map[event.Type]bool {
	out := maps.Clone(want)
	if want[event.TypeOpen] {
		for _, t := range nameMovers {
			out[t] = true
		}
	}
	return out
}

// prefixesChanged moves the prefixes' generation: every read verdict the
// kernel remembers was made against the old prefixes.
func (s *Sensor) prefixesChanged() error {
	m, err := s.mod.GetMap("prefixgen")
	if err != nil {
		return fmt.Errorf("prefixgen map: %w", err)
	}
	k := uint32(0)
	b, err := m.GetValue(unsafe.Pointer(&k))
	if err != nil || len(b) < 8 {
		return fmt.Errorf("read prefixgen: %w", err)
	}
	v := *(*uint64)(unsafe.Pointer(&b[0])) + 1
	if err := m.Update(unsafe.Pointer(&k), unsafe.Pointer(&v)); err != nil {
		return fmt.Errorf("update prefixgen: %w", err)
	}
	return nil
}

// missingTracepoint says why a program's tracepoint section cannot attach
// here ("" when it can, or the section is no tracepoint).
func missingTracepoint(section string) string {
	tp, ok := strings.CutPrefix(section, "tracepoint/")
	if !ok {
		return ""
	}
	if _, err := os.Stat(filepath.Join(Tracefs.Path, "events", tp)); errors.Is(err, fs.ErrNotExist) {
		return "this kernel has no tracepoint " + tp
	}
	return ""
}

func (s *Sensor) open() (*bpf.Module, error) {
	return bpf.NewModuleFromFileArgs(bpf.NewModuleArgs{
		BPFObjPath:      fmt.Sprintf("/proc/self/fd/%d", s.objFile.Fd()),
		SkipMemlockBump: true, // kernels >= 5.11 charge BPF memory to the memory cgroup
	})
}

// load opens the object, autoloads only the wanted programs that are not
// refused, sets .rodata and map sizes, and loads it into the kernel.
func (s *Sensor) load(want map[event.Type]bool, refused map[string]string) (*bpf.Module, error) {
	mod, err := s.open()
	if err != nil {
		return nil, fmt.Errorf("open BPF object: %w", err)
	}
	it := mod.Iterator()
	for p := it.NextProgram(); p != nil; p = it.NextProgram() {
		t, _ := typeOf(p.Name())
		// A program on a tracepoint this kernel lacks (module loading
		// without CONFIG_MODULES) is refused before the load: otherwise
		// the whole load fails and every program is probed alone.
		if reason := missingTracepoint(p.SectionName()); want[t] && reason != "" {
			refused[p.Name()] = reason
		}
		_, bad := refused[p.Name()]
		if err := p.SetAutoload(want[t] && !bad); err != nil {
			mod.Close()
			return nil, fmt.Errorf("set autoload of %s: %w", p.Name(), err)
		}
	}
	if err := s.setupObject(mod); err != nil {
		mod.Close()
		return nil, err
	}
	if err := mod.BPFLoadObject(); err != nil {
		mod.Close()
		return nil, err
	}
	return mod, nil
}

func (s *Sensor) setupObject(mod *bpf.Module) error {
	dropFailed := uint32(0)
	if s.cfg.DropFailed {
		dropFailed = 1
	}
	raw := event.RawConfig{AgentTgid: uint32(s.cfg.AgentPID), DropFailed: dropFailed, WakeupBytes: s.cfg.wakeupBytes()}
	if err := mod.InitGlobalVariable("cfg", raw); err != nil {
		return fmt.Errorf("set BPF config: %w", err)
	}
	rb, err := mod.GetMap("events")
	if err != nil {
		return fmt.Errorf("ring buffer map: %w", err)
	}
	if err := rb.SetMaxEntries(uint32(s.cfg.RingBufferBytes)); err != nil {
		return fmt.Errorf("size ring buffer: %w", err)
	}
	return nil
}

// probePrograms loads each wanted program alone to find those the kernel
// refuses. Process exec must load.
func (s *Sensor) probePrograms(want map[event.Type]bool, refused map[string]string) error {
	names := s.programNames()
	for _, name := range names {
		t, _ := typeOf(name)
		if !want[t] {
			continue
		}
		mod, err := s.open()
		if err != nil {
			return fmt.Errorf("open BPF object: %w", err)
		}
		it := mod.Iterator()
		for p := it.NextProgram(); p != nil; p = it.NextProgram() {
			_ = p.SetAutoload(p.Name() == name)
		}
		err = s.setupObject(mod)
		if err == nil {
			err = mod.BPFLoadObject()
		}
		mod.Close()
		if err != nil {
			if t == event.TypeExec {
				return fmt.Errorf("%w: %s: %v", ErrExecRequired, name, err)
			}
			refused[name] = err.Error()
		}
	}
	return nil
}

func (s *Sensor) programNames() []string {
	mod, err := s.open()
	if err != nil {
		return nil
	}
	defer mod.Close()
	var out []string
	it := mod.Iterator()
	for p := it.NextProgram(); p != nil; p = it.NextProgram() {
		out = append(out, p.Name())
	}
	return out
}

func (s *Sensor) configureMaps(want map[event.Type]bool) error {
	en, err := s.mod.GetMap("enabled")
	if err != nil {
		return fmt.Errorf("enabled map: %w", err)
	}
	for t := range want {
		k, v := uint32(t), uint32(1)
		if err := en.Update(unsafe.Pointer(&k), unsafe.Pointer(&v)); err != nil {
			return fmt.Errorf("enable %s: %w", t, err)
		}
	}
	if err := s.SetPrefixes("watched_prefixes", s.cfg.WatchedPrefixes); err != nil {
		return err
	}
	if err := s.SetPrefixes("write_watched_prefixes", s.cfg.WriteWatchedPrefixes); err != nil {
		return err
	}
	return s.SetPrefixes("noisy_prefixes", s.cfg.NoisyPrefixes)
}

// SetPrefixes adds path prefixes to one of the LPM tries.
func (s *Sensor) SetPrefixes(mapName string, prefixes []string) error {
	m, err := s.mod.GetMap(mapName)
	if err != nil {
		return fmt.Errorf("%s map: %w", mapName, err)
	}
	for _, p := range prefixes {
		k, err := PrefixKey(p)
		if err != nil {
			return fmt.Errorf("%s: %w", mapName, err)
		}
		v := uint8(1)
		if err := m.Update(unsafe.Pointer(&k), unsafe.Pointer(&v)); err != nil {
			return fmt.Errorf("add prefix %q to %s: %w", p, mapName, err)
		}
	}
	return s.prefixesChanged()
}

// Prefixes lists the path prefixes in one of the LPM tries.
func (s *Sensor) Prefixes(mapName string) ([]string, error) {
	m, err := s.mod.GetMap(mapName)
	if err != nil {
		return nil, fmt.Errorf("%s map: %w", mapName, err)
	}
	var out []string
	it := m.Iterator()
	for it.Next() {
		k := it.Key()
		if len(k) < 4 {
			continue
		}
		n := int(*(*uint32)(unsafe.Pointer(&k[0]))) / 8
		if n > len(k)-4 {
			n = len(k) - 4
		}
		out = append(out, string(k[4:4+n]))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("%s map: %w", mapName, err)
	}
	sort.Strings(out)
	return out, nil
}

// ReplacePrefixes makes each named trie hold exactly the given prefixes,
// all or nothing: every set is checked first (count and key size), new
// entries are added, and only then are stale ones removed; a failure
// undoes what was added, so the kernel keeps the previous filters whole.
func (s *Sensor) ReplacePrefixes(want map[string][]string) error {
	var changes []prefixChange
	for mapName, prefixes := range want {
		if len(prefixes) > event.MaxPrefixes {
			return fmt.Errorf("%s: %d prefixes, more than %d", mapName, len(prefixes), event.MaxPrefixes)
		}
		have, err := s.Prefixes(mapName)
		if err != nil {
			return err
		}
		keep := map[string]bool{}
		c := prefixChange{mapName: mapName}
		for _, p := range prefixes {
			k, err := PrefixKey(p)
			if err != nil {
				return fmt.Errorf("%s: %w", mapName, err)
			}
			if !keep[p] && !slices.Contains(have, p) {
				c.add = append(c.add, k)
			}
			keep[p] = true
		}
		for _, p := range have {
			if !keep[p] {
				k, _ := PrefixKey(p)
				c.drop = append(c.drop, k)
			}
		}
		changes = append(changes, c)
	}
	var added []prefixChange
	for _, c := range changes {
		m, err := s.mod.GetMap(c.mapName)
		if err != nil {
			return err
		}
		done := prefixChange{mapName: c.mapName}
		for i := range c.add {
			v := uint8(1)
			if err := m.Update(unsafe.Pointer(&c.add[i]), unsafe.Pointer(&v)); err != nil {
				s.undo(append(added, done))
				return fmt.Errorf("add prefix to %s: %w (the previous filters are kept)", c.mapName, err)
			}
			done.add = append(done.add, c.add[i])
		}
		added = append(added, done)
	}
	for _, c := range changes {
		m, _ := s.mod.GetMap(c.mapName)
		for i := range c.drop {
			if err := m.DeleteKey(unsafe.Pointer(&c.drop[i])); err != nil {
				return fmt.Errorf("remove a stale prefix from %s: %w", c.mapName, err)
			}
		}
	}
	// Added read prefixes make remembered unsent reads stale (bumped after
	// the adds: a program that reads the new generation sees them).
	return s.prefixesChanged()
}

type prefixChange struct {
	mapName   string
	add, drop []event.RawPrefixKey
}

// undo removes the entries a failed ReplacePrefixes added.
func (s *Sensor) undo(added []prefixChange) {
	for _, c := range added {
		m, err := s.mod.GetMap(c.mapName)
		if err != nil {
			continue
		}
		for i := range c.add {
			_ = m.DeleteKey(unsafe.Pointer(&c.add[i]))
		}
	}
}

// PrefixKey builds the LPM trie key of a path prefix.
func PrefixKey(p string) (event.RawPrefixKey, error) {
	var k event.RawPrefixKey
	if p == "" || len(p) > event.PrefixKeyLen {
		return k, fmt.Errorf("path prefix %q: length must be 1..%d", p, event.PrefixKeyLen)
	}
	copy(k.Data[:], p)
	k.PrefixLen = uint32(len(p) * 8)
	return k, nil
}

func (s *Sensor) attach(want map[event.Type]bool, refused map[string]string) error {
	it := s.mod.Iterator()
	for p := it.NextProgram(); p != nil; p = it.NextProgram() {
		t, known := typeOf(p.Name())
		if !known {
			s.log.Warn("program without an event type", zap.String("program", p.Name()))
			continue
		}
		if !want[t] {
			continue
		}
		st := ProgramStatus{Name: p.Name(), Section: p.SectionName(), Type: t}
		if reason, bad := refused[p.Name()]; bad {
			st.Error = "load refused: " + reason
		} else {
			quietLibbpf.Store(optionalHooks[hookOf(p.Name())])
			_, err := p.AttachGeneric()
			quietLibbpf.Store(false)
			if err != nil {
				st.Error = "attach: " + err.Error()
			} else {
				st.Attached = true
			}
		}
		if !st.Attached {
			if t == event.TypeExec {
				return fmt.Errorf("%w: %s", ErrExecRequired, st.Error)
			}
			lvl := s.log.Warn
			if optionalHooks[hookOf(p.Name())] {
				lvl = s.log.Info
			}
			lvl("program skipped", zap.String("program", st.Name), zap.String("section", st.Section), zap.String("reason", st.Error))
		}
		s.programs = append(s.programs, st)
	}
	sort.Slice(s.programs, func(i, j int) bool { return s.programs[i].Name < s.programs[j].Name })
	return nil
}

// Programs reports each wanted program and whether it is attached.
func (s *Sensor) Programs() []ProgramStatus { return append([]ProgramStatus(nil), s.programs...) }

// Start begins reading the ring buffer: the reader's goroutine calls push
// with each record (it must not block: pipeline.Queue.Push drops and
// counts when full), and done once Close stopped it. A record's bytes are
// owned by push.
func (s *Sensor) Start(push func([]byte), done func()) error {
	m, err := s.mod.GetMap("events")
	if err != nil {
		return fmt.Errorf("ring buffer map: %w", err)
	}
	r, err := newRingReader(m.FileDescriptor())
	if err != nil {
		return err
	}
	s.reader = r
	drain := s.cfg.DrainInterval
	if drain <= 0 {
		drain = DefaultDrainInterval
	}
	// The watchdog wants the reader to go round within 5 s.
	go r.run(push, done, drain, min(4*drain, 2*time.Second), s.log)
	return nil
}

// ReaderAlive is when the ring-buffer reader last went round its loop.
func (s *Sensor) ReaderAlive() time.Time {
	if s.reader == nil {
		return time.Time{}
	}
	return time.Unix(0, s.reader.alive.Load())
}

// RingBufferUsed is the number of bytes written to the ring buffer and not
// yet consumed.
func (s *Sensor) RingBufferUsed() uint64 {
	if s.reader == nil {
		return 0
	}
	return s.reader.pending()
}

// Counters are the kernel-side per-type counters.
type Counters struct {
	// Drops are ring-buffer reserve failures.
	Drops [event.TypeMax]uint64
	// Filtered are records the kernel decided not to send.
	Filtered [event.TypeMax]uint64
}

// Counters sums the per-CPU kernel counters.
func (s *Sensor) Counters() (Counters, error) {
	var c Counters
	if err := s.sumPerCPU("drops", c.Drops[:]); err != nil {
		return c, err
	}
	err := s.sumPerCPU("filtered", c.Filtered[:])
	return c, err
}

func (s *Sensor) sumPerCPU(name string, out []uint64) error {
	m, err := s.mod.GetMap(name)
	if err != nil {
		return err
	}
	for i := range out {
		k := uint32(i)
		v, err := m.GetValue(unsafe.Pointer(&k))
		if err != nil {
			return fmt.Errorf("read %s[%d]: %w", name, i, err)
		}
		var sum uint64
		for off := 0; off+8 <= len(v); off += 8 {
			sum += *(*uint64)(unsafe.Pointer(&v[off]))
		}
		out[i] = sum
	}
	return nil
}

// RingBufferBytes is the configured ring buffer size.
func (s *Sensor) RingBufferBytes() int { return s.cfg.RingBufferBytes }

// Close detaches every program, stops the reader and frees the object.
func (s *Sensor) Close() {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.reader != nil {
		s.reader.close()
	}
	if s.mod != nil {
		s.mod.Close()
	}
	if s.objFile != nil {
		s.objFile.Close()
	}
}
