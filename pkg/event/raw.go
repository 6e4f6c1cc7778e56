package event

import "unsafe"

// Go mirrors of the C records in bpf/vigil.h. The align tags name the C
// member; TestContractBTF checks offsets and sizes against the object's BTF.

// CommLen is VIGIL_COMM_LEN.
const CommLen = 16

// RawHeader mirrors struct event_hdr.
type RawHeader struct {
	TsBootNs uint64        `align:"ts_boot_ns"`
	CgroupID uint64        `align:"cgroup_id"`
	Ret      int64         `align:"ret"`
	Type     uint32        `align:"type"`
	Size     uint32        `align:"size"`
	PID      uint32        `align:"pid"`
	TID      uint32        `align:"tid"`
	PPID     uint32        `align:"ppid"`
	NsPID    uint32        `align:"ns_pid"`
	UID      uint32        `align:"uid"`
	GID      uint32        `align:"gid"`
	EUID     uint32        `align:"euid"`
	LoginUID uint32        `align:"loginuid"`
	PidNS    uint32        `align:"pidns"`
	MntNS    uint32        `align:"mntns"`
	Flags    uint16        `align:"flags"`
	NStr     uint16        `align:"nstr"`
	Comm     [CommLen]byte `align:"comm"`
	Pad      uint32        `align:"_pad"`
}

// RawNetTuple mirrors struct net_tuple.
type RawNetTuple struct {
	Family uint16   `align:"family"`
	Proto  uint16   `align:"proto"`
	Sport  uint16   `align:"sport"`
	Dport  uint16   `align:"dport"`
	Saddr  [16]byte `align:"saddr"`
	Daddr  [16]byte `align:"daddr"`
}

// RawEvent mirrors struct event, the fixed part of every record.
type RawEvent struct {
	Hdr  RawHeader   `align:"hdr"`
	Args [6]uint64   `align:"args"`
	Net  RawNetTuple `align:"net"`
}

// RawExecStdio mirrors struct exec_stdio, which exec records carry in
// net's place.
type RawExecStdio struct {
	Ino  [3]uint64 `align:"ino"`
	Kind [3]uint8  `align:"kind"`
	Pad  [13]uint8 `align:"_pad"`
}

// RawExecStdio takes RawNetTuple's place: the sizes must be equal.
var (
	_ [unsafe.Sizeof(RawNetTuple{}) - unsafe.Sizeof(RawExecStdio{})]byte
	_ [unsafe.Sizeof(RawExecStdio{}) - unsafe.Sizeof(RawNetTuple{})]byte
)

// fdKinds names enum vigil_fd_kind (the contract test checks them).
var fdKinds = [...]string{"none", "pipe", "socket", "tty", "char", "file", "other"}

// stdio decodes one of an exec record's standard file descriptors.
func (s *RawExecStdio) stdio(fd int) Stdio {
	k := "other"
	if int(s.Kind[fd]) < len(fdKinds) {
		k = fdKinds[s.Kind[fd]]
	}
	st := Stdio{Kind: k}
	if k == "pipe" || k == "socket" {
		st.Inode = s.Ino[fd]
	}
	return st
}

// PrefixKeyLen is VIGIL_PREFIX_LEN.
const PrefixKeyLen = 64

// TypeOffset is where a record's event type sits: the offset of
// event_hdr.type, from the Go mirror the contract test checks against the
// object's BTF (the pipeline reads it to count and shed records undecoded).
const TypeOffset = int(unsafe.Offsetof(RawHeader{}.Type))

// MaxPrefixes is VIGIL_MAX_PREFIXES: the entries of each prefix trie (the
// sensor test checks it against the object).
const MaxPrefixes = 512

// RawPrefixKey mirrors struct prefix_key (an LPM trie key).
type RawPrefixKey struct {
	PrefixLen uint32             `align:"prefixlen"`
	Data      [PrefixKeyLen]byte `align:"data"`
}

// RawConfig mirrors struct vigil_config (the object's .rodata "cfg").
type RawConfig struct {
	AgentTgid   uint32 `align:"agent_tgid"`
	DropFailed  uint32 `align:"drop_failed"`
	WakeupBytes uint64 `align:"wakeup_bytes"`
}
