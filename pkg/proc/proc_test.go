package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-sec/vigil/pkg/event"
)

type fakeProc struct {
	pid, ppid uint32
	start     uint64
	comm, exe string
	args      []string
	uid       uint32
	cgroup    string
}

// writeProcRoot lays out a fixture host root: /proc/<pid>/{stat,cmdline,
// status,cgroup,exe,cwd}, boot_id, btime, and passwd/group from testdata.
func writeProcRoot(t *testing.T, procs ...fakeProc) string {
	t.Helper()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "proc/sys/kernel/random"), 0o755))
	must(os.WriteFile(filepath.Join(root, "proc/sys/kernel/random/boot_id"), []byte("0123abcd-aaaa-bbbb-cccc-ddddeeeeffff\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "proc/stat"), []byte("cpu  1 2 3\nbtime 1700000000\n"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	for _, f := range []string{"passwd", "group"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		must(err)
		must(os.WriteFile(filepath.Join(root, "etc", f), b, 0o644))
	}
	for _, p := range procs {
		dir := filepath.Join(root, "proc", fmt.Sprint(p.pid))
		must(os.MkdirAll(dir, 0o755))
		stat := fmt.Sprintf("%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %d 1000 100 1 1 1 1 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
			p.pid, p.comm, p.ppid, p.pid, p.pid, p.start)
		must(os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
		must(os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(p.args, "\x00")+"\x00"), 0o644))
		must(os.WriteFile(filepath.Join(dir, "status"), []byte(fmt.Sprintf("Name:\t%s\nUid:\t%d\t%d\t%d\t%d\n", p.comm, p.uid, p.uid, p.uid, p.uid)), 0o644))
		cg := p.cgroup
		if cg == "" {
			cg = "/user.slice"
		}
		content := "0::" + cg + "\n"
		if strings.Contains(cg, "\n") { // the whole file, as a hybrid host writes it
			content = cg
		}
		must(os.WriteFile(filepath.Join(dir, "cgroup"), []byte(content), 0o644))
		if p.exe != "" {
			must(os.Symlink(p.exe, filepath.Join(dir, "exe")))
		}
		must(os.Symlink("/", filepath.Join(dir, "cwd")))
	}
	return root
}

func baseProcs() []fakeProc {
	return []fakeProc{
		{pid: 1, ppid: 0, start: 5, comm: "systemd", exe: "/usr/lib/systemd/systemd", args: []string{"/sbin/init"}},
		{pid: 2, ppid: 0, start: 5, comm: "kthreadd"},
		{pid: 500, ppid: 1, start: 300, comm: "sshd", exe: "/usr/sbin/sshd", args: []string{"sshd: alice [priv]"}},
		{pid: 600, ppid: 500, start: 400, comm: "bash (login) )x", exe: "/usr/bin/bash", args: []string{"-bash"}, uid: 1000},
		{pid: 700, ppid: 600, start: 500, comm: "nginx", exe: "/usr/sbin/nginx", args: []string{"nginx", "-g", "daemon off;"},
			cgroup: "/system.slice/docker-" + strings.Repeat("ab", 32) + ".scope"},
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		in   string
		want Stat
		err  bool
	}{
		{"42 (cat) R 7 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 123 0 0", Stat{PID: 42, Comm: "cat", PPID: 7, StartTicks: 123}, false},
		{"43 (a (b) c)) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0", Stat{PID: 43, Comm: "a (b) c)", PPID: 1, StartTicks: 9}, false},
		{"44 (x) S", Stat{}, true},
		{"(x) S 1", Stat{}, true},
		{"", Stat{}, true},
	}
	for _, tc := range tests {
		got, err := ParseStat([]byte(tc.in))
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("%q: got %+v, %v", tc.in, got, err)
		}
	}
}

