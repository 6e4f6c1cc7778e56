package agent_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vigil-sec/vigil/internal/testenv"
	"github.com/vigil-sec/vigil/pkg/agent"
	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/engine"
	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/sensor"
)

func TestMain(m *testing.M) {
	if action := os.Getenv(helperEnv); action != "" {
		if err := runHelper(action, os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// collector keeps the events and alerts of this test's descendants.
type collector struct {
	mu     sync.Mutex
	self   uint32
	events []*event.Event
	alerts []*engine.Alert
	notify chan struct{}
}

func (c *collector) WriteAlert(a *engine.Alert) error {
	c.mu.Lock()
	c.alerts = append(c.alerts, a)
	c.mu.Unlock()
	return nil
}

// alert waits for an alert of the rule whose process matches.
func (c *collector) alert(t *testing.T, rule string, match func(*engine.Alert) bool) *engine.Alert {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, a := range c.alerts {
			if a.Rule == rule && match(a) {
				c.mu.Unlock()
				return a
			}
		}
		c.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q alert", rule)
	return nil
}

func (c *collector) Write(e *event.Event) error {
	mine := e.Process.PPID == c.self
	for _, a := range e.Process.Ancestors {
		mine = mine || a.PID == c.self
	}
	if !mine {
		return nil
	}
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) Flush() error { return nil }

// find waits until an event of type typ matches, or fails the test showing
// the events of that type that did arrive.
func (c *collector) find(t *testing.T, typ event.Type, what string, match func(*event.Event) bool) *event.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for _, e := range c.events {
			if e.Type == typ && match(e) {
				c.mu.Unlock()
				return e
			}
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			seen := c.all(func(e *event.Event) bool { return e.Type == typ })
			for i, e := range seen {
				if i == 10 {
					break
				}
				b, _ := json.Marshal(e)
				t.Logf("seen %s: %s", typ, b)
			}
			t.Fatalf("no matching %s event (%s) arrived; %d of that type seen", typ, what, len(seen))
			return nil
		}
	}
}

func (c *collector) all(match func(*event.Event) bool) []*event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*event.Event
	for _, e := range c.events {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

const testRules = `
- rule: Reverse shell
  override: {action: replace}
  action: kill
- list: imds_addresses
  override: {items: append}
  items: [127.0.0.254]
`

var (
	sharedAgent *agent.Agent
	startOnce   sync.Once
	shared      *collector
	sharedDir   string
	startErr    error
)

// startAgent runs one agent for the whole package, in this process.
func startAgent(t *testing.T) (*collector, string) {
	t.Helper()
	testenv.RequireObject(t, sensor.Object())
	startOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-e2e-")
		if err != nil {
			startErr = err
			return
		}
		sharedDir, _ = filepath.EvalSymlinks(dir)
		cfg := config.Default()
		cfg.Output = "none"
		cfg.Alerts = "none"
		cfg.Collect = "all"
		cfg.StatusSocket = filepath.Join(sharedDir, "agent.sock")
		cfg.WatchedPrefixes = append(cfg.WatchedPrefixes, sharedDir+"/")
		cfg.QueueSize = 1 << 18
		cfg.RingBufferBytes = 32 << 20
		// Admin rules: the vendor reverse-shell rule kills, and a loopback
		// address stands in for the metadata service.
		rulesDir := filepath.Join(sharedDir, "rules.d")
		if err := os.MkdirAll(rulesDir, 0o755); err != nil {
			startErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(rulesDir, "50-test.yaml"), []byte(testRules), 0o644); err != nil {
			startErr = err
			return
		}
		cfg.Rules.Paths = []string{rulesDir}
		cfg.Rules.DedupWindow = 0
		shared = &collector{self: uint32(os.Getpid()), notify: make(chan struct{}, 1)}
		a := agent.New(cfg, zaptest.NewLogger(t).Named("agent"), os.Stdout)
		a.Extra = append(a.Extra, shared)
		a.AlertSinks = append(a.AlertSinks, shared)
		sharedAgent = a
		ready := make(chan struct{})
		a.Ready = func() { close(ready) }
		errc := make(chan error, 1)
		go func() { errc <- a.Run(context.Background()) }()
		select {
		case <-ready:
		case err := <-errc:
			startErr = fmt.Errorf("agent stopped: %w", err)
		case <-time.After(60 * time.Second):
			startErr = fmt.Errorf("agent not ready after 60s")
		}
	})
	if startErr != nil {
		t.Fatal(startErr)
	}
	return shared, sharedDir
}

