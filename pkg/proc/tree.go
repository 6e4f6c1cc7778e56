package proc

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/pkg/event"
)

// TreeConfig bounds the tree.
type TreeConfig struct {
	// Root is the host root: /proc and /etc are read below it.
	Root string
	// MaxProcesses bounds the entries kept; exited ones go first.
	MaxProcesses int
	// ExitGrace keeps an exited process this long for late events.
	ExitGrace time.Duration
	// MaxAncestors bounds the ancestry attached to events.
	MaxAncestors int
	// MaxArgs bounds the arguments kept per process.
	MaxArgs int
	// OCIBundles are where containers' OCI configs are ({id}: the
	// container id), for their pod's name and namespace; paths are below
	// Root.
	OCIBundles []string
	// MaxFiles bounds the files whose last writer is remembered (file
	// provenance: ExecInfo.ExeWriter).
	MaxFiles int
	// MaxArgBytes bounds their total length, as the sensor bounds the argv
	// it copies at exec (2048 bytes): a process seeded from /proc with a
	// huge command line (a CI runner's "bash -c <script>") must not make
	// every alert below it tens of kilobytes.
	MaxArgBytes int
}

func (c *TreeConfig) defaults() {
	if c.Root == "" {
		c.Root = "/"
	}
	if c.MaxProcesses <= 0 {
		c.MaxProcesses = 32768
	}
	if c.ExitGrace <= 0 {
		c.ExitGrace = 30 * time.Second
	}
	if c.MaxAncestors <= 0 {
		c.MaxAncestors = 8
	}
	if c.MaxArgs <= 0 {
		c.MaxArgs = 64
	}
	if c.MaxArgBytes <= 0 {
		c.MaxArgBytes = 2048
	}
	if c.MaxFiles <= 0 {
		c.MaxFiles = 8192
	}
}

// Process is one process as the tree knows it.
type Process struct {
	PID        uint32
	PPID       uint32
	StartTicks uint64
	ExecID     string
	Exe        string
	Args       []string
	Cwd        string
	UID        uint32
	exited     time.Time
	parent     *Process
	ancestors  []event.Ancestor
	// serial is unique per process entry; ver counts the execs that
	// changed what an ancestry shows of it. A cached ancestry is valid while
	// the lineage signature (serials and versions of the ancestors) holds,
	// so one exec refreshes only its descendants' ancestries.
	serial    uint64
	ver       uint64
	ancSig    uint64
	container *event.Container
	// The pipes of its stdin and stdout at its last exec (0: not a pipe).
	stdinPipe, stdoutPipe uint64
	// programSource is its last exec's ExecInfo.ProgramSource, for its pipe
	// peers.
	programSource string
}

// Tree is the process tree. It is safe for concurrent use, though the
// pipeline drives it from one goroutine.
type Tree struct {
	cfg    TreeConfig
	bootID string
	users  *Users

	mu      sync.Mutex
	procs   map[uint32]*Process
	serials uint64 // the last Process.serial handed out
	cgroups map[uint64]event.Container
	shared  map[uint64]bool // cgroup2 ids that do not tell containers apart
	now     func() time.Time
	// The last program executed with its stdout (pipeWriters) or stdin
	// (pipeReaders) on a pipe, by the pipe's inode: a pipeline's two ends.
	pipeWriters, pipeReaders map[uint64]*Process
	// writers: the process that last wrote each file, by path.
	writers map[string]event.FileWriter

	bootOnce sync.Once
	boot     time.Time
}

// NewTree makes an empty tree for the host below cfg.Root.
func NewTree(cfg TreeConfig) *Tree {
	cfg.defaults()
	t := &Tree{
		cfg:     cfg,
		users:   NewUsers(cfg.Root),
		procs:   make(map[uint32]*Process),
		cgroups: make(map[uint64]event.Container),
		shared:  make(map[uint64]bool),
		now:     time.Now,

		pipeWriters: make(map[uint64]*Process),
		pipeReaders: make(map[uint64]*Process),
		writers:     make(map[string]event.FileWriter),
	}
	b, _ := os.ReadFile(filepath.Join(cfg.Root, "proc/sys/kernel/random/boot_id"))
	t.bootID = strings.TrimSpace(string(b))
	return t
}

// BootID is the host's boot id, part of every exec id.
func (t *Tree) BootID() string { return t.bootID }

// ExecID is the stable id of a process execution: boot id, pid and start time.
func ExecID(bootID string, pid uint32, startTicks uint64) string {
	short := bootID
	if len(short) > 8 {
		short = short[:8]
	}
	return short + ":" + strconv.FormatUint(startTicks, 10) + ":" + strconv.FormatUint(uint64(pid), 10)
}

