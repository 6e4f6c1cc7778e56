package event

import "time"

// SchemaVersion is the version of the JSON event schema (docs/events.md).
const SchemaVersion = "vigil.event/1"

// Event is one decoded, optionally enriched, kernel event. Exactly one of the
// type-specific parts (Exec, Fork, Exit, File, Net, DNS, Sys) is set, per Type.
type Event struct {
	Schema    string    `json:"schema"`
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Type      Type      `json:"type"`
	Ret       int64     `json:"ret"`
	Error     string    `json:"error,omitempty"`
	Process   Process   `json:"process"`
	Container Container `json:"container"`
	CgroupID  uint64    `json:"cgroup_id"`
	PidNS     uint32    `json:"pidns"`
	MntNS     uint32    `json:"mntns"`
	Exec      *ExecInfo `json:"exec,omitempty"`
	Fork      *ForkInfo `json:"fork,omitempty"`
	Exit      *ExitInfo `json:"exit,omitempty"`
	File      *FileInfo `json:"file,omitempty"`
	Net       *NetInfo  `json:"net,omitempty"`
	DNS       *DNSInfo  `json:"dns,omitempty"`
	Sys       *SysInfo  `json:"syscall,omitempty"`
	Flags     uint16    `json:"-"`
	BootNs    uint64    `json:"-"`
}

// Process describes the acting process. The kernel fills the ids and comm;
// enrichment (pkg/proc) fills the rest from its process tree.
type Process struct {
	PID          uint32     `json:"pid"`
	TID          uint32     `json:"tid"`
	PPID         uint32     `json:"ppid"`
	NsPID        uint32     `json:"ns_pid"`
	UID          uint32     `json:"uid"`
	GID          uint32     `json:"gid"`
	EUID         uint32     `json:"euid"`
	LoginUID     uint32     `json:"loginuid"`
	User         string     `json:"user,omitempty"`
	Group        string     `json:"group,omitempty"`
	LoginUser    string     `json:"login_user,omitempty"`
	Comm         string     `json:"comm"`
	Exe          string     `json:"exe,omitempty"`
	Args         []string   `json:"args,omitempty"`
	Cwd          string     `json:"cwd,omitempty"`
	ExecID       string     `json:"exec_id,omitempty"`
	ParentExecID string     `json:"parent_exec_id,omitempty"`
	StartTime    *time.Time `json:"start_time,omitempty"`
	Ancestors    []Ancestor `json:"ancestors,omitempty"`
}

// Ancestor is one process up the parent chain, nearest first.
type Ancestor struct {
	PID    uint32   `json:"pid"`
	ExecID string   `json:"exec_id,omitempty"`
	Exe    string   `json:"exe,omitempty"`
	Args   []string `json:"args,omitempty"`
	UID    uint32   `json:"uid"`
	User   string   `json:"user,omitempty"`
}

// Container identifies the container a process runs in. Runtime is "host"
// for processes outside any container.
type Container struct {
	ID      string `json:"id,omitempty"`
	Runtime string `json:"runtime"`
}

// ExecInfo is set on exec events.
type ExecInfo struct {
	Filename      string   `json:"filename"`
	Exe           string   `json:"exe"`
	Args          []string `json:"args"`
	ArgsTruncated bool     `json:"args_truncated"`
	Cwd           string   `json:"cwd"`
	Argc          uint64   `json:"argc"`
	Inode         uint64   `json:"inode"`
	Mode          string   `json:"mode"`
	Setuid        bool     `json:"setuid"`
	Setgid        bool     `json:"setgid"`
	ExeDeleted    bool     `json:"exe_deleted"`
	Memfd         bool     `json:"memfd"`
}

// ForkInfo is set on fork events; the acting process is the parent.
type ForkInfo struct {
	ChildPID     uint32 `json:"child_pid"`
	ChildStartNs uint64 `json:"child_start_ns"`
}

// ExitInfo is set on exit events (the last thread of a process).
type ExitInfo struct {
	Code       int  `json:"code"`
	Signal     int  `json:"signal"`
	CoreDumped bool `json:"core_dumped"`
}

// FileInfo is set on file events. Path is absolute; Target is the second path
// of rename and link, and the link path of symlink (whose Path is the target
// as given).
type FileInfo struct {
	Path     string   `json:"path"`
	Target   string   `json:"target,omitempty"`
	Flags    uint64   `json:"flags,omitempty"`
	FlagList []string `json:"flag_names,omitempty"`
	Write    bool     `json:"write,omitempty"`
	Mode     string   `json:"mode,omitempty"`
	Setuid   bool     `json:"setuid,omitempty"`
	Setgid   bool     `json:"setgid,omitempty"`
	Length   int64    `json:"length,omitempty"`
	Relative bool     `json:"relative,omitempty"`
}

// NetInfo is set on network events.
type NetInfo struct {
	Family   string `json:"family"`
	Proto    string `json:"proto,omitempty"`
	SrcAddr  string `json:"src_addr,omitempty"`
	SrcPort  uint16 `json:"src_port,omitempty"`
	DstAddr  string `json:"dst_addr,omitempty"`
	DstPort  uint16 `json:"dst_port,omitempty"`
	UnixPath string `json:"unix_path,omitempty"`
	FD       int64  `json:"fd,omitempty"`
	Backlog  int64  `json:"backlog,omitempty"`
	OldState string `json:"old_state,omitempty"`
	NewState string `json:"new_state,omitempty"`
}

// DNSInfo is set on dns events.
type DNSInfo struct {
	Query string `json:"query,omitempty"`
	QType string `json:"qtype,omitempty"`
	ID    uint16 `json:"id"`
}

// SysInfo carries the arguments of the security-relevant syscalls.
type SysInfo struct {
	Name      string   `json:"name"`
	Request   string   `json:"request,omitempty"`
	TargetPID int64    `json:"target_pid,omitempty"`
	Signal    int64    `json:"signal,omitempty"`
	Flags     uint64   `json:"flags,omitempty"`
	FlagList  []string `json:"flag_names,omitempty"`
	IDs       []int64  `json:"ids,omitempty"`
	Effective uint64   `json:"cap_effective,omitempty"`
	Permitted uint64   `json:"cap_permitted,omitempty"`
	Inherit   uint64   `json:"cap_inheritable,omitempty"`
	Cmd       string   `json:"cmd,omitempty"`
	SubType   uint64   `json:"sub_type,omitempty"`
	ObjName   string   `json:"obj_name,omitempty"`
	Source    string   `json:"source,omitempty"`
	Target    string   `json:"target,omitempty"`
	FSType    string   `json:"fstype,omitempty"`
	NSInode   uint64   `json:"ns_inode,omitempty"`
	OldFD     int64    `json:"old_fd,omitempty"`
	NewFD     *int64   `json:"new_fd,omitempty"`
	Net       *NetInfo `json:"socket,omitempty"`
}