// helper runs a helper action in a child process and returns its stdout.
func helper(t *testing.T, action string, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+action)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("helper %s: %v %s", action, err, stderr)
	}
	return string(out)
}

func TestExecFields(t *testing.T) {
	c, dir := startAgent(t)
	// The shell forks and execs echo: the agent drops its own process's
	// activity, and this test runs inside the agent, so the fork to observe
	// is the shell's.
	cmd := exec.Command("/bin/sh", "-c", "LD_PRELOAD=/nonexistent/hook.so GLIBC_TUNABLES=glibc.malloc.check=3 BASH_ENV=/tmp/x.sh HISTSIZE=0 VIGIL_OTHER=1 /bin/echo vigil-exec-test 'two words' 2>/dev/null; true")
	cmd.Dir = dir
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	e := c.find(t, event.TypeExec, "exec", func(e *event.Event) bool {
		return slices.Contains(e.Exec.Args, "vigil-exec-test")
	})
	want := []string{"/bin/echo", "vigil-exec-test", "two words"}
	if e.Exec.Exe != "/usr/bin/echo" || !slices.Equal(e.Exec.Args, want) || e.Exec.Cwd != dir || e.Exec.ArgsTruncated ||
		e.Exec.LDPreload != "/nonexistent/hook.so" || e.Exec.Env["GLIBC_TUNABLES"] != "glibc.malloc.check=3" ||
		e.Exec.Env["BASH_ENV"] != "/tmp/x.sh" || e.Exec.Env["HISTSIZE"] != "0" || e.Exec.Env["VIGIL_OTHER"] != "" || e.Exec.EnvTruncated {
		t.Errorf("exec %+v", e.Exec)
	}
	if e.Process.Exe != "/usr/bin/echo" || e.Process.ExecID == "" || e.Process.Ancestors[1].PID != uint32(os.Getpid()) {
		t.Errorf("process %+v", e.Process)
	}
	if e.Process.UID != 0 || e.Process.User != "root" || e.Process.Comm != "echo" || e.CgroupID == 0 || e.PidNS == 0 || e.MntNS == 0 {
		t.Errorf("header %+v", e)
	}
	c.find(t, event.TypeExit, "exit", func(x *event.Event) bool {
		return x.Process.PID == e.Process.PID && x.Exit.Code == 0
	})
	c.find(t, event.TypeFork, "fork", func(x *event.Event) bool {
		return x.Fork.ChildPID == e.Process.PID
	})
}

// A script started through its shebang is seen as its interpreter running
// the script; a pipeline's stdin and stdout are pipes with one inode, the
// programs at the two ends are linked, and a decoder piped into a shell is
// an alert.
func TestScriptsAndPipes(t *testing.T) {
	c, dir := startAgent(t)
	script := filepath.Join(dir, "vigil-script-test.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("./vigil-script-test.sh", "vigil-script-arg")
	cmd.Dir = dir
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	e := c.find(t, event.TypeExec, "shebang exec", func(e *event.Event) bool {
		return slices.Contains(e.Exec.Args, "vigil-script-arg")
	})
	if e.Exec.Exe != "/usr/bin/dash" || e.Exec.Filename != "./vigil-script-test.sh" || e.Exec.Script != script ||
		e.Exec.ProgramSource != event.ProgramScript {
		t.Errorf("shebang exec: exe %q filename %q script %q source %q", e.Exec.Exe, e.Exec.Filename, e.Exec.Script, e.Exec.ProgramSource)
	}
	// A program that is no script: no script, its stdio as given.
	if e.Exec.Stdin.Kind != "char" || e.Exec.Stdout.Kind != "char" { // exec.Cmd's /dev/null
		t.Errorf("stdio of the script: %+v %+v", e.Exec.Stdin, e.Exec.Stdout)
	}

	if err := exec.Command("/bin/bash", "-c", "/usr/bin/base64 -d <<< ZXhpdCAwCg== | /bin/sh -s vigil-pipe-reader").Run(); err != nil {
		t.Fatal(err)
	}
	sh := c.find(t, event.TypeExec, "the pipe's reader", func(e *event.Event) bool {
		return slices.Contains(e.Exec.Args, "vigil-pipe-reader")
	})
	b64 := c.find(t, event.TypeExec, "the pipe's writer", func(x *event.Event) bool {
		return x.Exec.Name == "base64" && x.Process.Ancestors[0].PID == sh.Process.Ancestors[0].PID
	})
	if sh.Exec.Stdin.Kind != "pipe" || b64.Exec.Stdout.Kind != "pipe" || sh.Exec.Stdin.Inode == 0 || sh.Exec.Stdin.Inode != b64.Exec.Stdout.Inode {
		t.Fatalf("pipe ends: reader stdin %+v, writer stdout %+v", sh.Exec.Stdin, b64.Exec.Stdout)
	}
	if b64.Exec.Stdin.Kind != "file" && b64.Exec.Stdin.Kind != "pipe" { // bash's here-string: a temporary file or a pipe
		t.Errorf("base64's stdin: %+v", b64.Exec.Stdin)
	}
	// Whichever executed second names the other.
	if sh.Exec.Stdin.Peer.Name != "base64" && (b64.Exec.Stdout.Peer.Name != "dash" || b64.Exec.Stdout.Peer.ProgramSource != event.ProgramStdin) {
		t.Errorf("no peer: reader's %+v, writer's %+v", sh.Exec.Stdin.Peer, b64.Exec.Stdout.Peer)
	}
	waitFor(t, "an alert on the pipeline", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return slices.ContainsFunc(c.alerts, func(a *engine.Alert) bool {
			return a.Rule == "Shell reading its program from a downloader or decoder" && a.Process.PID == sh.Process.PID ||
				a.Rule == "Downloader or decoder piped into a shell" && a.Process.PID == b64.Process.PID
		})
	})
}

