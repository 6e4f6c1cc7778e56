/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The C/Go event contract. This header is the single source of truth for the
 * records Vigil's BPF programs write to the ring buffer. The Go mirrors live in
 * pkg/event/raw.go, and pkg/event's contract test checks them against the BTF
 * in the compiled object (offsets, sizes and enum values).
 *
 * Wire format of one record:
 *   struct event            fixed part (header + integer args + socket tuple)
 *   nstr x { u16 len; char bytes[len]; }   strings, in the order given per type
 *                                          in docs/events.md (len excludes NUL)
 */
#ifndef VIGIL_H
#define VIGIL_H

#define VIGIL_COMM_LEN 16
#define VIGIL_MAX_STR 4096     /* longest string copied into one record */
#define VIGIL_PREFIX_LEN 64    /* bytes of a path compared against prefix tries */
#define VIGIL_MAX_PREFIXES 512 /* entries of each prefix trie (event.MaxPrefixes) */
#define VIGIL_MAX_ARGV 2048    /* bytes of argv copied at exec */
#define VIGIL_MAX_ENV 1024     /* bytes of selected environment variables copied at exec */

enum vigil_event_type {
	EV_NONE = 0,
	EV_EXEC = 1,
	EV_FORK = 2,
	EV_EXIT = 3,
	EV_OPEN = 4,
	EV_UNLINK = 5,
	EV_RENAME = 6,
	EV_CHMOD = 7,
	EV_LINK = 8,
	EV_SYMLINK = 9,
	EV_TRUNCATE = 10,
	EV_CONNECT = 11,
	EV_ACCEPT = 12,
	EV_BIND = 13,
	EV_LISTEN = 14,
	EV_TCP_STATE = 15,
	EV_DNS = 16,
	EV_PTRACE = 17,
	EV_PROCESS_VM_WRITEV = 18,
	EV_SETID = 19,
	EV_CAPSET = 20,
	EV_MEMFD_CREATE = 21,
	EV_MODULE_LOAD = 22,
	EV_BPF = 23,
	EV_MOUNT = 24,
	EV_UMOUNT = 25,
	EV_UNSHARE = 26,
	EV_SETNS = 27,
	EV_KILL = 28,
	EV_DUP_SOCKET = 29,
	EV_PRCTL = 30,
	EV_USERFAULTFD = 31,
	EV_MKDIR = 32,
	EV_UTIMES = 33,
	EV_SOCKET = 34,
	EV_MAX = 35,
};

/* hdr.flags */
enum vigil_event_flags {
	EVF_ARGV_TRUNCATED = 1 << 0, /* exec: argv longer than VIGIL_MAX_ARGV */
	EVF_PATH_TRUNCATED = 1 << 1, /* a path had more components than walked */
	EVF_PATH_RELATIVE = 1 << 2,  /* a path could not be made absolute */
	EVF_PAYLOAD = 1 << 3,        /* dns: the last string is the raw query payload */
	EVF_SCRIPT = 1 << 4,         /* exec: the kernel ran an interpreter for the file (shebang, binfmt_misc) */
	EVF_ENV_TRUNCATED = 1 << 5,  /* exec: more selected environment variables than fit */
};

/* EV_UTIMES args[2]: which of the two times were given explicitly (not
 * "now", not omitted). */
enum vigil_utime_flags {
	UTF_ATIME = 1 << 0,
	UTF_MTIME = 1 << 1,
};

/* What an open file descriptor is (struct exec_stdio). */
enum vigil_fd_kind {
	FD_NONE = 0, /* not open */
	FD_PIPE = 1,
	FD_SOCKET = 2,
	FD_TTY = 3,  /* a terminal: tty, console or pseudo-terminal */
	FD_CHAR = 4, /* another character device (/dev/null) */
	FD_FILE = 5, /* a regular file */
	FD_OTHER = 6,
};

/* Which set*id syscall an EV_SETID record comes from (args[0]). */
enum vigil_setid_kind {
	SETID_SETUID = 1,
	SETID_SETGID = 2,
	SETID_SETREUID = 3,
	SETID_SETREGID = 4,
	SETID_SETRESUID = 5,
	SETID_SETRESGID = 6,
	SETID_SETFSUID = 7,
	SETID_SETFSGID = 8,
};

struct event_hdr {
	__u64 ts_boot_ns; /* bpf_ktime_get_boot_ns() */
	__u64 cgroup_id;
	__s64 ret;        /* syscall return value: >= 0 success, < 0 -errno */
	__u32 type;       /* enum vigil_event_type */
	__u32 size;       /* bytes of the whole record */
	__u32 pid;        /* tgid in the initial pid namespace */
	__u32 tid;
	__u32 ppid;
	__u32 ns_pid;     /* tgid as seen in the task's own pid namespace */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 loginuid;
	__u32 pidns;
	__u32 mntns;
	__u16 flags;      /* enum vigil_event_flags */
	__u16 nstr;       /* strings after struct event */
	char comm[VIGIL_COMM_LEN];
	__u32 _pad;
};

struct net_tuple {
	__u16 family; /* AF_INET, AF_INET6, AF_UNIX */
	__u16 proto;  /* IPPROTO_TCP, IPPROTO_UDP */
	__u16 sport;  /* host byte order */
	__u16 dport;  /* host byte order */
	__u8 saddr[16];
	__u8 daddr[16];
};

struct event {
	struct event_hdr hdr;
	__u64 args[6]; /* integer arguments; meaning per type in docs/events.md */
	struct net_tuple net;
};

/* Exec records carry this in the place of net: what the new program's
 * stdin, stdout and stderr are. The two ends of a pipe share its inode, so
 * user space pairs a pipeline's writer with its reader. */
struct exec_stdio {
	__u64 ino[3];  /* inode of fd 0, 1, 2 */
	__u8 kind[3];  /* enum vigil_fd_kind */
	__u8 _pad[13];
};
_Static_assert(sizeof(struct exec_stdio) == sizeof(struct net_tuple), "exec_stdio takes net's place");

/* Key of the LPM tries of path prefixes. */
struct prefix_key {
	__u32 prefixlen; /* in bits */
	__u8 data[VIGIL_PREFIX_LEN];
};

/* Configuration written by user space before load (.rodata). */
struct vigil_config {
	__u32 agent_tgid;     /* the agent's own pid: its activity is dropped */
	__u32 drop_failed;    /* drop failed syscalls where not interesting */
	__u64 wakeup_bytes;   /* wake the reader only once this much is pending */
};

#endif