func (t *Tree) procPath(pid uint32, file string) string {
	return filepath.Join(t.cfg.Root, "proc", strconv.FormatUint(uint64(pid), 10), file)
}

// readProc reads one process from /proc; nil when it is gone or unreadable.
func (t *Tree) readProc(pid uint32) *Process {
	b, err := os.ReadFile(t.procPath(pid, "stat"))
	if err != nil {
		return nil
	}
	st, err := ParseStat(b)
	if err != nil {
		return nil
	}
	p := &Process{PID: pid, PPID: st.PPID, StartTicks: st.StartTicks}
	p.ExecID = ExecID(t.bootID, pid, st.StartTicks)
	p.Exe, _ = os.Readlink(t.procPath(pid, "exe"))
	p.Exe = strings.TrimSuffix(p.Exe, " (deleted)")
	p.Cwd, _ = os.Readlink(t.procPath(pid, "cwd"))
	if b, err := os.ReadFile(t.procPath(pid, "cmdline")); err == nil {
		p.Args = t.boundArgs(ParseCmdline(b))
	}
	if b, err := os.ReadFile(t.procPath(pid, "status")); err == nil {
		p.UID, _ = ParseStatusUID(b)
	}
	if p.Exe == "" && len(p.Args) == 0 { // kernel thread
		p.Exe = "[" + st.Comm + "]"
	}
	p.programSource, _ = event.InterpreterProgram(event.Basename(p.Exe), p.Args, p.Cwd)
	return p
}

func (t *Tree) boundArgs(a []string) []string {
	if len(a) > t.cfg.MaxArgs {
		a = a[:t.cfg.MaxArgs]
	}
	return BoundArgBytes(a, t.cfg.MaxArgBytes)
}

// BoundArgBytes cuts args to at most max bytes in all (the last one kept
// is cut at a UTF-8 boundary). It returns a without copying when it fits.
func BoundArgBytes(a []string, max int) []string {
	n := 0
	for i, s := range a {
		if n+len(s) <= max {
			n += len(s)
			continue
		}
		out := append([]string(nil), a[:i]...)
		cut := max - n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut > 0 {
			out = append(out, s[:cut])
		}
		return out
	}
	return a
}

// Seed loads every process under <root>/proc. It returns how many it read.
func (t *Tree) Seed() (int, error) {
	ents, err := os.ReadDir(filepath.Join(t.cfg.Root, "proc"))
	if err != nil {
		return 0, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, e := range ents {
		pid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		if p := t.readProc(uint32(pid)); p != nil {
			t.procs[p.PID] = p
			n++
		}
	}
	for _, p := range t.procs {
		if p.parent == nil && p.PPID != 0 {
			p.parent = t.procs[p.PPID]
		}
	}
	return n, nil
}

// Len is the number of processes held.
func (t *Tree) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.procs)
}

// Get returns a copy of a process's entry.
func (t *Tree) Get(pid uint32) (Process, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.procs[pid]
	if !ok {
		return Process{}, false
	}
	return *p, true
}

// lookup returns the process, reading it from /proc when the tree missed it.
func (t *Tree) lookup(pid uint32) *Process {
	if p, ok := t.procs[pid]; ok {
		return p
	}
	p := t.readProc(pid)
	if p == nil {
		return nil
	}
	p.parent = t.procs[p.PPID]
	t.insert(p)
	return p
}

func (t *Tree) insert(p *Process) {
	t.serials++
	p.serial = t.serials
	if len(t.procs) >= t.cfg.MaxProcesses {
		t.evict()
	}
	if old := t.procs[p.PID]; old != nil { // a reused pid
		t.unlinkPipes(old)
	}
	t.procs[p.PID] = p
}

// evict frees a tenth of the tree: exited processes first, then the oldest.
func (t *Tree) evict() {
	target := len(t.procs) - t.cfg.MaxProcesses*9/10
	for pid, p := range t.procs {
		if target <= 0 {
			return
		}
		if !p.exited.IsZero() {
			t.remove(pid, p)
			target--
		}
	}
	if target <= 0 {
		return
	}
	all := make([]*Process, 0, len(t.procs))
	for _, p := range t.procs {
		all = append(all, p)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].StartTicks < all[j].StartTicks })
	for _, p := range all[:min(target, len(all))] {
		t.remove(p.PID, p)
	}
}