func TestExitCodeAndLongArgv(t *testing.T) {
	c, _ := startAgent(t)
	long := strings.Repeat("A", 3000)
	_ = exec.Command("/bin/sh", "-c", "exit 7", "vigil-exit", long).Run()
	e := c.find(t, event.TypeExec, "exec", func(e *event.Event) bool {
		return slices.Contains(e.Exec.Args, "vigil-exit")
	})
	if !e.Exec.ArgsTruncated {
		t.Errorf("a 3000-byte argv was not flagged truncated")
	}
	x := c.find(t, event.TypeExit, "exit", func(x *event.Event) bool {
		return x.Process.PID == e.Process.PID
	})
	if x.Exit.Code != 7 {
		t.Errorf("exit code %d, want 7", x.Exit.Code)
	}
}

func TestPipelineParentChain(t *testing.T) {
	c, _ := startAgent(t)
	if err := exec.Command("/bin/bash", "-c", "echo vigil-pipe | grep -c vigil-pipe >/dev/null").Run(); err != nil {
		t.Fatal(err)
	}
	e := c.find(t, event.TypeExec, "grep exec", func(e *event.Event) bool {
		return slices.Contains(e.Exec.Args, "vigil-pipe") && strings.HasSuffix(e.Exec.Exe, "/grep")
	})
	anc := e.Process.Ancestors
	if len(anc) < 2 {
		t.Fatalf("ancestors %+v", anc)
	}
	if anc[0].Exe != "/usr/bin/bash" || !slices.Contains(anc[0].Args, "-c") {
		t.Errorf("parent is not the bash -c: %+v", anc[0])
	}
	idx := slices.IndexFunc(anc, func(a event.Ancestor) bool { return a.PID == uint32(os.Getpid()) })
	if idx < 0 {
		t.Fatalf("test process missing from the chain %+v", anc)
	}
	if self, _ := os.Executable(); anc[idx].Exe != self {
		t.Errorf("test process exe %q, want %q", anc[idx].Exe, self)
	}
	if e.Process.ParentExecID != anc[0].ExecID {
		t.Errorf("parent exec id %q, ancestor %q", e.Process.ParentExecID, anc[0].ExecID)
	}
}

func TestFileEvents(t *testing.T) {
	c, dir := startAgent(t)
	d := filepath.Join(dir, "files")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	helper(t, "files", d)
	a, b := filepath.Join(d, "a.txt"), filepath.Join(d, "b.txt")
	c.find(t, event.TypeOpen, "create", func(e *event.Event) bool {
		return e.File.Path == a && e.File.Write && slices.Contains(e.File.FlagList, "O_CREAT")
	})
	c.find(t, event.TypeRename, "rename", func(e *event.Event) bool {
		return e.File.Path == a && e.File.Target == b && e.Ret == 0
	})
	c.find(t, event.TypeChmod, "chmod setuid", func(e *event.Event) bool {
		return e.File.Path == b && e.File.Setuid && e.File.Mode == "4755"
	})
	c.find(t, event.TypeSymlink, "symlink", func(e *event.Event) bool {
		return e.File.Path == "b.txt" && e.File.Target == filepath.Join(d, "sym")
	})
	c.find(t, event.TypeLink, "link", func(e *event.Event) bool {
		return e.File.Path == b && e.File.Target == filepath.Join(d, "hard")
	})
	c.find(t, event.TypeTruncate, "truncate", func(e *event.Event) bool {
		return e.File.Path == b
	})
	c.find(t, event.TypeUnlink, "unlink", func(e *event.Event) bool {
		return e.File.Path == b
	})
}

