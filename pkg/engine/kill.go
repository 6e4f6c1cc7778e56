package engine

import (
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/pkg/event"
)

// Killer ends a process.
type Killer interface {
	// Kill sends SIGKILL to pid if it is still the process that started at
	// startTicks (pid reuse must not kill an innocent process).
	Kill(pid uint32, startTicks uint64) error
}

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
	case e.killer == nil:
		r.Skipped = "no kill response here"
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
