package simulate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FakeIMDS is the loopback address that stands in for the metadata service.
const FakeIMDS = "127.0.0.254"

// ChildCommand is the hidden subcommand that runs a scenario's child part.
const ChildCommand = "__simulate-child"

// Scenario is one re-enactment.
type Scenario struct {
	Name  string
	Desc  string
	Rules []string
	Run   func(*Env) error
	// Unsupported, when it returns a reason, skips the scenario on this host.
	Unsupported func() string
}

// Env is what a scenario runs with.
type Env struct {
	// Dir is the scratch directory, removed afterwards. It is outside the
	// temporary directories, so the helpers run from it do not raise
	// "Execution from a temporary directory" themselves.
	Dir string
	// TmpDir is under the system's temporary directory, for the
	// scenarios that re-enact running a payload from there.
	TmpDir   string
	self     string // a copy of this binary, named like no known tool
	AgentPID int    // the running agent's pid, if known
	Out      io.Writer
}

// Result is the outcome of one scenario.
type Result struct {
	Name    string   `json:"name"`
	Rules   []string `json:"rules"`
	Skipped string   `json:"skipped,omitempty"`
	Error   string   `json:"error,omitempty"`
	// Start and End bound the scenario's activity (alerts are matched to
	// it by their time).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Verified is set once the running agent was asked: Missing lists the
	// expected rules it did not raise.
	Verified bool     `json:"verified"`
	Missing  []string `json:"missing,omitempty"`
}

// Passed tells whether the scenario ran and every expected alert came.
func (r Result) Passed() bool {
	return r.Error == "" && r.Skipped == "" && r.Verified && len(r.Missing) == 0
}

// Raised is one alert of the running agent.
type Raised struct {
	Rule string
	Time time.Time
}

// Slack is how far an alert's time may lie outside its scenario's window
// (the agent converts kernel boot time to wall-clock time).
const Slack = 250 * time.Millisecond

// Verify matches the agent's alerts to the scenarios that ran: a scenario
// passes when each of its rules raised an alert within its window. It
// reports whether every scenario that ran is complete.
func Verify(res []Result, raised []Raised) bool {
	complete := true
	for i := range res {
		r := &res[i]
		if r.Error != "" || r.Skipped != "" {
			continue
		}
		r.Verified, r.Missing = true, nil
		for _, rule := range r.Rules {
			found := false
			for _, a := range raised {
				if a.Rule == rule && !a.Time.Before(r.Start.Add(-Slack)) && !a.Time.After(r.End.Add(Slack)) {
					found = true
					break
				}
			}
			if !found {
				r.Missing = append(r.Missing, rule)
				complete = false
			}
		}
	}
	return complete
}

// Scenarios lists every scenario, by name.
func Scenarios() []Scenario {
	out := append([]Scenario(nil), all...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Run runs the named scenarios (all when names is empty).
func Run(ctx context.Context, names []string, agentPID int, out io.Writer) ([]Result, error) {
	byName := map[string]Scenario{}
	for _, s := range all {
		byName[s.Name] = s
	}
	var todo []Scenario
	if len(names) == 0 {
		todo = Scenarios()
	}
	for _, n := range names {
		s, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("no scenario %q (vigil simulate --list)", n)
		}
		todo = append(todo, s)
	}
	dir, err := scratchDir()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // nobody runs helpers from it
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "vigil-simulate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	env := &Env{Dir: dir, TmpDir: tmp, AgentPID: agentPID, Out: out}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if env.self, err = env.copyExe(self, "sim-helper"); err != nil {
		return nil, err
	}
	var res []Result
	for _, s := range todo {
		if ctx.Err() != nil {
			break
		}
		r := Result{Name: s.Name, Rules: s.Rules, Start: time.Now()}
		if s.Unsupported != nil {
			r.Skipped = s.Unsupported()
		}
		if r.Skipped == "" {
			if err := s.Run(env); err != nil {
				r.Error = err.Error()
			}
		}
		r.End = time.Now()
		res = append(res, r)
	}
	return res, nil
}

