package event

import (
	"strings"
	"time"
)

// SchemaVersion is the version of the JSON event schema (docs/events.md).
const SchemaVersion = "vigil.event/1"

// Event is one decoded, optionally enriched, kernel event. Exactly one of the
// type-specific parts (Exec, Fork, Exit, File, Net, DNS, Sys) is set, per Type.
type Event struct {
	Schema    string    `json:"schema" expr:"schema"`
	ID        string    `json:"id" expr:"id"`
	Time      time.Time `json:"time" expr:"time"`
	Type      Type      `json:"type" expr:"type"`
	Ret       int64     `json:"ret" expr:"ret"`
	Error     string    `json:"error,omitempty" expr:"error"`
	Process   Process   `json:"process" expr:"process"`
	Container Container `json:"container" expr:"container"`
	CgroupID  uint64    `json:"cgroup_id" expr:"cgroup_id"`
	PidNS     uint32    `json:"pidns" expr:"pidns"`
	MntNS     uint32    `json:"mntns" expr:"mntns"`
	Exec      *ExecInfo `json:"exec,omitempty" expr:"exec"`
	Fork      *ForkInfo `json:"fork,omitempty" expr:"fork"`
	Exit      *ExitInfo `json:"exit,omitempty" expr:"exit"`
	File      *FileInfo `json:"file,omitempty" expr:"file"`
	Net       *NetInfo  `json:"net,omitempty" expr:"net"`
	DNS       *DNSInfo  `json:"dns,omitempty" expr:"dns"`
	Sys       *SysInfo  `json:"syscall,omitempty" expr:"syscall"`
	Flags     uint16    `json:"-"`
	BootNs    uint64    `json:"-"`
}

// Process describes the acting process. The kernel fills the ids and comm;
// enrichment (pkg/proc) fills the rest from its process tree.
type Process struct {
	PID          uint32     `json:"pid" expr:"pid"`
	TID          uint32     `json:"tid" expr:"tid"`
	PPID         uint32     `json:"ppid" expr:"ppid"`
	NsPID        uint32     `json:"ns_pid" expr:"ns_pid"`
	UID          uint32     `json:"uid" expr:"uid"`
	GID          uint32     `json:"gid" expr:"gid"`
	EUID         uint32     `json:"euid" expr:"euid"`
	LoginUID     uint32     `json:"loginuid" expr:"loginuid"`
	User         string     `json:"user,omitempty" expr:"user"`
	Group        string     `json:"group,omitempty" expr:"group"`
	LoginUser    string     `json:"login_user,omitempty" expr:"login_user"`
	Comm         string     `json:"comm" expr:"comm"`
	Exe          string     `json:"exe,omitempty" expr:"exe"`
	Name         string     `json:"name,omitempty" expr:"name"`
	Args         []string   `json:"args,omitempty" expr:"args"`
	Cwd          string     `json:"cwd,omitempty" expr:"cwd"`
	ExecID       string     `json:"exec_id,omitempty" expr:"exec_id"`
	ParentExecID string     `json:"parent_exec_id,omitempty" expr:"parent_exec_id"`
	StartTime    *time.Time `json:"start_time,omitempty" expr:"start_time"`
	Ancestors    []Ancestor `json:"ancestors,omitempty" expr:"ancestors"`
}

// Ancestor is one process up the parent chain, nearest first.
type Ancestor struct {
	PID    uint32   `json:"pid" expr:"pid"`
	ExecID string   `json:"exec_id,omitempty" expr:"exec_id"`
	Exe    string   `json:"exe,omitempty" expr:"exe"`
	Name   string   `json:"name,omitempty" expr:"name"`
	Args   []string `json:"args,omitempty" expr:"args"`
	UID    uint32   `json:"uid" expr:"uid"`
	User   string   `json:"user,omitempty" expr:"user"`
	// ProgramSource is set on pipe peers only (ExecInfo.ProgramSource).
	ProgramSource string `json:"program_source,omitempty" expr:"program_source"`
}