func TestSeedAndEnrich(t *testing.T) {
	root := writeProcRoot(t, baseProcs()...)
	tr := NewTree(TreeConfig{Root: root, MaxAncestors: 8})
	n, err := tr.Seed()
	if err != nil || n != 5 {
		t.Fatalf("seed: %d %v", n, err)
	}
	e := &event.Event{Type: event.TypeOpen, Process: event.Process{PID: 700, UID: 0, GID: 33, LoginUID: 1000}}
	tr.Apply(e)
	p := e.Process
	if p.Exe != "/usr/sbin/nginx" || p.ExecID != "0123abcd:500:700" || p.ParentExecID != "0123abcd:400:600" {
		t.Errorf("process %+v", p)
	}
	if p.User != "root" || p.Group != "www-data" || p.LoginUser != "alice" {
		t.Errorf("names %q %q %q", p.User, p.Group, p.LoginUser)
	}
	if p.StartTime == nil || !p.StartTime.Equal(time.Unix(1700000000, 0).Add(5*time.Second)) {
		t.Errorf("start %v", p.StartTime)
	}
	var chain []uint32
	for _, a := range p.Ancestors {
		chain = append(chain, a.PID)
	}
	if fmt.Sprint(chain) != "[600 500 1]" || p.Ancestors[0].User != "alice" || p.Ancestors[0].Args[0] != "-bash" {
		t.Errorf("ancestors %+v", p.Ancestors)
	}
	if e.Container.Runtime != RuntimeDocker || e.Container.ID != strings.Repeat("ab", 32) {
		t.Errorf("container %+v", e.Container)
	}
	if k, _ := tr.Get(2); k.Exe != "[kthreadd]" {
		t.Errorf("kernel thread exe %q", k.Exe)
	}
}

func TestForkExecExit(t *testing.T) {
	root := writeProcRoot(t, baseProcs()...)
	now := time.Unix(1800000000, 0)
	tr := NewTree(TreeConfig{Root: root, ExitGrace: 10 * time.Second})
	tr.now = func() time.Time { return now }
	if _, err := tr.Seed(); err != nil {
		t.Fatal(err)
	}
	tr.Apply(&event.Event{Type: event.TypeFork, Process: event.Process{PID: 600, UID: 1000},
		Fork: &event.ForkInfo{ChildPID: 800, ChildStartNs: 6_000_000_000}})
	c, ok := tr.Get(800)
	if !ok || c.Exe != "/usr/bin/bash" || c.StartTicks != 600 || c.ExecID != "0123abcd:600:800" {
		t.Fatalf("child after fork: %+v", c)
	}
	ex := &event.Event{Type: event.TypeExec, Process: event.Process{PID: 800, PPID: 600, UID: 1000},
		Exec: &event.ExecInfo{Exe: "/usr/bin/curl", Args: []string{"curl", "http://x"}, Cwd: "/tmp"}}
	tr.Apply(ex)
	if ex.Process.Exe != "/usr/bin/curl" || ex.Process.Cwd != "/tmp" || ex.Process.Ancestors[0].Exe != "/usr/bin/bash" {
		t.Fatalf("exec enrich: %+v", ex.Process)
	}
	// The parent execs: the child's cached ancestry must follow.
	tr.Apply(&event.Event{Type: event.TypeExec, Process: event.Process{PID: 600, PPID: 500, UID: 1000},
		Exec: &event.ExecInfo{Exe: "/usr/bin/python3", Args: []string{"python3"}}})
	again := &event.Event{Type: event.TypeConnect, Process: event.Process{PID: 800}}
	tr.Apply(again)
	if again.Process.Ancestors[0].Exe != "/usr/bin/python3" {
		t.Errorf("stale ancestry: %+v", again.Process.Ancestors[0])
	}
	tr.Apply(&event.Event{Type: event.TypeExit, Process: event.Process{PID: 800}, Exit: &event.ExitInfo{}})
	if _, ok := tr.Get(800); !ok {
		t.Fatal("exited process dropped before the grace period")
	}
	now = now.Add(11 * time.Second)
	if n := tr.GC(); n != 1 {
		t.Errorf("GC dropped %d", n)
	}
	if _, ok := tr.Get(800); ok {
		t.Error("exited process kept after the grace period")
	}
}