// scratchDir makes the scratch directory outside the temporary
// directories: under /var/lib (usually the filesystem of /usr, so helpers
// can be hard links) or /run.
func scratchDir() (string, error) {
	var err error
	for _, parent := range []string{"/var/lib", "/run"} {
		var dir string
		if dir, err = os.MkdirTemp(parent, "vigil-simulate-"); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("scratch directory (needs root): %w", err)
}

// copyExe puts a program into the scratch directory under a new name: a
// hard link where the filesystems allow (nothing is written, so the helper
// is no "dropped file"), else a copy.
func (e *Env) copyExe(src, name string) (string, error) {
	return linkOrCopy(src, filepath.Join(e.Dir, name))
}

// copyReal always copies: for a helper whose mode is changed afterwards (a
// hard link shares its inode with the system's program).
func (e *Env) copyReal(src, name string) (string, error) {
	dst := filepath.Join(e.Dir, name)
	return dst, copyNew(src, dst)
}

// linkOrCopy makes dst a hard link to src, or a copy. An existing dst is
// removed first, never written: it may be a link to a system program.
func linkOrCopy(src, dst string) (string, error) {
	if real, err := filepath.EvalSymlinks(src); err == nil {
		src = real
	}
	if err := os.Remove(dst); err != nil && !os.IsNotExist(err) {
		return "", err
	}
	if err := os.Link(src, dst); err == nil {
		return dst, nil
	}
	return dst, copyNew(src, dst)
}

// copyNew copies src to a new file dst (O_EXCL: never through an existing
// file or link).
func copyNew(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.Remove(dst); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// tool returns a copy of /bin/true named like a tool.
func (e *Env) tool(name string) (string, error) {
	p := filepath.Join(e.Dir, "tools", name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return linkOrCopy("/bin/true", p)
}

// run executes a command and waits; its exit status does not matter.
func (e *Env) run(name string, args ...string) error { return e.runEnv(nil, nil, name, args...) }

// runEnv is run with extra environment variables and, when attr is given,
// other credentials (in /: the scratch directory is root's alone).
func (e *Env) runEnv(attr *syscall.SysProcAttr, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.SysProcAttr = e.Dir, attr
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if attr != nil && attr.Credential != nil {
		cmd.Dir = "/"
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	waitOrKill(cmd)
	return nil
}

// waitOrKill waits for a started command, killing it after 10 s. Its exit
// status does not matter: only what it did.
func waitOrKill(cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// pipe runs writer | reader with no shell between them (input, when given,
// is the writer's stdin), starting the reader first when readerFirst: a
// started command has executed its program, so the order is the kernel's.
func (e *Env) pipe(writer, reader []string, readerFirst bool, input []byte) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	wc := exec.Command(writer[0], writer[1:]...)
	wc.Dir, wc.Stdout = e.Dir, w
	if input != nil {
		wc.Stdin = bytes.NewReader(input)
	}
	rc := exec.Command(reader[0], reader[1:]...)
	rc.Dir, rc.Stdin = e.Dir, r
	first, second := wc, rc
	if readerFirst {
		first, second = rc, wc
	}
	err = first.Start()
	if err == nil {
		if err = second.Start(); err != nil {
			_ = first.Process.Kill()
		}
	}
	// Only the children hold the pipe now: the reader sees EOF when the
	// writer ends.
	r.Close()
	w.Close()
	for _, c := range []*exec.Cmd{first, second} {
		if c.Process != nil {
			waitOrKill(c)
		}
	}
	return err
}

// writeAs copies src to dst with a copy of cp named name: dst's writer is
// "name" (a downloader, a linker).
func (e *Env) writeAs(name, src, dst string) error {
	cp, err := e.copyExe("/bin/cp", name)
	if err != nil {
		return err
	}
	return e.run(cp, src, dst)
}

// runTool runs a /bin/true copy named like a tool with arguments.
func (e *Env) runTool(name string, args ...string) error {
	p, err := e.tool(name)
	if err != nil {
		return err
	}
	return e.run(p, args...)
}

// child runs this binary's child part of a scenario.
func (e *Env) child(action string, args ...string) error {
	return e.childAs(e.self, nil, action, args...)
}

func (e *Env) childAs(bin string, attr *syscall.SysProcAttr, action string, args ...string) error {
	cmd := exec.Command(bin, append([]string{ChildCommand, action}, args...)...)
	cmd.Dir = e.Dir
	cmd.SysProcAttr = attr
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", action, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// sandbox runs child actions in a private mount namespace with tmpfs over
// the system directories they write.
func (e *Env) sandbox(actions ...string) error {
	return e.childAs(e.self, &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}, "sandbox", actions...)
}

// listen opens a loopback TCP listener that accepts and holds connections.
func listen() (net.Listener, int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				time.Sleep(2 * time.Second)
				c.Close()
			}()
		}
	}()
	return ln, ln.Addr().(*net.TCPAddr).Port, nil
}

func itoa(i int) string { return strconv.Itoa(i) }

func command(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