// Container identifies the container a process runs in. Runtime is "host"
// for processes outside any container.
type Container struct {
	ID      string `json:"id,omitempty" expr:"id"`
	Runtime string `json:"runtime" expr:"runtime"`
	// The Kubernetes pod of the container (the pod uid from its cgroup,
	// the names from its OCI bundle), when it is one.
	Name         string `json:"name,omitempty" expr:"name"`
	PodName      string `json:"pod_name,omitempty" expr:"pod_name"`
	PodNamespace string `json:"pod_namespace,omitempty" expr:"pod_namespace"`
	PodUID       string `json:"pod_uid,omitempty" expr:"pod_uid"`
}

// ExecInfo is set on exec events.
type ExecInfo struct {
	Filename      string   `json:"filename" expr:"filename"`
	Exe           string   `json:"exe" expr:"exe"`
	Name          string   `json:"name" expr:"name"`
	Args          []string `json:"args" expr:"args"`
	Cmdline       string   `json:"-" expr:"cmdline"`
	ArgsTruncated bool     `json:"args_truncated" expr:"args_truncated"`
	Cwd           string   `json:"cwd" expr:"cwd"`
	Argc          uint64   `json:"argc" expr:"argc"`
	Inode         uint64   `json:"inode" expr:"inode"`
	Mode          string   `json:"mode" expr:"mode"`
	Setuid        bool     `json:"setuid" expr:"setuid"`
	Setgid        bool     `json:"setgid" expr:"setgid"`
	ExeDeleted    bool     `json:"exe_deleted" expr:"exe_deleted"`
	Memfd         bool     `json:"memfd" expr:"memfd"`
	StdioSockets  []int    `json:"stdio_sockets,omitempty" expr:"stdio_sockets"`
	LDPreload     string   `json:"ld_preload,omitempty" expr:"ld_preload"`
	// Env holds the variables of the new program's environment that
	// change how it loads or starts: LD_*, GLIBC_TUNABLES, BASH_ENV, ENV,
	// PROMPT_COMMAND, PERL5OPT, PYTHONSTARTUP, NODE_OPTIONS, the shell
	// history settings (HIST*) and the proxy variables (up to 1 KiB in all;
	// EnvTruncated when more were set).
	Env          map[string]string `json:"env,omitempty" expr:"env"`
	EnvTruncated bool              `json:"env_truncated,omitempty" expr:"env_truncated"`
	// Script is the file an interpreter runs: the exec filename when the
	// kernel ran its shebang's interpreter (or a binfmt_misc handler), or
	// the script argument of a shell or interpreter (bash x.sh, python3
	// -u x.py); absolute against the cwd.
	Script string `json:"script,omitempty" expr:"script"`
	// ProgramSource says where a shell's or interpreter's program comes
	// from: script, inline (-c, -e), stdin (sh, sh -s, python -) or module
	// (python -m); empty for other programs.
	ProgramSource string `json:"program_source,omitempty" expr:"program_source"`
	// Stdin and Stdout are what the new program's standard input and
	// output are, with the program at a pipe's other end.
	Stdin  Stdio `json:"stdin,omitzero" expr:"stdin"`
	Stdout Stdio `json:"stdout,omitzero" expr:"stdout"`
	// ExeWriter and ScriptWriter are the process that last wrote the
	// executed file and the script (created it, wrote it, or wrote the file
	// renamed onto it), when the agent saw it since it started (the
	// process tree remembers a bounded number of files).
	ExeWriter    FileWriter `json:"exe_writer,omitzero" expr:"exe_writer"`
	ScriptWriter FileWriter `json:"script_writer,omitzero" expr:"script_writer"`
}

// FileWriter is the process that last wrote a file.
type FileWriter struct {
	PID    uint32    `json:"pid" expr:"pid"`
	ExecID string    `json:"exec_id,omitempty" expr:"exec_id"`
	Exe    string    `json:"exe" expr:"exe"`
	Name   string    `json:"name" expr:"name"`
	UID    uint32    `json:"uid" expr:"uid"`
	Time   time.Time `json:"time" expr:"time"`
}