func TestAncestryBoundAndMemoryBound(t *testing.T) {
	root := writeProcRoot(t, baseProcs()...)
	tr := NewTree(TreeConfig{Root: root, MaxAncestors: 3, MaxProcesses: 1024})
	if _, err := tr.Seed(); err != nil {
		t.Fatal(err)
	}
	parent := uint32(700)
	for i := uint32(0); i < 3000; i++ {
		child := 10000 + i
		tr.Apply(&event.Event{Type: event.TypeFork, Process: event.Process{PID: parent}, Fork: &event.ForkInfo{ChildPID: child}})
		parent = child
	}
	if n := tr.Len(); n > 1024 {
		t.Errorf("tree holds %d processes, bound 1024", n)
	}
	e := &event.Event{Type: event.TypeOpen, Process: event.Process{PID: parent}}
	tr.Apply(e)
	if len(e.Process.Ancestors) != 3 {
		t.Errorf("ancestry length %d, want 3", len(e.Process.Ancestors))
	}
}

func TestLazyLookup(t *testing.T) {
	root := writeProcRoot(t, baseProcs()...)
	tr := NewTree(TreeConfig{Root: root})
	// No Seed: the process is read from /proc on first sight.
	e := &event.Event{Type: event.TypeOpen, Process: event.Process{PID: 600}}
	tr.Apply(e)
	if e.Process.Exe != "/usr/bin/bash" || e.Process.Args[0] != "-bash" {
		t.Errorf("%+v", e.Process)
	}
	missing := &event.Event{Type: event.TypeOpen, Process: event.Process{PID: 4242}}
	tr.Apply(missing)
	if missing.Process.Exe != "" {
		t.Errorf("invented a process: %+v", missing.Process)
	}
}

func TestUsers(t *testing.T) {
	root := writeProcRoot(t)
	u := NewUsers(root)
	if u.User(0) != "root" || u.User(1000) != "alice" || u.User(4242) != "" || u.Group(33) != "www-data" {
		t.Errorf("lookups: %q %q %q %q", u.User(0), u.User(1000), u.User(4242), u.Group(33))
	}
}

// An exec refreshes only its descendants' cached ancestries: an exec in an
// unrelated branch keeps the others' (a global generation used to make
// every process rebuild its ancestry after any exec).
func TestAncestryCacheRefreshedOnlyBelowAnExec(t *testing.T) {
	root := writeProcRoot(t, baseProcs()...)
	tr := NewTree(TreeConfig{Root: root})
	if _, err := tr.Seed(); err != nil {
		t.Fatal(err)
	}
	open := func(pid uint32) []event.Ancestor {
		e := &event.Event{Type: event.TypeOpen, CgroupID: 4242, Process: event.Process{PID: pid}}
		tr.Apply(e)
		return e.Process.Ancestors
	}
	before := open(700)
	// An unrelated process (a child of pid 1) execs.
	tr.Apply(&event.Event{Type: event.TypeFork, Process: event.Process{PID: 1}, Fork: &event.ForkInfo{ChildPID: 900}})
	tr.Apply(&event.Event{Type: event.TypeExec, Process: event.Process{PID: 900, PPID: 1}, Exec: &event.ExecInfo{Exe: "/usr/bin/cron"}})
	if after := open(700); &after[0] != &before[0] {
		t.Error("an unrelated exec rebuilt the ancestry")
	}
	// The parent (600) execs: 700's ancestry shows the new program.
	tr.Apply(&event.Event{Type: event.TypeExec, Process: event.Process{PID: 600, PPID: 500}, Exec: &event.ExecInfo{Exe: "/usr/bin/zsh", Args: []string{"zsh"}}})
	if after := open(700); after[0].Exe != "/usr/bin/zsh" || after[1].Exe != "/usr/sbin/sshd" {
		t.Errorf("after the parent's exec: %+v", after)
	}
}