// remove drops a process and its pipe ends.
func (t *Tree) remove(pid uint32, p *Process) {
	t.unlinkPipes(p)
	delete(t.procs, pid)
}

// GC drops processes that exited more than ExitGrace ago. It returns how
// many it dropped.
func (t *Tree) GC() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	cut := t.now().Add(-t.cfg.ExitGrace)
	n := 0
	for pid, p := range t.procs {
		if !p.exited.IsZero() && p.exited.Before(cut) {
			t.remove(pid, p)
			n++
		}
	}
	return n
}

// Apply updates the tree from a fork, exec or exit event, then enriches the
// event with what the tree knows. Other events are only enriched.
func (t *Tree) Apply(e *event.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e.Type {
	case event.TypeFork:
		t.fork(e)
	case event.TypeExec:
		t.exec(e)
	}
	t.enrich(e)
	e.Derive() // once per event: names and command line from what the tree filled
	t.provenance(e)
	if e.Type == event.TypeExit {
		if p, ok := t.procs[e.Process.PID]; ok {
			p.exited = t.now()
		}
	}
}

func (t *Tree) fork(e *event.Event) {
	parent := t.lookup(e.Process.PID)
	c := &Process{PID: e.Fork.ChildPID, PPID: e.Process.PID, StartTicks: e.Fork.ChildStartNs / (1e9 / ClockTicks)}
	c.ExecID = ExecID(t.bootID, c.PID, c.StartTicks)
	c.UID = e.Process.UID
	if parent != nil {
		c.Exe, c.Args, c.Cwd = parent.Exe, parent.Args, parent.Cwd
		c.parent = parent
		t.trimLineage(c)
	}
	t.insert(c)
}

// trimLineage cuts the parent chain below the ancestry bound, so that exited
// ancestors beyond it can be freed.
func (t *Tree) trimLineage(p *Process) {
	a := p
	for i := 0; i < t.cfg.MaxAncestors && a != nil; i++ {
		a = a.parent
	}
	if a != nil {
		a.parent = nil
	}
}

func (t *Tree) exec(e *event.Event) {
	p := t.lookup(e.Process.PID)
	if p == nil {
		p = &Process{PID: e.Process.PID, PPID: e.Process.PPID}
		p.parent = t.procs[p.PPID]
		t.insert(p)
	}
	p.Exe = e.Exec.Exe
	p.Args = t.boundArgs(e.Exec.Args)
	p.Cwd = e.Exec.Cwd
	p.UID = e.Process.UID
	if p.ExecID == "" {
		p.ExecID = ExecID(t.bootID, p.PID, p.StartTicks)
	}
	p.ver++
	t.pipes(p, e.Exec)
}

// pipes links a new program to the programs at the other ends of its stdin
// and stdout pipes, and records it as theirs. The one of a pipeline's two
// programs executed second sees the first (the first, its peer's fork, not
// yet executed, sees nothing).
func (t *Tree) pipes(p *Process, x *event.ExecInfo) {
	t.unlinkPipes(p)
	if x.Stdin.Kind == "pipe" && x.Stdin.Inode != 0 {
		p.stdinPipe = x.Stdin.Inode
		if w := t.pipeWriters[p.stdinPipe]; w != nil && w != p {
			x.Stdin.Peer = t.peer(w)
		}
		t.pipeReaders[p.stdinPipe] = p
	}
	if x.Stdout.Kind == "pipe" && x.Stdout.Inode != 0 {
		p.stdoutPipe = x.Stdout.Inode
		if r := t.pipeReaders[p.stdoutPipe]; r != nil && r != p {
			x.Stdout.Peer = t.peer(r)
		}
		t.pipeWriters[p.stdoutPipe] = p
	}
}

// unlinkPipes forgets p as the last writer or reader of its pipes.
func (t *Tree) unlinkPipes(p *Process) {
	if p.stdinPipe != 0 && t.pipeReaders[p.stdinPipe] == p {
		delete(t.pipeReaders, p.stdinPipe)
	}
	if p.stdoutPipe != 0 && t.pipeWriters[p.stdoutPipe] == p {
		delete(t.pipeWriters, p.stdoutPipe)
	}
	p.stdinPipe, p.stdoutPipe = 0, 0
}

func (t *Tree) peer(q *Process) event.Ancestor {
	return event.Ancestor{PID: q.PID, ExecID: q.ExecID, Exe: q.Exe, Name: event.Basename(q.Exe), Args: q.Args, UID: q.UID,
		User: t.users.User(q.UID), ProgramSource: q.programSource}
}