func TestRelativeOpenWithDirfd(t *testing.T) {
	c, dir := startAgent(t)
	d := filepath.Join(dir, "rel")
	if err := os.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "secret.txt"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	helper(t, "openat", d)
	c.find(t, event.TypeOpen, "dirfd-relative read", func(e *event.Event) bool {
		return e.File.Path == filepath.Join(d, "secret.txt") && !e.File.Write
	})
	c.find(t, event.TypeOpen, "cwd-relative write", func(e *event.Event) bool {
		return e.File.Path == filepath.Join(d, "sub", "cwd-relative.txt") && e.File.Write
	})
}

func TestReadOpensOnlyUnderWatchedPrefixes(t *testing.T) {
	c, _ := startAgent(t)
	unwatched := filepath.Join(t.TempDir(), "plain.txt")
	if err := os.WriteFile(unwatched, []byte("p"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = exec.Command("/bin/cat", "/etc/shadow", unwatched).Run()
	c.find(t, event.TypeOpen, "watched read", func(e *event.Event) bool {
		return e.File.Path == "/etc/shadow"
	})
	time.Sleep(300 * time.Millisecond)
	if got := c.all(func(e *event.Event) bool { return e.Type == event.TypeOpen && e.File.Path == unwatched }); len(got) > 0 {
		t.Errorf("a read-open outside the watched prefixes was sent: %+v", got[0].File)
	}
}

func TestNetworkEvents(t *testing.T) {
	c, _ := startAgent(t)
	out := strings.Fields(helper(t, "net"))
	p4, _ := strconv.Atoi(out[0])
	p6, _ := strconv.Atoi(out[1])
	c.find(t, event.TypeBind, "bind", func(e *event.Event) bool {
		return e.Net.SrcAddr == "127.0.0.1" && (e.Net.Proto == "tcp" || e.Net.Proto == "mptcp")
	})
	c.find(t, event.TypeListen, "listen", func(e *event.Event) bool {
		return e.Net.SrcPort == uint16(p4) && e.Net.Family == "inet"
	})
	conn := c.find(t, event.TypeConnect, "connect v4", func(e *event.Event) bool {
		return e.Net.DstAddr == "127.0.0.1" && e.Net.DstPort == uint16(p4)
	})
	// Go connects non-blockingly: EINPROGRESS is the syscall's true result.
	if conn.Net.Proto != "tcp" || (conn.Ret != 0 && conn.Error != "EINPROGRESS") {
		t.Errorf("connect %+v ret %d", conn.Net, conn.Ret)
	}
	c.find(t, event.TypeAccept, "accept", func(e *event.Event) bool {
		return e.Net.SrcPort == uint16(p4) && e.Net.DstAddr == "127.0.0.1" && e.Net.DstPort == conn.Net.SrcPort
	})
	c.find(t, event.TypeConnect, "connect v6", func(e *event.Event) bool {
		return e.Net.DstAddr == "::1" && e.Net.DstPort == uint16(p6) && e.Net.Family == "inet6"
	})
	c.find(t, event.TypeTCPState, "tcp established", func(e *event.Event) bool {
		return e.Net.DstPort == uint16(p4) && e.Net.NewState == "ESTABLISHED"
	})
}

func TestPtraceTarget(t *testing.T) {
	c, _ := startAgent(t)
	target, _ := strconv.Atoi(strings.TrimSpace(helper(t, "ptrace")))
	c.find(t, event.TypePtrace, "ptrace attach", func(e *event.Event) bool {
		return e.Sys.Request == "PTRACE_ATTACH" && e.Sys.TargetPID == int64(target) && e.Ret == 0
	})
}

func TestSecuritySyscalls(t *testing.T) {
	c, dir := startAgent(t)
	pids := strings.Fields(helper(t, "sec", dir))
	if len(pids) != 3 {
		t.Fatalf("helper printed %q, want three pids", pids)
	}
	killed, _ := strconv.Atoi(pids[0])
	pidfdKilled, _ := strconv.Atoi(pids[1])
	queued, _ := strconv.Atoi(pids[2])
	checks := []struct {
		what  string
		typ   event.Type
		match func(e *event.Event) bool
	}{
		{"memfd_create", event.TypeMemfdCreate, func(e *event.Event) bool {
			return e.Sys.ObjName == "vigil-memfd"
		}},
		{"prctl", event.TypePrctl, func(e *event.Event) bool {
			return e.Sys.ObjName == "vigil-renamed"
		}},
		{"setresuid", event.TypeSetID, func(e *event.Event) bool {
			return e.Sys.Name == "setresuid" && slices.Equal(e.Sys.IDs, []int64{0, 0, 0})
		}},
		{"capset", event.TypeCapset, func(e *event.Event) bool {
			return e.Sys.Effective != 0
		}},
		{"userfaultfd", event.TypeUserfaultfd, func(e *event.Event) bool { return true }},
		{"bpf", event.TypeBPF, func(e *event.Event) bool {
			return e.Sys.Cmd == "BPF_MAP_CREATE" && e.Sys.ObjName == "vigiltest"
		}},
		{"dns", event.TypeDNS, func(e *event.Event) bool {
			return e.DNS.Query == "vigil-test.example.com" && e.DNS.QType == "A" && e.Net.DstPort == 53
		}},
		{"dns by write on a connected socket", event.TypeDNS, func(e *event.Event) bool {
			return e.DNS.Query == "write.vigil-test.example.com" && e.DNS.QType == "A" && e.Net.DstPort == 53 && e.Net.DstAddr == "127.0.0.1"
		}},
		{"dns by sendmsg", event.TypeDNS, func(e *event.Event) bool {
			return e.DNS.Query == "msg.vigil-test.example.com" && e.DNS.QType == "TXT" && e.Net.DstPort == 53
		}},
		{"dns by sendmmsg, first", event.TypeDNS, func(e *event.Event) bool {
			return e.DNS.Query == "mmsg.vigil-test.example.com" && e.DNS.QType == "A" && e.DNS.ID == 0x4567
		}},
		{"dns by sendmmsg, second", event.TypeDNS, func(e *event.Event) bool {
			return e.DNS.Query == "mmsg.vigil-test.example.com" && e.DNS.QType == "AAAA" && e.DNS.ID == 0x4568
		}},
		{"unshare", event.TypeUnshare, func(e *event.Event) bool {
			return slices.Contains(e.Sys.FlagList, "CLONE_NEWNS")
		}},
		{"mount", event.TypeMount, func(e *event.Event) bool {
			return e.Sys.FSType == "tmpfs" && e.Sys.Target == filepath.Join(dir, "mnt") && e.Sys.Source == "vigil-tmpfs"
		}},
		{"umount", event.TypeUmount, func(e *event.Event) bool {
			return e.Sys.Target == filepath.Join(dir, "mnt")
		}},
		{"setns", event.TypeSetns, func(e *event.Event) bool {
			return slices.Contains(e.Sys.FlagList, "CLONE_NEWUTS") && e.Sys.NSInode != 0
		}},
		{"kill", event.TypeKill, func(e *event.Event) bool {
			return e.Sys.TargetPID == int64(killed) && e.Sys.Signal == 15
		}},
		{"pidfd_send_signal", event.TypeKill, func(e *event.Event) bool {
			return e.Sys.Name == "pidfd_send_signal" && e.Sys.TargetPID == int64(pidfdKilled) && e.Sys.Signal == 15 && e.Ret == 0
		}},
		{"rt_sigqueueinfo", event.TypeKill, func(e *event.Event) bool {
			return e.Sys.Name == "rt_sigqueueinfo" && e.Sys.TargetPID == int64(queued) && e.Sys.Signal == 15 && e.Ret == 0
		}},
		{"dup socket onto stdin", event.TypeDupSocket, func(e *event.Event) bool {
			return e.Sys.NewFD != nil && *e.Sys.NewFD == 0 && e.Sys.Net.DstAddr == "127.0.0.1"
		}},
	}
	for _, ch := range checks {
		t.Run(ch.what, func(t *testing.T) { c.find(t, ch.typ, ch.what, ch.match) })
	}
}

// Directories made (and below /dev, where write-opens are otherwise not
// reported), a regular file created below /dev, file times set to a past
// date through every syscall that can, and packet and ICMP sockets are
// events; "now" timestamps, /dev/null and TCP sockets are not.
func TestDirsTimesSockets(t *testing.T) {
	c, dir := startAgent(t)
	pid, err := strconv.Atoi(strings.TrimSpace(helper(t, "dirs-times-sockets", dir)))
	if err != nil {
		t.Fatal(err)
	}
	mine := func(e *event.Event) bool { return e.Process.PID == uint32(pid) }
	c.find(t, event.TypeMkdir, "mkdir", func(e *event.Event) bool {
		return mine(e) && e.File.Path == filepath.Join(dir, "vigil-newdir") && e.File.Mode == "0750" && e.Ret == 0
	})
	c.find(t, event.TypeMkdir, "mkdirat", func(e *event.Event) bool {
		return mine(e) && e.File.Path == filepath.Join(dir, "vigil-at-dir") && e.File.Mode == "0700"
	})
	c.find(t, event.TypeMkdir, "mkdir below /dev", func(e *event.Event) bool {
		return mine(e) && e.File.Path == "/dev/vigil-test-dir"
	})
	c.find(t, event.TypeOpen, "regular file created below /dev", func(e *event.Event) bool {
		return mine(e) && e.File.Path == "/dev/vigil-test-file" && e.File.Write
	})
	for _, name := range []string{"utimensat", "futimens", "utimes", "utime"} {
		c.find(t, event.TypeUtimes, name, func(e *event.Event) bool {
			if !mine(e) || e.File.Path != filepath.Join(dir, "vigil-times-"+name) {
				return false
			}
			atime := int64(helperPast)
			if name == "utimensat" {
				atime = 0 // omitted
			}
			return e.File.MTime == helperPast && e.File.ATime == atime && e.File.Backdated
		})
	}
	c.find(t, event.TypeSocket, "packet socket", func(e *event.Event) bool {
		return mine(e) && e.Sys.Family == "packet" && e.Sys.SockType == "raw" && e.Sys.Protocol == 0x0300 && e.Ret >= 0
	})
	c.find(t, event.TypeSocket, "icmp socket", func(e *event.Event) bool {
		return mine(e) && e.Sys.Family == "inet" && e.Sys.SockType == "dgram" && e.Sys.Protocol == 1
	})
	for _, e := range c.all(mine) {
		switch {
		case e.Type == event.TypeUtimes && strings.HasSuffix(e.File.Path, "vigil-times-now"):
			t.Errorf("a timestamp set to now was reported: %+v", e.File)
		case e.Type == event.TypeOpen && e.File.Path == "/dev/null":
			t.Errorf("an open of /dev/null was reported")
		case e.Type == event.TypeSocket && e.Sys.Family == "inet" && e.Sys.SockType == "stream":
			t.Errorf("a TCP socket was reported")
		}
	}
}

// A process moved into a real cgroup named like a docker container's scope
// carries that container id.
func TestContainerIDFromRealCgroup(t *testing.T) {
	c, _ := startAgent(t)
	base := cgroup2Root(t)
	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	id := hex.EncodeToString(buf)
	cg := filepath.Join(base, "vigil-test.slice", "docker-"+id+".scope")
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = os.Remove(cg)
		_ = os.Remove(filepath.Dir(cg))
	}()
	helper(t, "cgroup-exec", cg)
	e := c.find(t, event.TypeExec, "exec in container", func(e *event.Event) bool {
		return e.Exec.Exe == "/usr/bin/sleep" && slices.Contains(e.Exec.Args, "0.3")
	})
	if e.Container.ID != id || e.Container.Runtime != "docker" {
		t.Errorf("container %+v, want docker %s", e.Container, id)
	}
}

func cgroup2Root(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		for i, x := range fl {
			if x == "-" && i+1 < len(fl) && fl[i+1] == "cgroup2" {
				return fl[4]
			}
		}
	}
	t.Fatal("no cgroup2 mount")
	return ""
}

