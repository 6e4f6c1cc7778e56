package sensor

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Capability numbers (linux/capability.h).
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// ErrNoPrivilege says the process may not load BPF programs.
var ErrNoPrivilege = errors.New("loading the BPF probes needs root, or CAP_BPF and CAP_PERFMON " +
	"(CAP_SYS_ADMIN on kernels before 5.8): run it with sudo, or grant the capabilities " +
	"(the vigil-agent unit does)")

// CanLoad tells, before anything is loaded, whether this process holds the
// capabilities to load and attach BPF programs: CAP_BPF and CAP_PERFMON
// where the kernel knows them, else CAP_SYS_ADMIN. (Without them libbpf's
// own advice is to raise RLIMIT_MEMLOCK, which is not the problem.)
func CanLoad() error {
	eff, err := effectiveCaps()
	if err != nil {
		return nil // cannot tell: let the load say what is wrong
	}
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	if has(capSysAdmin) || (kernelKnowsCapBPF() && has(capBPF) && has(capPerfmon)) {
		return nil
	}
	return ErrNoPrivilege
}

func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

// kernelKnowsCapBPF: CAP_BPF exists from Linux 5.8.
func kernelKnowsCapBPF() bool {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && n >= capBPF
}
