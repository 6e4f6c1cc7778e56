package event

import (
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

type flagName struct {
	bit  uint64
	name string
}

var openFlags = []flagName{
	{unix.O_WRONLY, "O_WRONLY"}, {unix.O_RDWR, "O_RDWR"}, {unix.O_CREAT, "O_CREAT"},
	{unix.O_EXCL, "O_EXCL"}, {unix.O_NOCTTY, "O_NOCTTY"}, {unix.O_TRUNC, "O_TRUNC"},
	{unix.O_APPEND, "O_APPEND"}, {unix.O_NONBLOCK, "O_NONBLOCK"}, {unix.O_DSYNC, "O_DSYNC"},
	{unix.O_DIRECT, "O_DIRECT"}, {unix.O_LARGEFILE, "O_LARGEFILE"}, {unix.O_DIRECTORY, "O_DIRECTORY"},
	{unix.O_NOFOLLOW, "O_NOFOLLOW"}, {unix.O_NOATIME, "O_NOATIME"}, {unix.O_CLOEXEC, "O_CLOEXEC"},
	{unix.O_PATH, "O_PATH"}, {unix.O_TMPFILE &^ unix.O_DIRECTORY, "O_TMPFILE"},
}

// OpenFlagNames names the bits of open(2) flags; O_RDONLY when no access
// bit is set. The lists are made once per distinct flag value and shared
// (callers must not modify them): no allocation per event.
func OpenFlagNames(f uint64) []string {
	if v, ok := openFlagCache.Load(f); ok {
		return v.([]string)
	}
	out := openFlagNames(f)
	if openFlagCount.Add(1) <= maxCachedFlags {
		openFlagCache.Store(f, out)
	}
	return out
}

// Flag values seen in practice are few; past this many distinct ones (a
// fuzzer, a hostile process) lists are made per call instead of cached.
const maxCachedFlags = 4096

var (
	openFlagCache sync.Map // uint64 -> []string
	openFlagCount atomic.Int64
)

func openFlagNames(f uint64) []string {
	var out []string
	if f&(unix.O_WRONLY|unix.O_RDWR) == 0 {
		out = append(out, "O_RDONLY")
	}
	for _, n := range openFlags {
		if f&n.bit == n.bit && n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

var cloneFlags = []flagName{
	{unix.CLONE_NEWNS, "CLONE_NEWNS"}, {unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
	{unix.CLONE_NEWUTS, "CLONE_NEWUTS"}, {unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
	{unix.CLONE_NEWUSER, "CLONE_NEWUSER"}, {unix.CLONE_NEWPID, "CLONE_NEWPID"},
	{unix.CLONE_NEWNET, "CLONE_NEWNET"}, {unix.CLONE_NEWTIME, "CLONE_NEWTIME"},
	{unix.CLONE_FILES, "CLONE_FILES"}, {unix.CLONE_FS, "CLONE_FS"},
	{unix.CLONE_SYSVSEM, "CLONE_SYSVSEM"},
}

// CloneFlagNames names namespace-related clone flags (unshare, setns).
func CloneFlagNames(f uint64) []string {
	var out []string
	for _, n := range cloneFlags {
		if f&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

var ptraceRequests = map[uint64]string{
	0: "PTRACE_TRACEME", 4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA", 6: "PTRACE_POKEUSER",
	13: "PTRACE_SETREGS", 16: "PTRACE_ATTACH", 0x4205: "PTRACE_SETREGSET", 0x4206: "PTRACE_SEIZE",
}

// PtraceRequestName names a ptrace request.
func PtraceRequestName(r uint64) string {
	if n, ok := ptraceRequests[r]; ok {
		return n
	}
	return "PTRACE_" + strconv.FormatUint(r, 10)
}

var bpfCmds = map[uint64]string{
	0: "BPF_MAP_CREATE", 5: "BPF_PROG_LOAD", 8: "BPF_PROG_ATTACH",
	17: "BPF_RAW_TRACEPOINT_OPEN", 18: "BPF_BTF_LOAD", 28: "BPF_LINK_CREATE",
}

// BPFCmdName names a bpf(2) command.
func BPFCmdName(c uint64) string {
	if n, ok := bpfCmds[c]; ok {
		return n
	}
	return "BPF_CMD_" + strconv.FormatUint(c, 10)
}

var tcpStates = [...]string{
	"", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
	"CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
}

// TCPStateName names a kernel TCP state.
func TCPStateName(s uint64) string {
	if s > 0 && s < uint64(len(tcpStates)) {
		return tcpStates[s]
	}
	return "STATE_" + strconv.FormatUint(s, 10)
}
