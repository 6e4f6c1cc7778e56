package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/proc"
)

// Killer ends a process.
type Killer interface {
	// Kill sends SIGKILL to pid if it is still the process that started at
	// startTicks (pid reuse must not kill an innocent process).
	Kill(pid uint32, startTicks uint64) error
}

// ProcKiller kills through kill(2) after checking /proc/<pid>/stat.
type ProcKiller struct{ Root string }

// Kill implements Killer.
func (k ProcKiller) Kill(pid uint32, startTicks uint64) error {
	root := k.Root
	if root == "" {
		root = "/"
	}
	if startTicks != 0 {
		b, err := os.ReadFile(filepath.Join(root, "proc", strconv.FormatUint(uint64(pid), 10), "stat"))
		if err != nil {
			return err
		}
		st, err := proc.ParseStat(b)
		if err != nil {
			return err
		}
		if st.StartTicks != startTicks {
			return errPIDReused
		}
	}
	return syscall.Kill(int(pid), syscall.SIGKILL)
}

type killError string

func (e killError) Error() string { return string(e) }

const errPIDReused = killError("the pid now belongs to another process")

// startTicks reads the start time out of an exec id (boot:start:pid).
func startTicks(execID string) uint64 {
	parts := strings.Split(execID, ":")
	if len(parts) != 3 {
		return 0
	}
	v, _ := strconv.ParseUint(parts[1], 10, 64)
	return v
}

// respond applies a kill action to the event's process, within the safety
// rules: never pid 1, kernel threads, the agent, or protected executables.
func (e *Engine) respond(ev *event.Event) ActionResult {
	p := ev.Process
	r := ActionResult{Type: "kill", PID: p.PID}
	switch {
	case e.cfg.MonitorOnly:
		r.Skipped = "monitor-only"
	case p.PID <= 1:
		r.Skipped = "pid 1"
	case int(p.PID) == e.cfg.AgentPID:
		r.Skipped = "the agent itself"
	case p.PPID == 2 || strings.HasPrefix(p.Exe, "["):
		r.Skipped = "kernel thread"
	case e.protected(p.Exe):
		r.Skipped = "protected: " + p.Exe
	default:
		if err := e.killer.Kill(p.PID, startTicks(p.ExecID)); err != nil {
			r.Error = err.Error()
		} else {
			r.Killed = true
			e.Stats.Kills.Add(1)
		}
	}
	return r
}

func (e *Engine) protected(exe string) bool {
	for _, p := range e.cfg.Protect {
		if p == exe {
			return true
		}
	}
	return false
}
