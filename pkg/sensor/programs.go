package sensor

import (
	"strings"

	"github.com/vigil-sec/vigil/pkg/event"
)

// hookTypes maps each program's hook (the syscall or tracepoint it handles)
// to the event type it produces. TestProgramsCovered checks that every
// program in the object is listed here.
var hookTypes = map[string]event.Type{
	"sched_exec": event.TypeExec, "sched_fork": event.TypeFork, "sched_exit": event.TypeExit,
	"openat": event.TypeOpen, "open": event.TypeOpen, "creat": event.TypeOpen, "openat2": event.TypeOpen,
	"unlink": event.TypeUnlink, "unlinkat": event.TypeUnlink, "rmdir": event.TypeUnlink,
	"rename": event.TypeRename, "renameat": event.TypeRename, "renameat2": event.TypeRename,
	"chmod": event.TypeChmod, "fchmodat": event.TypeChmod, "fchmod": event.TypeChmod,
	"link": event.TypeLink, "linkat": event.TypeLink,
	"symlink": event.TypeSymlink, "symlinkat": event.TypeSymlink,
	"truncate": event.TypeTruncate,
	"connect":  event.TypeConnect,
	"accept":   event.TypeAccept, "accept4": event.TypeAccept,
	"bind":              event.TypeBind,
	"listen":            event.TypeListen,
	"tcp_state":         event.TypeTCPState,
	"sock_send":         event.TypeDNS,
	"ptrace":            event.TypePtrace,
	"process_vm_writev": event.TypeProcessVMWritev,
	"setuid":            event.TypeSetID, "setgid": event.TypeSetID, "setreuid": event.TypeSetID,
	"setregid": event.TypeSetID, "setresuid": event.TypeSetID, "setresgid": event.TypeSetID,
	"setfsuid": event.TypeSetID, "setfsgid": event.TypeSetID,
	"capset":       event.TypeCapset,
	"memfd_create": event.TypeMemfdCreate,
	"init_module":  event.TypeModuleLoad, "finit_module": event.TypeModuleLoad,
	"bpf":     event.TypeBPF,
	"mount":   event.TypeMount,
	"umount":  event.TypeUmount,
	"unshare": event.TypeUnshare,
	"setns":   event.TypeSetns,
	"kill":    event.TypeKill, "tkill": event.TypeKill, "tgkill": event.TypeKill,
	"rt_sigqueueinfo": event.TypeKill, "rt_tgsigqueueinfo": event.TypeKill, "pidfd_send_signal": event.TypeKill,
	"dup2": event.TypeDupSocket, "dup3": event.TypeDupSocket,
	"prctl":       event.TypePrctl,
	"userfaultfd": event.TypeUserfaultfd,
	"mkdir":       event.TypeMkdir, "mkdirat": event.TypeMkdir,
	"utimensat": event.TypeUtimes, "utimes": event.TypeUtimes, "futimesat": event.TypeUtimes, "utime": event.TypeUtimes,
	"socket": event.TypeSocket,
}

// hookOf returns the hook a program handles: "exit_openat" -> "openat".
func hookOf(prog string) string {
	for _, p := range []string{"exit_"} {
		if strings.HasPrefix(prog, p) {
			return prog[len(p):]
		}
	}
	return prog
}

// typeOf returns the event type a program produces.
func typeOf(prog string) (event.Type, bool) {
	t, ok := hookTypes[hookOf(prog)]
	return t, ok
}

// optionalHooks are hooks whose tracepoints may be absent on a kernel
// (CONFIG_MODULES=n) without that being worth a warning.
var optionalHooks = map[string]bool{"init_module": true, "finit_module": true}