func (t *Tree) enrich(e *event.Event) {
	ep := &e.Process
	ep.User = t.users.User(ep.UID)
	ep.Group = t.users.Group(ep.GID)
	if ep.LoginUID != 0xffffffff {
		ep.LoginUser = t.users.User(ep.LoginUID)
	}
	p := t.lookup(ep.PID)
	if (e.CgroupID != 0 && !t.shared[e.CgroupID]) || p == nil {
		c, cached := t.container(e.CgroupID, ep.PID)
		if !cached && e.CgroupID != 0 && p != nil {
			// A cgroup2 id many processes share (the root of a hybrid
			// host): resolve per process from now on.
			if len(t.shared) > 4096 {
				clear(t.shared)
			}
			t.shared[e.CgroupID] = true
			pc := new(event.Container)
			*pc = c
			p.container = pc
		}
		e.Container = c
	} else {
		// No cgroup v2 id (a v1-only host): resolve once per process.
		if p.container == nil {
			c, _ := t.container(0, ep.PID)
			p.container = &c
		}
		e.Container = *p.container
	}
	if p == nil {
		return
	}
	ep.Exe, ep.Args, ep.Cwd, ep.ExecID = p.Exe, p.Args, p.Cwd, p.ExecID
	if p.StartTicks != 0 {
		st := t.bootTime().Add(time.Duration(p.StartTicks) * (time.Second / ClockTicks))
		ep.StartTime = &st
	}
	if p.parent != nil {
		ep.ParentExecID = p.parent.ExecID
	}
	if sig := t.lineageSig(p); p.ancestors == nil || sig != p.ancSig {
		p.ancestors = t.ancestry(p)
		p.ancSig = sig
	}
	ep.Ancestors = p.ancestors
}

// provenance remembers which process last wrote a file, moves it with
// renames, forgets it on unlink, and names the writers of what an exec
// runs; and names the target program of signals and traces.
func (t *Tree) provenance(e *event.Event) {
	switch e.Type {
	case event.TypeKill, event.TypePtrace, event.TypeProcessVMWritev:
		// The target's program: a signal to auditd, a trace of sshd.
		if e.Sys != nil && e.Sys.TargetPID > 0 && e.Sys.TargetPID <= 1<<22 {
			if q := t.lookup(uint32(e.Sys.TargetPID)); q != nil && q.Exe != "" {
				e.Sys.TargetExe, e.Sys.TargetName = q.Exe, event.Basename(q.Exe)
			}
		}
		return
	case event.TypeExec:
		if p := t.procs[e.Process.PID]; p != nil {
			p.programSource = e.Exec.ProgramSource // derived once, by Derive
		}
		if w, ok := t.writers[e.Exec.Exe]; ok {
			e.Exec.ExeWriter = w
		}
		if e.Exec.Script != "" {
			if w, ok := t.writers[e.Exec.Script]; ok {
				e.Exec.ScriptWriter = w
			}
		}
		return
	case event.TypeOpen, event.TypeRename, event.TypeUnlink:
	default:
		return
	}
	f := e.File
	if f == nil || e.Ret < 0 || f.Relative || f.Path == "" {
		return
	}
	switch e.Type {
	case event.TypeOpen:
		if f.Write {
			t.remember(f.Path, event.FileWriter{PID: e.Process.PID, ExecID: e.Process.ExecID, Exe: e.Process.Exe,
				Name: e.Process.Name, UID: e.Process.UID, Time: e.Time})
		}
	case event.TypeRename:
		if f.Target == "" {
			return
		}
		w, ok := t.writers[f.Path]
		if !ok {
			delete(t.writers, f.Target) // what the target held is gone
			return
		}
		delete(t.writers, f.Path)
		t.remember(f.Target, w)
	case event.TypeUnlink:
		delete(t.writers, f.Path)
	}
}

// remember records a file's writer, freeing a tenth of the entries (in
// map order) when the bound is reached.
func (t *Tree) remember(path string, w event.FileWriter) {
	if _, ok := t.writers[path]; !ok && len(t.writers) >= t.cfg.MaxFiles {
		n := t.cfg.MaxFiles / 10
		for p := range t.writers {
			if n <= 0 {
				break
			}
			delete(t.writers, p)
			n--
		}
	}
	t.writers[path] = w
}

// lineageSig mixes the serials and versions of p's ancestors (FNV-1a): it
// changes when an ancestor execs or the parent chain changes.
func (t *Tree) lineageSig(p *Process) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for a, i := p.parent, 0; a != nil && i < t.cfg.MaxAncestors; a, i = a.parent, i+1 {
		h = (h ^ a.serial) * prime
		h = (h ^ a.ver) * prime
		if a.PID == 1 {
			break
		}
	}
	return h
}

