package event

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sizes of the fixed parts, as Go lays them out (equal to C's; see the contract test).
var (
	RawEventSize  = int(unsafe.Sizeof(RawEvent{}))
	RawHeaderSize = int(unsafe.Sizeof(RawHeader{}))
)

// Decoding errors. Every record that fails to decode is counted by the caller.
var (
	ErrShort   = errors.New("record shorter than its fixed part")
	ErrSize    = errors.New("record size field disagrees with its length")
	ErrType    = errors.New("unknown event type")
	ErrStrings = errors.New("string table overruns the record")
)

// maxStrings bounds the string table of any record.
const maxStrings = 8

// Clock turns the kernel's boot-time nanoseconds into wall-clock time.
type Clock struct {
	// Boot is the wall-clock time at which CLOCK_BOOTTIME was zero.
	Boot time.Time
}

// Time returns the wall-clock time of a boot-time timestamp.
func (c Clock) Time(bootNs uint64) time.Time { return c.Boot.Add(time.Duration(bootNs)) }

// ParseRaw copies the fixed part of a record into a RawEvent and returns the
// strings that follow it. It checks every length and never panics.
func ParseRaw(b []byte) (RawEvent, [][]byte, error) {
	var raw RawEvent
	if len(b) < RawEventSize {
		return raw, nil, ErrShort
	}
	raw = *(*RawEvent)(unsafe.Pointer(&b[0]))
	if int(raw.Hdr.Size) != len(b) {
		return raw, nil, fmt.Errorf("%w: size %d, length %d", ErrSize, raw.Hdr.Size, len(b))
	}
	if raw.Hdr.Type == 0 || raw.Hdr.Type >= uint32(TypeMax) {
		return raw, nil, fmt.Errorf("%w: %d", ErrType, raw.Hdr.Type)
	}
	n := int(raw.Hdr.NStr)
	if n > maxStrings {
		return raw, nil, fmt.Errorf("%w: %d strings", ErrStrings, n)
	}
	strs := make([][]byte, 0, n)
	off := RawEventSize
	for i := 0; i < n; i++ {
		if off+2 > len(b) {
			return raw, nil, ErrStrings
		}
		l := int(binary.LittleEndian.Uint16(b[off:]))
		off += 2
		if off+l > len(b) {
			return raw, nil, ErrStrings
		}
		strs = append(strs, b[off:off+l])
		off += l
	}
	return raw, strs, nil
}

// killNames name the syscalls of EV_KILL records (args[2]).
var killNames = [...]string{"kill", "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal"}

// Decode turns one ring-buffer record into an Event. It is pure: the clock is
// a parameter, and it reads nothing but b.
func Decode(b []byte, clk Clock) (*Event, error) {
	raw, strs, err := ParseRaw(b)
	if err != nil {
		return nil, err
	}
	h := &raw.Hdr
	e := &Event{
		Schema:   SchemaVersion,
		ID:       strconv.FormatUint(h.TsBootNs, 36) + "-" + strconv.FormatUint(uint64(h.TID), 36),
		Time:     clk.Time(h.TsBootNs),
		Type:     Type(h.Type),
		Ret:      h.Ret,
		CgroupID: h.CgroupID,
		PidNS:    h.PidNS,
		MntNS:    h.MntNS,
		Flags:    h.Flags,
		BootNs:   h.TsBootNs,
		Process: Process{
			PID: h.PID, TID: h.TID, PPID: h.PPID, NsPID: h.NsPID,
			UID: h.UID, GID: h.GID, EUID: h.EUID, LoginUID: h.LoginUID,
			Comm: cString(h.Comm[:]),
		},
		Container: Container{Runtime: "host"},
	}
	if h.Ret < 0 && e.Type != TypeExit {
		e.Error = unix.ErrnoName(syscall.Errno(-h.Ret))
		if e.Error == "" {
			e.Error = "E" + strconv.FormatInt(-h.Ret, 10)
		}
	}
	str := func(i int) string {
		if i < len(strs) {
			return string(strs[i])
		}
		return ""
	}
	a := raw.Args
	switch e.Type {
	case TypeExec:
		mode := uint32(a[3])
		exe := str(0)
		e.Exec = &ExecInfo{
			Exe:           exe,
			Args:          splitArgs(strs, 1),
			ArgsTruncated: h.Flags&FlagArgvTruncated != 0,
			Cwd:           str(2),
			Filename:      str(3),
			EnvTruncated:  h.Flags&FlagEnvTruncated != 0,
			Argc:          a[0],
			Inode:         a[2],
			Mode:          fmtMode(mode),
			Setuid:        mode&unix.S_ISUID != 0,
			Setgid:        mode&unix.S_ISGID != 0,
			ExeDeleted:    a[4] != 0,
			Memfd:         strings.HasPrefix(exe, "/memfd:"),
		}
		for fd := 0; fd < 3; fd++ {
			if a[5]&(1<<fd) != 0 {
				e.Exec.StdioSockets = append(e.Exec.StdioSockets, fd)
			}
		}
		if len(strs) > 4 && len(strs[4]) > 0 {
			e.Exec.Env = parseEnv(strs[4])
			e.Exec.LDPreload = e.Exec.Env["LD_PRELOAD"]
		}
		st := (*RawExecStdio)(unsafe.Pointer(&raw.Net))
		e.Exec.Stdin, e.Exec.Stdout = st.stdio(0), st.stdio(1)
		if h.Flags&FlagScript != 0 && e.Exec.Filename != "" {
			e.Exec.Script = absolute(e.Exec.Filename, e.Exec.Cwd)
			e.Exec.ProgramSource = ProgramScript
		}
	case TypeFork:
		e.Fork = &ForkInfo{ChildPID: uint32(a[0]), ChildStartNs: a[1]}
	case TypeExit:
		e.Exit = &ExitInfo{Code: int(a[0]), Signal: int(a[1]), CoreDumped: a[2] != 0}
	case TypeOpen:
		e.File = &FileInfo{
			Path: cleanPath(str(0), h.Flags), Flags: a[0], FlagList: OpenFlagNames(a[0]),
			Write: a[0]&(unix.O_WRONLY|unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC) != 0,
		}
		if a[0]&unix.O_CREAT != 0 {
			e.File.Mode = fmtMode(uint32(a[1]))
		}
		e.File.Relative = h.Flags&FlagPathRelative != 0
	case TypeUnlink, TypeRename, TypeLink, TypeTruncate, TypeUmount:
		e.File = &FileInfo{Path: cleanPath(str(0), h.Flags), Relative: h.Flags&FlagPathRelative != 0}
		switch e.Type {
		case TypeRename, TypeLink:
			e.File.Target = cleanPath(str(1), h.Flags)
			e.File.Flags = a[0]
		case TypeTruncate:
			e.File.Length = int64(a[0])
		case TypeUnlink:
			e.File.Flags = a[0]
		case TypeUmount:
			e.File = nil
			e.Sys = &SysInfo{Name: "umount2", Target: cleanPath(str(0), h.Flags), Flags: a[0]}
		}
	case TypeChmod:
		mode := uint32(a[0])
		e.File = &FileInfo{
			Path: cleanPath(str(0), h.Flags), Mode: fmtMode(mode),
			Setuid: mode&unix.S_ISUID != 0, Setgid: mode&unix.S_ISGID != 0,
			Executable: mode&0o111 != 0,
			Relative:   h.Flags&FlagPathRelative != 0,
		}
	case TypeSymlink:
		e.File = &FileInfo{Path: str(0), Target: cleanPath(str(1), h.Flags)}
	case TypeConnect, TypeAccept, TypeBind, TypeListen, TypeTCPState:
		e.Net = netInfo(&raw.Net)
		switch e.Type {
		case TypeConnect:
			e.Net.FD = int64(a[0])
			if raw.Net.Family == unix.AF_UNIX {
				e.Net.UnixPath = str(0)
				if e.Net.UnixPath == "" && len(strs) > 0 {
					e.Net.UnixPath = "@" // abstract socket
				}
			}
		case TypeBind:
			e.Net.FD = int64(a[0])
		case TypeListen:
			e.Net.FD, e.Net.Backlog = int64(a[0]), int64(a[1])
		case TypeTCPState:
			e.Net.OldState, e.Net.NewState = TCPStateName(a[0]), TCPStateName(a[1])
		}
	case TypeDNS:
		e.Net = netInfo(&raw.Net)
		e.DNS = &DNSInfo{}
		if len(strs) > 0 {
			if q, err := ParseDNSQuery(strs[0]); err == nil {
				e.DNS.Query, e.DNS.QType, e.DNS.ID = q.Name, q.TypeName(), q.ID
			}
		}
	case TypePtrace:
		e.Sys = &SysInfo{Name: "ptrace", Request: PtraceRequestName(a[0]), TargetPID: int64(int32(a[1]))}
	case TypeProcessVMWritev:
		e.Sys = &SysInfo{Name: "process_vm_writev", TargetPID: int64(int32(a[0]))}
	case TypeSetID:
		name := setIDNames[a[0]]
		if name == "" {
			name = "setid"
		}
		n := 1
		switch a[0] {
		case 3, 4:
			n = 2
		case 5, 6:
			n = 3
		}
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = int64(int32(a[1+i]))
		}
		e.Sys = &SysInfo{Name: name, IDs: ids}
	case TypeCapset:
		e.Sys = &SysInfo{Name: "capset", TargetPID: int64(int32(a[0])), Effective: a[1], Permitted: a[2], Inherit: a[3]}
	case TypeMemfdCreate:
		e.Sys = &SysInfo{Name: "memfd_create", ObjName: str(0), Flags: a[0]}
	case TypeModuleLoad:
		e.Sys = &SysInfo{Name: "init_module", Source: str(0), Target: str(1), Flags: a[1]}
		if str(0) != "" {
			e.Sys.Name = "finit_module"
		}
	case TypeBPF:
		e.Sys = &SysInfo{Name: "bpf", Cmd: BPFCmdName(a[0]), SubType: a[1], ObjName: str(0)}
	case TypeMount:
		e.Sys = &SysInfo{Name: "mount", Source: str(0), Target: cleanPath(str(1), h.Flags), FSType: str(2), Flags: a[0]}
	case TypeUnshare:
		e.Sys = &SysInfo{Name: "unshare", Flags: a[0], FlagList: CloneFlagNames(a[0])}
	case TypeSetns:
		e.Sys = &SysInfo{Name: "setns", Flags: a[0], FlagList: CloneFlagNames(a[0]), NSInode: a[1], Target: str(0)}
	case TypeKill:
		name := "kill"
		if k := a[2]; k < uint64(len(killNames)) {
			name = killNames[k]
		}
		e.Sys = &SysInfo{Name: name, TargetPID: int64(int32(a[0])), Signal: int64(a[1])}
	case TypeDupSocket:
		nf := int64(a[1])
		e.Sys = &SysInfo{Name: "dup", OldFD: int64(a[0]), NewFD: &nf, Net: netInfo(&raw.Net)}
	case TypePrctl:
		e.Sys = &SysInfo{Name: "prctl", Request: "PR_SET_NAME", ObjName: str(0)}
	case TypeUserfaultfd:
		e.Sys = &SysInfo{Name: "userfaultfd", Flags: a[0]}
	case TypeMkdir:
		e.File = &FileInfo{Path: cleanPath(str(0), h.Flags), Mode: fmtMode(uint32(a[0])), Relative: h.Flags&FlagPathRelative != 0}
	case TypeUtimes:
		e.File = &FileInfo{Path: cleanPath(str(0), h.Flags), Relative: h.Flags&FlagPathRelative != 0}
		day := e.Time.Add(-24 * time.Hour).Unix()
		if a[2]&UtimeATime != 0 {
			e.File.ATime = int64(a[0])
			e.File.Backdated = e.File.ATime < day
		}
		if a[2]&UtimeMTime != 0 {
			e.File.MTime = int64(a[1])
			e.File.Backdated = e.File.Backdated || e.File.MTime < day
		}
	case TypeSocket:
		e.Sys = &SysInfo{Name: "socket", Family: socketFamilyName(a[0]), SockType: sockTypeName(a[1]), Protocol: a[2]}
	}
	// Derived fields (names, the command line) are filled once, after the
	// process tree: the pipeline's enricher calls Derive.
	return e, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// splitArgs splits the NUL-separated argv string at index i.
func splitArgs(strs [][]byte, i int) []string {
	if i >= len(strs) {
		return nil
	}
	b := bytes.TrimRight(strs[i], "\x00")
	if len(b) == 0 {
		return []string{}
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for j, p := range parts {
		out[j] = string(p)
	}
	return out
}

// cleanPath removes "." and ".." from an absolute path. A path the kernel
// could not make absolute is returned as it came.
func cleanPath(p string, flags uint16) string {
	if p == "" || flags&FlagPathRelative != 0 || !strings.HasPrefix(p, "/") {
		return p
	}
	return path.Clean(p)
}

// modeNames are the 4,096 permission strings, made once: no formatting or
// allocation per event.
var modeNames = func() (t [07777 + 1]string) {
	for m := range t {
		t[m] = string([]byte{'0' + byte(m>>9&7), '0' + byte(m>>6&7), '0' + byte(m>>3&7), '0' + byte(m&7)})
	}
	return t
}()

func fmtMode(m uint32) string { return modeNames[m&07777] }

func netInfo(n *RawNetTuple) *NetInfo {
	out := &NetInfo{Family: familyName(n.Family), Proto: protoName(n.Proto), SrcPort: n.Sport, DstPort: n.Dport}
	switch n.Family {
	case unix.AF_INET:
		out.SrcAddr = netip.AddrFrom4([4]byte(n.Saddr[:4])).String()
		out.DstAddr = netip.AddrFrom4([4]byte(n.Daddr[:4])).String()
	case unix.AF_INET6:
		out.SrcAddr = netip.AddrFrom16(n.Saddr).String()
		out.DstAddr = netip.AddrFrom16(n.Daddr).String()
	}
	return out
}

// parseEnv splits an exec record's environment string: NUL-terminated
// NAME=value entries. An entry without '=' is kept with an empty value.
func parseEnv(b []byte) map[string]string {
	env := make(map[string]string, 2)
	for len(b) > 0 {
		entry := b
		if i := bytes.IndexByte(b, 0); i >= 0 {
			entry, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(entry) == 0 {
			continue
		}
		k, v, _ := bytes.Cut(entry, []byte{'='})
		env[string(k)] = string(v)
	}
	return env
}

// socketFamilies name the address families of socket events (unix, inet and
// netlink are filtered in the kernel but named for completeness).
var socketFamilies = map[uint64]string{
	unix.AF_UNIX: "unix", unix.AF_INET: "inet", unix.AF_INET6: "inet6", unix.AF_NETLINK: "netlink",
	unix.AF_PACKET: "packet", unix.AF_ALG: "alg", unix.AF_VSOCK: "vsock", unix.AF_RDS: "rds",
	unix.AF_TIPC: "tipc", unix.AF_KEY: "key", unix.AF_BLUETOOTH: "bluetooth", unix.AF_CAN: "can",
	unix.AF_X25: "x25", unix.AF_AX25: "ax25", unix.AF_NETROM: "netrom", unix.AF_ROSE: "rose",
	unix.AF_ATMPVC: "atmpvc", unix.AF_ATMSVC: "atmsvc", unix.AF_APPLETALK: "appletalk", unix.AF_IPX: "ipx",
	unix.AF_DECnet: "decnet", unix.AF_LLC: "llc", unix.AF_IRDA: "irda", unix.AF_PPPOX: "pppox",
	unix.AF_PHONET: "phonet", unix.AF_IEEE802154: "ieee802154", unix.AF_CAIF: "caif", unix.AF_NFC: "nfc",
	unix.AF_KCM: "kcm", unix.AF_QIPCRTR: "qipcrtr", unix.AF_SMC: "smc", unix.AF_XDP: "xdp",
	unix.AF_MCTP: "mctp", unix.AF_IUCV: "iucv", unix.AF_RXRPC: "rxrpc", unix.AF_ISDN: "isdn",
}

func socketFamilyName(f uint64) string {
	if n := socketFamilies[f]; n != "" {
		return n
	}
	return "af(" + strconv.FormatUint(f, 10) + ")"
}

var sockTypes = [...]string{1: "stream", 2: "dgram", 3: "raw", 4: "rdm", 5: "seqpacket", 6: "dccp", 10: "packet"}

// sockTypeName names a socket type, without SOCK_NONBLOCK and SOCK_CLOEXEC.
func sockTypeName(t uint64) string {
	t &= 0xf
	if int(t) < len(sockTypes) && sockTypes[t] != "" {
		return sockTypes[t]
	}
	return strconv.FormatUint(t, 10)
}

func familyName(f uint16) string { return socketFamilyName(uint64(f)) }

func protoName(p uint16) string {
	switch p {
	case 0:
		return ""
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	case unix.IPPROTO_ICMP:
		return "icmp"
	case unix.IPPROTO_ICMPV6:
		return "icmpv6"
	case unix.IPPROTO_MPTCP:
		return "mptcp"
	}
	return strconv.Itoa(int(p))
}