// An exec storm of short processes loses no exec or exit event.
func TestExecStormLosesNothing(t *testing.T) {
	c, _ := startAgent(t)
	n := 10000
	if testing.Short() {
		n = 1000
	}
	start := time.Now()
	helper(t, "storm", strconv.Itoa(n))
	t.Logf("%d processes in %v", n, time.Since(start))
	isTrue := func(e *event.Event) bool { return e.Type == event.TypeExec && e.Exec.Exe == "/usr/bin/true" }
	deadline := time.Now().Add(30 * time.Second)
	var execs, exits int
	for time.Now().Before(deadline) {
		pids := map[uint32]bool{}
		for _, e := range c.all(isTrue) {
			pids[e.Process.PID] = true
		}
		execs = len(pids)
		exits = len(c.all(func(e *event.Event) bool { return e.Type == event.TypeExit && pids[e.Process.PID] }))
		if execs >= n && exits >= n {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if execs != n || exits != n {
		t.Fatalf("exec storm of %d: %d exec and %d exit events", n, execs, exits)
	}
}

// A kill rule stops a real reverse shell within the same second, and the
// alert records the kill.
func TestKillRuleStopsReverseShell(t *testing.T) {
	c, _ := startAgent(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			defer conn.Close()
			time.Sleep(10 * time.Second) // hold the connection; send nothing
		}
	}()
	cmd := exec.Command(os.Args[0], ln.Addr().String())
	cmd.Env = append(os.Environ(), helperEnv+"=revshell")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	took := time.Since(start)
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the reverse shell was not killed: %v (%v)", err, cmd.ProcessState)
	}
	if took > time.Second {
		t.Errorf("killed after %v, want within a second", took)
	}
	a := c.alert(t, "Reverse shell", func(a *engine.Alert) bool { return a.Process.PID == uint32(cmd.Process.Pid) })
	if !a.Action.Killed || a.Action.Type != "kill" || a.Severity.String() != "critical" || len(a.Events) != 1 {
		t.Errorf("alert %+v", a.Action)
	}
	t.Logf("reverse shell killed %v after start", took)
}

