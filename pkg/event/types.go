package event

import (
	"fmt"
	"strings"
)

// Type is the kind of an event; values mirror enum vigil_event_type.
type Type uint32

// Event types. Keep in step with bpf/vigil.h; the contract test checks them.
const (
	TypeNone            Type = 0
	TypeExec            Type = 1
	TypeFork            Type = 2
	TypeExit            Type = 3
	TypeOpen            Type = 4
	TypeUnlink          Type = 5
	TypeRename          Type = 6
	TypeChmod           Type = 7
	TypeLink            Type = 8
	TypeSymlink         Type = 9
	TypeTruncate        Type = 10
	TypeConnect         Type = 11
	TypeAccept          Type = 12
	TypeBind            Type = 13
	TypeListen          Type = 14
	TypeTCPState        Type = 15
	TypeDNS             Type = 16
	TypePtrace          Type = 17
	TypeProcessVMWritev Type = 18
	TypeSetID           Type = 19
	TypeCapset          Type = 20
	TypeMemfdCreate     Type = 21
	TypeModuleLoad      Type = 22
	TypeBPF             Type = 23
	TypeMount           Type = 24
	TypeUmount          Type = 25
	TypeUnshare         Type = 26
	TypeSetns           Type = 27
	TypeKill            Type = 28
	TypeDupSocket       Type = 29
	TypePrctl           Type = 30
	TypeUserfaultfd     Type = 31
	TypeMkdir           Type = 32
	TypeUtimes          Type = 33
	TypeSocket          Type = 34
	TypeMax             Type = 35
)

var typeNames = [TypeMax]string{
	TypeNone:            "none",
	TypeExec:            "exec",
	TypeFork:            "fork",
	TypeExit:            "exit",
	TypeOpen:            "open",
	TypeUnlink:          "unlink",
	TypeRename:          "rename",
	TypeChmod:           "chmod",
	TypeLink:            "link",
	TypeSymlink:         "symlink",
	TypeTruncate:        "truncate",
	TypeConnect:         "connect",
	TypeAccept:          "accept",
	TypeBind:            "bind",
	TypeListen:          "listen",
	TypeTCPState:        "tcp_state",
	TypeDNS:             "dns",
	TypePtrace:          "ptrace",
	TypeProcessVMWritev: "process_vm_writev",
	TypeSetID:           "setid",
	TypeCapset:          "capset",
	TypeMemfdCreate:     "memfd_create",
	TypeModuleLoad:      "module_load",
	TypeBPF:             "bpf",
	TypeMount:           "mount",
	TypeUmount:          "umount",
	TypeUnshare:         "unshare",
	TypeSetns:           "setns",
	TypeKill:            "kill",
	TypeDupSocket:       "dup_socket",
	TypePrctl:           "prctl",
	TypeUserfaultfd:     "userfaultfd",
	TypeMkdir:           "mkdir",
	TypeUtimes:          "utimes",
	TypeSocket:          "socket",
}

func (t Type) String() string {
	if t < TypeMax {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// MarshalText makes a Type appear by name in JSON.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses a type name.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ParseType returns the Type with the given name.
func ParseType(name string) (Type, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	for i := TypeExec; i < TypeMax; i++ {
		if typeNames[i] == name {
			return i, nil
		}
	}
	return TypeNone, fmt.Errorf("unknown event type %q", name)
}

// AllTypes lists every real event type in order.
func AllTypes() []Type {
	out := make([]Type, 0, TypeMax-1)
	for i := TypeExec; i < TypeMax; i++ {
		out = append(out, i)
	}
	return out
}

// Flags mirror enum vigil_event_flags.
const (
	FlagArgvTruncated uint16 = 1 << 0
	FlagPathTruncated uint16 = 1 << 1
	FlagPathRelative  uint16 = 1 << 2
	FlagPayload       uint16 = 1 << 3
	FlagScript        uint16 = 1 << 4
	FlagEnvTruncated  uint16 = 1 << 5
)

// Utime flags mirror enum vigil_utime_flags: which times a utimes record
// carries.
const (
	UtimeATime uint64 = 1 << 0
	UtimeMTime uint64 = 1 << 1
)

// SetID kinds mirror enum vigil_setid_kind.
var setIDNames = map[uint64]string{
	1: "setuid", 2: "setgid", 3: "setreuid", 4: "setregid",
	5: "setresuid", 6: "setresgid", 7: "setfsuid", 8: "setfsgid",
}