// A process seeded from /proc with a huge command line (a CI runner's
// "bash -c <script>") keeps at most MaxArgBytes of it, as the sensor does
// at exec: it used to be copied whole into every event and alert below it.
func TestSeededArgsBoundedInBytes(t *testing.T) {
	procs := baseProcs()
	procs[3].args = []string{"bash", "-c", strings.Repeat("é", 40000)}
	root := writeProcRoot(t, procs...)
	tr := NewTree(TreeConfig{Root: root, MaxAncestors: 8})
	if _, err := tr.Seed(); err != nil {
		t.Fatal(err)
	}
	e := &event.Event{Type: event.TypeOpen, Process: event.Process{PID: 700}}
	tr.Apply(e)
	a := e.Process.Ancestors[0].Args
	n := 0
	for _, s := range a {
		n += len(s)
	}
	if len(a) != 3 || a[0] != "bash" || n > 2048 || n < 2040 || !utf8.ValidString(a[2]) {
		t.Errorf("ancestor args: %d of them, %d bytes, valid %v", len(a), n, utf8.ValidString(a[len(a)-1]))
	}
}

func TestBoundArgBytes(t *testing.T) {
	for _, c := range []struct {
		in   []string
		max  int
		want string
	}{
		{[]string{"ab", "cd"}, 4, "[ab cd]"},
		{[]string{"ab", "cd"}, 3, "[ab c]"},
		{[]string{"ab", "cd"}, 2, "[ab]"},
		{[]string{"ab", "éé"}, 3, "[ab]"},
		{[]string{"ab", "éé"}, 5, "[ab é]"},
		{nil, 5, "[]"},
	} {
		if got := fmt.Sprint(BoundArgBytes(c.in, c.max)); got != c.want {
			t.Errorf("BoundArgBytes(%q, %d) = %s, want %s", c.in, c.max, got, c.want)
		}
	}
}

