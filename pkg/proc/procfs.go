package proc

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// ClockTicks is USER_HZ, the unit of /proc/<pid>/stat's starttime on Linux.
const ClockTicks = 100

// Stat is what Vigil reads from /proc/<pid>/stat.
type Stat struct {
	PID        uint32
	Comm       string
	PPID       uint32
	StartTicks uint64 // since boot, in 1/ClockTicks s
}

// ErrStat reports unparsable /proc/<pid>/stat content.
var ErrStat = errors.New("malformed /proc stat")

// ParseStat parses /proc/<pid>/stat. The comm field may hold spaces and
// parentheses, so the fields are counted from its last ')'.
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	close := bytes.LastIndexByte(b, ')')
	if open < 1 || close < open {
		return s, ErrStat
	}
	pid, err := strconv.ParseUint(strings.TrimSpace(string(b[:open])), 10, 32)
	if err != nil {
		return s, ErrStat
	}
	s.PID = uint32(pid)
	s.Comm = string(b[open+1 : close])
	f := strings.Fields(string(b[close+1:]))
	// f[0] is field 3 (state); ppid is field 4, starttime field 22.
	if len(f) < 20 {
		return s, ErrStat
	}
	ppid, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return s, ErrStat
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return s, ErrStat
	}
	s.PPID, s.StartTicks = uint32(ppid), st
	return s, nil
}

// ParseStatusUID returns the real uid from /proc/<pid>/status content.
func ParseStatusUID(b []byte) (uint32, bool) {
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0, false
			}
			v, err := strconv.ParseUint(f[0], 10, 32)
			return uint32(v), err == nil
		}
	}
	return 0, false
}

// ParseCmdline splits /proc/<pid>/cmdline content.
func ParseCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}
