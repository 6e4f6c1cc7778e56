package agent

import (
	"os"
	"syscall"

	"github.com/vigil-sec/vigil/pkg/pipeline"
)

// self is how events name the agent's own process (see pipeline.Self).
func self() pipeline.Self {
	s := pipeline.Self{NsPID: uint32(os.Getpid())}
	if st, err := os.Stat("/proc/self/ns/pid"); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			s.PidNS = uint32(sys.Ino)
		}
	}
	return s
}
