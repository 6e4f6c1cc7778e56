package preflight

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/pkg/sensor"
)

// Status of one check.
const (
	OK   = "ok"
	Warn = "warn"
	Fail = "fail"
	Info = "info"
)

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// Report is the whole preflight.
type Report struct {
	Kernel   string           `json:"kernel"`
	Checks   []Check          `json:"checks"`
	Features []sensor.Feature `json:"program_types"`
	OK       bool             `json:"ok"`
}

func (r *Report) add(name, status, format string, a ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Status: status, Detail: fmt.Sprintf(format, a...)})
}

// Run performs every check. It mounts tracefs, bpffs and securityfs when
// they are absent and it runs as root.
func Run() Report {
	var r Report
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		r.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	major, minor := ParseKernelVersion(r.Kernel)
	if major > 5 || (major == 5 && minor >= 8) {
		r.add("kernel", OK, "%s (ring buffer needs >= 5.8)", r.Kernel)
	} else {
		r.add("kernel", Fail, "%s is older than 5.8: no BPF ring buffer", r.Kernel)
	}

	if st, err := os.Stat("/sys/kernel/btf/vmlinux"); err == nil && st.Size() > 0 {
		r.add("btf", OK, "/sys/kernel/btf/vmlinux present (%d bytes): CO-RE works", st.Size())
	} else {
		r.add("btf", Fail, "/sys/kernel/btf/vmlinux missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y")
	}

	caps, err := readCapEff("/proc/self/status")
	root := os.Geteuid() == 0
	switch {
	case err != nil:
		r.add("capabilities", Warn, "cannot read: %v", err)
	case HasCap(caps, unix.CAP_SYS_ADMIN) || (HasCap(caps, unix.CAP_BPF) && HasCap(caps, unix.CAP_PERFMON)):
		r.add("capabilities", OK, "effective %#x includes CAP_BPF+CAP_PERFMON or CAP_SYS_ADMIN", caps)
	default:
		r.add("capabilities", Fail, "effective %#x lacks CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN): run as root", caps)
	}

	for _, m := range []sensor.Mount{sensor.Tracefs, sensor.BPFFS, sensor.Securityfs} {
		mounted, err := sensor.Mounted("/proc/self/mountinfo", m)
		switch {
		case err != nil:
			r.add(m.FSType, Warn, "cannot read mountinfo: %v", err)
		case mounted:
			r.add(m.FSType, OK, "mounted at %s", m.Path)
		case !root:
			st := Warn
			if m == sensor.Tracefs {
				st = Fail
			}
			r.add(m.FSType, st, "not mounted at %s and not root to mount it", m.Path)
		default:
			if _, err := sensor.EnsureMounted(m); err != nil {
				st := Warn
				if m == sensor.Tracefs {
					st = Fail
				}
				r.add(m.FSType, st, "%v", err)
			} else {
				r.add(m.FSType, OK, "was not mounted: mounted at %s", m.Path)
			}
		}
	}

	if b, err := os.ReadFile("/sys/kernel/security/lockdown"); err == nil {
		mode := ParseLockdown(string(b))
		switch mode {
		case "confidentiality":
			r.add("lockdown", Fail, "%s: BPF may not read kernel memory; the sensor cannot run", mode)
		case "integrity":
			r.add("lockdown", OK, "%s: BPF tracing with probe_read is allowed; kernel writes are not", mode)
		default:
			r.add("lockdown", OK, "%s", mode)
		}
	} else {
		r.add("lockdown", Info, "unknown (securityfs unreadable: %v)", err)
	}

	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err == nil {
		lim := func(v uint64) string {
			if v == unix.RLIM_INFINITY {
				return "unlimited"
			}
			return strconv.FormatUint(v>>10, 10) + " KiB"
		}
		if major > 5 || (major == 5 && minor >= 11) {
			r.add("memlock", OK, "soft %s, hard %s: not needed, kernel >= 5.11 charges BPF memory to the memory cgroup", lim(rl.Cur), lim(rl.Max))
		} else if rl.Cur == unix.RLIM_INFINITY || rl.Cur >= 64<<20 {
			r.add("memlock", OK, "soft %s", lim(rl.Cur))
		} else {
			r.add("memlock", Warn, "soft %s: kernels < 5.11 need RLIMIT_MEMLOCK raised for BPF maps", lim(rl.Cur))
		}
	}

	kprobesEnabled := fileExists("/sys/kernel/tracing/kprobe_events") || fileExists("/sys/kernel/debug/tracing/kprobe_events")
	if kprobesEnabled {
		r.add("kprobes", Info, "available (not used: Vigil uses tracepoints)")
	} else {
		r.add("kprobes", Info, "absent (CONFIG_KPROBES not set): not needed, Vigil uses tracepoints")
	}

	if root {
		feats, err := sensor.ProbeFeatures()
		if err != nil {
			r.add("program types", Fail, "%v", err)
		}
		r.Features = feats
		for _, f := range feats {
			st := OK
			detail := "loads and attaches"
			if !f.Attached {
				st = Info
				if f.Required {
					st = Fail
				}
				detail = f.Error
			}
			if f.Name == "probe_ringbuf" && f.Attached {
				detail = "a record written by a tracepoint program arrived"
			}
			r.add(strings.TrimPrefix(f.Name, "probe_")+" ("+f.Section+")", st, "%s", detail)
		}
	} else {
		r.add("program types", Fail, "not probed: loading BPF programs needs root")
	}

	r.OK = true
	for _, c := range r.Checks {
		if c.Status == Fail {
			r.OK = false
		}
	}
	return r
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ParseKernelVersion returns the major and minor of a release string like "6.18.44-fc".
func ParseKernelVersion(rel string) (int, int) {
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return 0, 0
	}
	major, _ := strconv.Atoi(parts[0])
	minorStr := parts[1]
	for i, c := range minorStr {
		if c < '0' || c > '9' {
			minorStr = minorStr[:i]
			break
		}
	}
	minor, _ := strconv.Atoi(minorStr)
	return major, minor
}

// ParseLockdown returns the active mode of /sys/kernel/security/lockdown,
// e.g. "none [integrity] confidentiality" -> "integrity".
func ParseLockdown(s string) string {
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") {
			return strings.Trim(f, "[]")
		}
	}
	return strings.TrimSpace(s)
}

func readCapEff(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return ParseCapEff(string(b))
}

// ParseCapEff reads the CapEff mask from /proc/<pid>/status content.
func ParseCapEff(status string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapEff line")
}

// HasCap reports whether capability c is in mask.
func HasCap(mask uint64, c int) bool { return c < 64 && mask&(1<<uint(c)) != 0 }