func (t *Tree) ancestry(p *Process) []event.Ancestor {
	out := make([]event.Ancestor, 0, 4)
	for a := p.parent; a != nil && len(out) < t.cfg.MaxAncestors; a = a.parent {
		out = append(out, event.Ancestor{
			PID: a.PID, ExecID: a.ExecID, Exe: a.Exe, Name: event.Basename(a.Exe), Args: a.Args, UID: a.UID, User: t.users.User(a.UID),
		})
		if a.PID == 1 {
			break
		}
	}
	return out
}

// bootTime is the wall-clock boot time, from <root>/proc/stat's btime.
func (t *Tree) bootTime() time.Time {
	t.bootOnce.Do(func() {
		b, _ := os.ReadFile(filepath.Join(t.cfg.Root, "proc/stat"))
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "btime "); ok {
				if v, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64); err == nil {
					t.boot = time.Unix(v, 0)
				}
			}
		}
	})
	return t.boot
}

// container resolves a cgroup id to a container, once per cgroup: from the
// process's cgroup file, or, when the process is already gone, by finding
// the cgroup directory whose inode is the id in the cgroup2 hierarchy.
// cached is false when the id does not tell containers apart (or the
// process was not found).
func (t *Tree) container(cgid uint64, pid uint32) (event.Container, bool) {
	if c, ok := t.cgroups[cgid]; ok && cgid != 0 {
		return c, true
	}
	c := event.Container{Runtime: RuntimeHost}
	cache := true
	if b, err := os.ReadFile(t.procPath(pid, "cgroup")); err == nil {
		content := string(b)
		var path string
		c.ID, c.Runtime, path = containerLine(content)
		if c.ID != "" {
			c.PodUID = PodUIDFromCgroup(path)
		}
		// On a hybrid host every process may sit in the cgroup2 root while
		// its v1 hierarchies tell containers apart: the id (a cgroup2 one)
		// then says nothing, so nothing is cached under it.
		cache = CgroupPathFromProc(content) != "/"
	} else if p := t.cgroupPathByID(cgid); p != "" {
		c.ID, c.Runtime = ParseCgroupPath(p)
		if c.ID != "" {
			c.PodUID = PodUIDFromCgroup(p)
		}
	} else {
		return c, false // unknown: do not cache
	}
	if c.ID != "" && (c.Runtime == RuntimeContainerd || c.Runtime == RuntimeCRIO) {
		t.pod(&c)
	}
	if !cache {
		return c, false
	}
	if len(t.cgroups) > 4096 {
		clear(t.cgroups)
	}
	t.cgroups[cgid] = c
	return c, true
}

// pod fills a Kubernetes container's pod from its OCI bundle.
func (t *Tree) pod(c *event.Container) {
	for _, tmpl := range t.cfg.OCIBundles {
		b, err := os.ReadFile(filepath.Join(t.cfg.Root, strings.ReplaceAll(tmpl, "{id}", c.ID)))
		if err != nil {
			continue
		}
		if p, ok := PodFromOCIConfig(b); ok {
			c.Name, c.PodName, c.PodNamespace = p.Container, p.Name, p.Namespace
			if c.PodUID == "" {
				c.PodUID = p.UID
			}
			return
		}
	}
}

// cgroupPathByID walks the cgroup2 mount for the directory with inode id.
// The walk is bounded; it runs only on a cache miss for an exited process.
func (t *Tree) cgroupPathByID(id uint64) string {
	if id == 0 {
		return ""
	}
	mnt := t.cgroup2Mount()
	if mnt == "" {
		return ""
	}
	found, seen := "", 0
	_ = filepath.WalkDir(mnt, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if seen++; seen > 20000 || found != "" {
			return filepath.SkipAll
		}
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Ino == id {
			found = "/" + strings.TrimPrefix(strings.TrimPrefix(p, mnt), "/")
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// cgroup2Mount is where the cgroup2 hierarchy is mounted below the root.
func (t *Tree) cgroup2Mount() string { return Cgroup2Mount(t.cfg.Root) }

// Cgroup2Mount returns where the cgroup2 hierarchy is mounted, from
// <root>/proc/self/mountinfo, joined to root; "" when it is not mounted.
func Cgroup2Mount(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && f[i+1] == "cgroup2" && len(f) > 4 {
				return filepath.Join(root, f[4])
			}
		}
	}
	return ""
}