// A Kubernetes container's pod: the uid from the kubelet's cgroup (systemd
// and cgroupfs drivers), the names from the OCI bundle (containerd and
// cri-o annotations, configurable paths).
func TestKubernetesPodOfAContainer(t *testing.T) {
	id := strings.Repeat("c1", 32)
	uid := "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
	procs := append(baseProcs(), fakeProc{pid: 800, ppid: 1, start: 600, comm: "sh", exe: "/bin/sh", args: []string{"sh"},
		cgroup: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice/cri-containerd-" + id + ".scope"})
	root := writeProcRoot(t, procs...)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	bundle := filepath.Join(root, "run/k8s", id, "config.json")
	must(os.MkdirAll(filepath.Dir(bundle), 0o755))
	must(os.WriteFile(bundle, []byte(`{"ociVersion":"1.1.0","annotations":{"io.kubernetes.cri.container-type":"container",`+
		`"io.kubernetes.cri.sandbox-name":"web-7d4b9c","io.kubernetes.cri.sandbox-namespace":"shop","io.kubernetes.cri.container-name":"app"}}`), 0o644))
	tr := NewTree(TreeConfig{Root: root, OCIBundles: []string{"/nowhere/{id}.json", "/run/k8s/{id}/config.json"}})
	if _, err := tr.Seed(); err != nil {
		t.Fatal(err)
	}
	e := &event.Event{Type: event.TypeOpen, Process: event.Process{PID: 800}}
	tr.Apply(e)
	c := e.Container
	if c.ID != id || c.Runtime != RuntimeContainerd || c.PodName != "web-7d4b9c" || c.PodNamespace != "shop" || c.PodUID != uid || c.Name != "app" {
		t.Errorf("container %+v", c)
	}
	for path, want := range map[string]string{
		"/kubepods/burstable/pod" + uid + "/" + id:                                            uid,
		"/kubepods.slice/kubepods-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice/x":       uid,
		"/system.slice/docker-" + id + ".scope":                                               "",
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podnope.slice/x.scope": "",
	} {
		if got := PodUIDFromCgroup(path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	p, ok := PodFromOCIConfig([]byte(`{"annotations":{"io.kubernetes.pod.name":"db-0","io.kubernetes.pod.namespace":"data","io.kubernetes.pod.uid":"u","io.kubernetes.container.name":"pg"}}`))
	if !ok || p != (Pod{Name: "db-0", Namespace: "data", UID: "u", Container: "pg"}) {
		t.Errorf("cri-o: %+v", p)
	}
	if _, ok := PodFromOCIConfig([]byte(`{"annotations":{}}`)); ok {
		t.Error("no pod in an empty config")
	}
}

// A hybrid host (cgroup v1 controllers, every process in the cgroup2 root):
// the cgroup2 id is the same for a host process and a container's, so the
// container is not taken from the cache of that id.
func TestHybridHostContainersNotCachedUnderTheRootCgroup(t *testing.T) {
	id := strings.Repeat("d4", 32)
	root := writeProcRoot(t, append(baseProcs(),
		fakeProc{pid: 900, ppid: 1, start: 700, comm: "cron", exe: "/usr/sbin/cron", cgroup: "8:pids:/\n0::/\n"},
		fakeProc{pid: 901, ppid: 1, start: 701, comm: "nginx", exe: "/usr/sbin/nginx", cgroup: "8:pids:/docker/" + id + "\n0::/\n"})...)
	tr := NewTree(TreeConfig{Root: root})
	if _, err := tr.Seed(); err != nil {
		t.Fatal(err)
	}
	host := &event.Event{Type: event.TypeOpen, CgroupID: 1, Process: event.Process{PID: 900}}
	tr.Apply(host)
	ctr := &event.Event{Type: event.TypeOpen, CgroupID: 1, Process: event.Process{PID: 901}}
	tr.Apply(ctr)
	if host.Container.Runtime != RuntimeHost || ctr.Container.ID != id || ctr.Container.Runtime != RuntimeDocker {
		t.Errorf("host %+v, container %+v", host.Container, ctr.Container)
	}
}

// A pipeline's two programs are linked through their pipe, whichever
// executes first; an exited end is forgotten with its process.
func TestPipePeers(t *testing.T) {
	root := writeProcRoot(t, baseProcs()...)
	now := time.Unix(1800000000, 0)
	tr := NewTree(TreeConfig{Root: root, ExitGrace: time.Second})
	tr.now = func() time.Time { return now }
	if _, err := tr.Seed(); err != nil {
		t.Fatal(err)
	}
	fork := func(child uint32) {
		tr.Apply(&event.Event{Type: event.TypeFork, Process: event.Process{PID: 600, UID: 1000},
			Fork: &event.ForkInfo{ChildPID: child, ChildStartNs: uint64(child) * 1e7}})
	}
	exec := func(pid uint32, exe string, in, out event.Stdio) *event.Event {
		e := &event.Event{Type: event.TypeExec, Process: event.Process{PID: pid, PPID: 600, UID: 1000},
			Exec: &event.ExecInfo{Exe: exe, Args: []string{event.Basename(exe)}, Stdin: in, Stdout: out}}
		tr.Apply(e)
		return e
	}
	tty := event.Stdio{Kind: "tty"}
	pipe := func(ino uint64) event.Stdio { return event.Stdio{Kind: "pipe", Inode: ino} }

	// curl | sh, curl executed first: sh's stdin is written by curl.
	fork(801)
	fork(802)
	exec(801, "/usr/bin/curl", tty, pipe(90))
	sh := exec(802, "/usr/bin/dash", pipe(90), tty)
	if p := sh.Exec.Stdin.Peer; p.Name != "curl" || p.PID != 801 || p.ExecID == "" || p.User != "alice" || p.ProgramSource != "" {
		t.Errorf("sh's stdin peer: %+v", p)
	}
	// base64 -d | bash, bash executed first: base64's stdout is read by bash.
	fork(803)
	fork(804)
	bash := exec(804, "/usr/bin/bash", pipe(91), tty)
	if bash.Exec.Stdin.Peer.Exe != "" {
		t.Errorf("bash's writer not executed yet, but: %+v", bash.Exec.Stdin.Peer)
	}
	b64 := exec(803, "/usr/bin/base64", tty, pipe(91))
	if p := b64.Exec.Stdout.Peer; p.Name != "bash" || p.PID != 804 || p.ProgramSource != event.ProgramStdin {
		t.Errorf("base64's stdout peer: %+v", p)
	}
	// Exited and collected: a new reader of that pipe finds no writer.
	tr.Apply(&event.Event{Type: event.TypeExit, Process: event.Process{PID: 803}, Exit: &event.ExitInfo{}})
	now = now.Add(2 * time.Second)
	tr.GC()
	if len(tr.pipeWriters) != 1 { // curl's is left
		t.Errorf("pipe writers after GC: %d", len(tr.pipeWriters))
	}
	fork(805)
	late := exec(805, "/usr/bin/sh", pipe(91), tty)
	if late.Exec.Stdin.Peer.Exe != "" {
		t.Errorf("a collected writer is still a peer: %+v", late.Exec.Stdin.Peer)
	}
	// A process that executes again leaves its old pipes.
	exec(801, "/usr/bin/true", tty, tty)
	if len(tr.pipeWriters) != 0 {
		t.Errorf("pipe writers after curl's next exec: %d", len(tr.pipeWriters))
	}
}

// The last writer of a file follows renames, goes with unlinks, and names
// who wrote what an exec runs (the program and the script); the files
// remembered are bounded.
func TestFileProvenance(t *testing.T) {
	root := writeProcRoot(t, baseProcs()...)
	tr := NewTree(TreeConfig{Root: root, MaxFiles: 20})
	if _, err := tr.Seed(); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1800000000, 0)
	file := func(typ event.Type, pid uint32, path, target string, write bool) {
		tr.Apply(&event.Event{Type: typ, Time: at, Process: event.Process{PID: pid}, File: &event.FileInfo{Path: path, Target: target, Write: write}})
	}
	exec := func(exe string, args ...string) *event.Event {
		e := &event.Event{Type: event.TypeExec, Process: event.Process{PID: 600, PPID: 500},
			Exec: &event.ExecInfo{Exe: exe, Args: args, Cwd: "/tmp"}}
		tr.Apply(e)
		return e
	}
	file(event.TypeOpen, 700, "/tmp/.x.part", "", true) // nginx (pid 700) writes, then renames
	file(event.TypeRename, 700, "/tmp/.x.part", "/tmp/x", false)
	e := exec("/tmp/x", "./x")
	if w := e.Exec.ExeWriter; w.Name != "nginx" || w.PID != 700 || w.ExecID == "" || !w.Time.Equal(at) {
		t.Errorf("writer of /tmp/x: %+v", w)
	}
	file(event.TypeOpen, 500, "/tmp/s.sh", "", true) // sshd writes a script
	file(event.TypeOpen, 700, "/tmp/r.txt", "", false)
	e = exec("/usr/bin/bash", "bash", "s.sh")
	if e.Exec.Script != "/tmp/s.sh" || e.Exec.ScriptWriter.Name != "sshd" || e.Exec.ExeWriter.Exe != "" {
		t.Errorf("script %q writer %+v, exe writer %+v", e.Exec.Script, e.Exec.ScriptWriter, e.Exec.ExeWriter)
	}
	file(event.TypeUnlink, 600, "/tmp/x", "", false)
	if w := exec("/tmp/x").Exec.ExeWriter; w.Exe != "" {
		t.Errorf("writer kept after unlink: %+v", w)
	}
	for i := 0; i < 100; i++ {
		file(event.TypeOpen, 700, fmt.Sprintf("/var/tmp/f%d", i), "", true)
	}
	if n := len(tr.writers); n > 20 {
		t.Errorf("%d files remembered, bound 20", n)
	}
}

func TestLoginHomes(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/bash\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
		"www-data:x:33:33:www:/var/www:/usr/sbin/nologin\n" +
		"alice:x:1000:1000::/home/alice:/bin/zsh\n" +
		"svc:x:1001:1001::/srv/svc:/bin/false\n" +
		"bob:x:1002:1002::/home/bob/:/bin/bash\n" +
		"twin:x:1003:1003::/home/bob:/bin/bash\n" +
		"nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n" +
		"broken line\n" +
		"carol:x:1004:1004::/home/carol:/bin/sh\n"
	got := ParseLoginHomes(strings.NewReader(passwd), 3)
	if want := []string{"/root", "/home/alice", "/home/bob"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("homes %v, want %v", got, want)
	}
	if n := len(ParseLoginHomes(strings.NewReader(passwd), 10)); n != 4 {
		t.Errorf("%d homes without the bound, want 4", n)
	}
}
