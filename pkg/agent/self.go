package agent

import (
	"os"
	"syscall"

	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/pipeline"
)

// selfFilter drops the agent's own events that the kernel filter missed.
// The kernel compares the global tgid with os.Getpid(), which differ when
// the agent runs in a PID namespace (a container, a systemd-nspawn guest,
// a DaemonSet without hostPID); events carry the pid as seen from the
// task's own namespace and that namespace's inode, which match the agent's
// wherever it runs.
type selfFilter struct {
	pipeline.Enricher
	pidns uint32
	pid   uint32
}

func newSelfFilter(en pipeline.Enricher) selfFilter {
	f := selfFilter{Enricher: en, pid: uint32(os.Getpid())}
	if st, err := os.Stat("/proc/self/ns/pid"); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			f.pidns = uint32(sys.Ino)
		}
	}
	return f
}

// Drop reports whether e is the agent's own activity.
func (f selfFilter) Drop(e *event.Event) bool {
	return f.pidns != 0 && e.PidNS == f.pidns && e.Process.NsPID == f.pid
}