// Stdio is what a standard file descriptor of a new program is.
type Stdio struct {
	// Kind: pipe, socket, tty, char (another character device, like
	// /dev/null), file, other, or none (closed).
	Kind  string `json:"kind" expr:"kind"`
	Inode uint64 `json:"inode,omitempty" expr:"inode"`
	// Peer is the program at a pipe's other end, when one was executed
	// before this one: for stdin the last executed with its stdout on that
	// pipe (the writer), for stdout the last with its stdin on it (the
	// reader). The process tree fills it.
	Peer Ancestor `json:"peer,omitzero" expr:"peer"`
}

// ForkInfo is set on fork events; the acting process is the parent.
type ForkInfo struct {
	ChildPID     uint32 `json:"child_pid" expr:"child_pid"`
	ChildStartNs uint64 `json:"child_start_ns" expr:"child_start_ns"`
}

// ExitInfo is set on exit events (the last thread of a process).
type ExitInfo struct {
	Code       int  `json:"code" expr:"code"`
	Signal     int  `json:"signal" expr:"signal"`
	CoreDumped bool `json:"core_dumped" expr:"core_dumped"`
}

// FileInfo is set on file events. Path is absolute; Target is the second path
// of rename and link, and the link path of symlink (whose Path is the target
// as given).
type FileInfo struct {
	Path     string   `json:"path" expr:"path"`
	Target   string   `json:"target,omitempty" expr:"target"`
	Flags    uint64   `json:"flags,omitempty" expr:"flags"`
	FlagList []string `json:"flag_names,omitempty" expr:"flag_names"`
	Write    bool     `json:"write,omitempty" expr:"write"`
	Mode     string   `json:"mode,omitempty" expr:"mode"`
	Setuid   bool     `json:"setuid,omitempty" expr:"setuid"`
	Setgid   bool     `json:"setgid,omitempty" expr:"setgid"`
	// Executable is set on chmod when the new mode has an execute bit.
	Executable bool  `json:"executable,omitempty" expr:"executable"`
	Length     int64 `json:"length,omitempty" expr:"length"`
	Relative   bool  `json:"relative,omitempty" expr:"relative"`
	// AddedExtension is set on a rename that appends an extension to the
	// name (report.docx to report.docx.locked: "locked").
	AddedExtension string `json:"added_extension,omitempty" expr:"added_extension"`
	// ATime and MTime are the times a utimes event sets, in seconds since
	// the epoch (0: left alone or set to now). Backdated is set when one
	// of them is more than a day before the event.
	ATime     int64 `json:"atime,omitempty" expr:"atime"`
	MTime     int64 `json:"mtime,omitempty" expr:"mtime"`
	Backdated bool  `json:"backdated,omitempty" expr:"backdated"`
}

// NetInfo is set on network events.
type NetInfo struct {
	Family   string `json:"family" expr:"family"`
	Proto    string `json:"proto,omitempty" expr:"proto"`
	SrcAddr  string `json:"src_addr,omitempty" expr:"src_addr"`
	SrcPort  uint16 `json:"src_port,omitempty" expr:"src_port"`
	DstAddr  string `json:"dst_addr,omitempty" expr:"dst_addr"`
	DstPort  uint16 `json:"dst_port,omitempty" expr:"dst_port"`
	UnixPath string `json:"unix_path,omitempty" expr:"unix_path"`
	FD       int64  `json:"fd,omitempty" expr:"fd"`
	Backlog  int64  `json:"backlog,omitempty" expr:"backlog"`
	OldState string `json:"old_state,omitempty" expr:"old_state"`
	NewState string `json:"new_state,omitempty" expr:"new_state"`
}

// DNSInfo is set on dns events.
type DNSInfo struct {
	Query string `json:"query,omitempty" expr:"query"`
	QType string `json:"qtype,omitempty" expr:"qtype"`
	ID    uint16 `json:"id" expr:"id"`
}