// A reload with a malformed rule file keeps the running rules.
func TestReloadRejectsBadRulesAndKeepsOld(t *testing.T) {
	startAgent(t)
	rulesDir := filepath.Join(sharedDir, "rules.d")
	before := sharedAgent.Engine().Ruleset()
	bad := filepath.Join(rulesDir, "60-bad.yaml")
	if err := os.WriteFile(bad, []byte("- rule: Broken\n  desc: d\n  events: [exec]\n  condition: exec.name ==\n  output: o\n  mitre: {tactic: t, technique: T1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(bad)
	err := sharedAgent.Reload()
	if err == nil || !strings.Contains(err.Error(), "60-bad.yaml:1: rule \"Broken\": condition") {
		t.Fatalf("reload of a broken file: %v", err)
	}
	if sharedAgent.Engine().Ruleset() != before {
		t.Fatal("a failed reload replaced the running rules")
	}
	os.Remove(bad)
	if err := sharedAgent.Reload(); err != nil {
		t.Fatal(err)
	}
	if sharedAgent.Engine().Ruleset() == before {
		t.Error("a good reload did not install the new rules")
	}
}

// A reload makes the kernel's prefix tries exactly what the new rules need:
// prefixes no rule needs any more are removed (they used to stay), and a
// set that does not fit is refused whole, with the old rules and filters
// kept (it used to be applied in part).
func TestReloadReplacesKernelPrefixes(t *testing.T) {
	startAgent(t)
	rulesDir := filepath.Join(sharedDir, "rules.d")
	file := filepath.Join(rulesDir, "61-watch.yaml")
	defer func() { os.Remove(file); _ = sharedAgent.Reload() }()
	write := func(prefixes ...string) {
		var b strings.Builder
		b.WriteString("- rule: Watch test\n  desc: d\n  events: [open]\n  condition: file.path startsWith \"/srv/vigil-reload\"\n  output: o\n  mitre: {tactic: t, technique: T1}\n  watch:\n")
		for _, p := range prefixes {
			b.WriteString("    - " + p + "\n")
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	has := func(p string) bool {
		ps, err := sharedAgent.KernelPrefixes("watched_prefixes")
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(ps, p)
	}
	write("/srv/vigil-reload-a/")
	if err := sharedAgent.Reload(); err != nil {
		t.Fatal(err)
	}
	if !has("/srv/vigil-reload-a/") {
		t.Fatal("new prefix not in the kernel")
	}
	write("/srv/vigil-reload-b/")
	if err := sharedAgent.Reload(); err != nil {
		t.Fatal(err)
	}
	if has("/srv/vigil-reload-a/") || !has("/srv/vigil-reload-b/") {
		t.Error("a stale prefix stayed after reload")
	}
	before, _ := sharedAgent.KernelPrefixes("watched_prefixes")
	rs := sharedAgent.Engine().Ruleset()
	var many []string
	for i := 0; i < 600; i++ {
		many = append(many, fmt.Sprintf("/srv/vigil-reload-%d/", i))
	}
	write(many...)
	if err := sharedAgent.Reload(); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("600 prefixes: %v", err)
	}
	after, _ := sharedAgent.KernelPrefixes("watched_prefixes")
	if !slices.Equal(before, after) || sharedAgent.Engine().Ruleset() != rs {
		t.Errorf("a refused reload changed the filters or rules: %d -> %d prefixes", len(before), len(after))
	}
}

// waitFor polls ok for 10 s.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The kernel remembers read-opens it did not send (by dentry, parent,
// name, mount and inode), so the same file opened again skips the path
// walk; a name that moves and a prefix that is added must make it forget.
// A directory renamed into a watched one keeps its files' dentries,
// parents and names: only the generation moved by the rename tells.
func TestRememberedReadsForgottenWhenNamesMove(t *testing.T) {
	c, _ := startAgent(t)
	outside := filepath.Join(filepath.Dir(sharedDir), fmt.Sprintf("vigil-unwatched-%d", os.Getpid()))
	if err := os.MkdirAll(filepath.Join(outside, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(outside)
	file := filepath.Join(outside, "sub", "data.txt")
	if err := os.WriteFile(file, []byte("d"), 0o644); err != nil {
		t.Fatal(err)
	}
	reads := func(path string) []*event.Event {
		return c.all(func(e *event.Event) bool { return e.Type == event.TypeOpen && e.File.Path == path && !e.File.Write })
	}
	// Unwatched: not sent, now remembered.
	for range 3 {
		_ = exec.Command("/bin/cat", file).Run()
	}
	time.Sleep(200 * time.Millisecond)
	if got := reads(file); len(got) > 0 {
		t.Fatalf("an unwatched read was sent: %+v", got[0].File)
	}
	// The directory moves under the watched prefix: the same dentries.
	moved := filepath.Join(sharedDir, fmt.Sprintf("moved-%d", time.Now().UnixNano()))
	if err := os.Rename(filepath.Join(outside, "sub"), moved); err != nil {
		t.Fatal(err)
	}
	_ = exec.Command("/bin/cat", filepath.Join(moved, "data.txt")).Run()
	c.find(t, event.TypeOpen, "a read after its directory moved into a watched one", func(e *event.Event) bool {
		return e.File.Path == filepath.Join(moved, "data.txt") && !e.File.Write
	})

	// Unlinks and links move no other name, so they keep what is
	// remembered (a build unlinks its temporary files at every compiler
	// run); a link into the watched directory is a new name, walked and
	// sent, and the remembered name stays unsent.
	kept := filepath.Join(outside, "kept.txt")
	if err := os.WriteFile(kept, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_ = exec.Command("/bin/cat", kept).Run()
	}
	tmp := filepath.Join(outside, "tmp.txt")
	_ = os.WriteFile(tmp, []byte("t"), 0o644)
	_ = os.Remove(tmp)
	linked := filepath.Join(sharedDir, fmt.Sprintf("linked-%d", time.Now().UnixNano()))
	if err := os.Link(kept, linked); err != nil {
		t.Fatal(err)
	}
	_ = exec.Command("/bin/cat", linked).Run()
	_ = exec.Command("/bin/cat", kept).Run()
	c.find(t, event.TypeOpen, "a read through a link into a watched directory", func(e *event.Event) bool {
		return e.File.Path == linked && !e.File.Write
	})
	if got := reads(kept); len(got) > 0 {
		t.Fatalf("an unwatched read was sent: %+v", got[0].File)
	}

	// A prefix added by a reload: a remembered file under it is sent.
	other := filepath.Join(outside, "later.txt")
	if err := os.WriteFile(other, []byte("l"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_ = exec.Command("/bin/cat", other).Run()
	}
	time.Sleep(200 * time.Millisecond)
	if got := reads(other); len(got) > 0 {
		t.Fatalf("an unwatched read was sent: %+v", got[0].File)
	}
	rules := filepath.Join(sharedDir, "rules.d", "62-watch-later.yaml")
	defer func() { os.Remove(rules); _ = sharedAgent.Reload() }()
	if err := os.WriteFile(rules, []byte("- rule: Watch later\n  desc: d\n  events: [open]\n  condition: file.path startsWith \""+outside+
		"/\"\n  output: o\n  mitre: {tactic: t, technique: T1}\n  watch:\n    - "+outside+"/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sharedAgent.Reload(); err != nil {
		t.Fatal(err)
	}
	_ = exec.Command("/bin/cat", other).Run()
	c.find(t, event.TypeOpen, "a remembered read under a prefix added since", func(e *event.Event) bool {
		return e.File.Path == other && !e.File.Write
	})
}
