// Package response holds the agent's local responses to alerts: today
// the kill of a process (the only user of kill(2)), behind engine.Killer.
// Agent-only: the backend runs the same engine without it.
package response

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/vigil-sec/vigil/pkg/proc"
)

// ErrPIDReused is returned when the pid now belongs to another process.
var ErrPIDReused = errors.New("the pid now belongs to another process")

// ProcKiller kills through kill(2) after checking /proc/<pid>/stat.
type ProcKiller struct{ Root string }

// Kill implements engine.Killer.
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
			return ErrPIDReused
		}
	}
	return syscall.Kill(int(pid), syscall.SIGKILL)
}