// SysInfo carries the arguments of the security-relevant syscalls.
type SysInfo struct {
	Name      string `json:"name" expr:"name"`
	Request   string `json:"request,omitempty" expr:"request"`
	TargetPID int64  `json:"target_pid,omitempty" expr:"target_pid"`
	// TargetExe and TargetName are the target process's program (kill,
	// ptrace, process_vm_writev), as the process tree knows it.
	TargetExe  string   `json:"target_exe,omitempty" expr:"target_exe"`
	TargetName string   `json:"target_name,omitempty" expr:"target_name"`
	Signal     int64    `json:"signal,omitempty" expr:"signal"`
	Flags      uint64   `json:"flags,omitempty" expr:"flags"`
	FlagList   []string `json:"flag_names,omitempty" expr:"flag_names"`
	IDs        []int64  `json:"ids,omitempty" expr:"ids"`
	Effective  uint64   `json:"cap_effective,omitempty" expr:"cap_effective"`
	Permitted  uint64   `json:"cap_permitted,omitempty" expr:"cap_permitted"`
	Inherit    uint64   `json:"cap_inheritable,omitempty" expr:"cap_inheritable"`
	Cmd        string   `json:"cmd,omitempty" expr:"cmd"`
	SubType    uint64   `json:"sub_type,omitempty" expr:"sub_type"`
	ObjName    string   `json:"obj_name,omitempty" expr:"obj_name"`
	Source     string   `json:"source,omitempty" expr:"source"`
	Target     string   `json:"target,omitempty" expr:"target"`
	FSType     string   `json:"fstype,omitempty" expr:"fstype"`
	NSInode    uint64   `json:"ns_inode,omitempty" expr:"ns_inode"`
	OldFD      int64    `json:"old_fd,omitempty" expr:"old_fd"`
	NewFD      *int64   `json:"new_fd,omitempty" expr:"new_fd"`
	Net        *NetInfo `json:"socket,omitempty" expr:"socket"`
	// Family, SockType and Protocol are a socket event's socket(2)
	// arguments: "packet", "raw"...
	Family   string `json:"family,omitempty" expr:"family"`
	SockType string `json:"sock_type,omitempty" expr:"sock_type"`
	Protocol uint64 `json:"protocol,omitempty" expr:"protocol"`
}

// Basename is the last element of a path ("" stays "").
func Basename(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// Derive fills the fields computed from others (names, the command line)
// where they are empty. Decoders and the process tree call it; fixtures and
// other producers of events may too.
func (e *Event) Derive() {
	if e.Process.Name == "" {
		e.Process.Name = Basename(e.Process.Exe)
	}
	for i := range e.Process.Ancestors {
		if e.Process.Ancestors[i].Name == "" {
			e.Process.Ancestors[i].Name = Basename(e.Process.Ancestors[i].Exe)
		}
	}
	if e.Type == TypeRename && e.File != nil && e.File.AddedExtension == "" && e.File.Path != "" &&
		len(e.File.Target) > len(e.File.Path)+1 && strings.HasPrefix(e.File.Target, e.File.Path) && e.File.Target[len(e.File.Path)] == '.' {
		if ext := e.File.Target[len(e.File.Path)+1:]; !strings.Contains(ext, "/") {
			e.File.AddedExtension = ext
		}
	}
	if e.Exec != nil {
		if e.Exec.Name == "" {
			e.Exec.Name = Basename(e.Exec.Exe)
		}
		if e.Exec.Cmdline == "" && len(e.Exec.Args) > 0 {
			e.Exec.Cmdline = strings.Join(e.Exec.Args, " ")
		}
		if e.Exec.ProgramSource == "" {
			e.Exec.ProgramSource, e.Exec.Script = InterpreterProgram(e.Exec.Name, e.Exec.Args, e.Exec.Cwd)
		}
		if e.Exec.Stdin.Peer.Exe != "" && e.Exec.Stdin.Peer.Name == "" {
			e.Exec.Stdin.Peer.Name = Basename(e.Exec.Stdin.Peer.Exe)
		}
		if e.Exec.Stdout.Peer.Exe != "" && e.Exec.Stdout.Peer.Name == "" {
			e.Exec.Stdout.Peer.Name = Basename(e.Exec.Stdout.Peer.Exe)
		}
	}
}
