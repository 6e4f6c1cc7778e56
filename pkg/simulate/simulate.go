package simulate

import (
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
	Dir      string // scratch directory, removed afterwards
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
	dir, err := os.MkdirTemp("", "vigil-simulate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // nobody runs helpers from it
		return nil, err
	}
	env := &Env{Dir: dir, AgentPID: agentPID, Out: out}
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
		r := Result{Name: s.Name, Rules: s.Rules}
		if s.Unsupported != nil {
			r.Skipped = s.Unsupported()
		}
		if r.Skipped == "" {
			if err := s.Run(env); err != nil {
				r.Error = err.Error()
			}
		}
		res = append(res, r)
	}
	return res, nil
}

// copyExe copies a program into the scratch directory under a new name.
func (e *Env) copyExe(src, name string) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(e.Dir, name)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		return "", err
	}
	return dst, nil
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
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		return "", err
	}
	return p, os.WriteFile(p, b, 0o755)
}

// run executes a command and waits; its exit status does not matter.
func (e *Env) run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = e.Dir
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return nil
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
