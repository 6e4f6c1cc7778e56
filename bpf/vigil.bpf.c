// SPDX-License-Identifier: GPL-2.0-only
/*
 * Vigil's sensor: syscall tracepoints, sched tp_btf hooks and
 * sock:inet_sock_set_state, written to one ring buffer as records described in
 * vigil.h. Syscalls are paired enter -> exit through the `pending` map so that
 * every record carries the syscall's result; filtering happens as early as the
 * arguments allow.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "vigil.h"
#include "lib/consts.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load. */
const volatile struct vigil_config cfg = {};

/* Keep the contract types in the object's BTF for the layout test. */
const enum vigil_event_type *unused_event_type __attribute__((unused));
const enum vigil_event_flags *unused_event_flags __attribute__((unused));
const enum vigil_setid_kind *unused_setid_kind __attribute__((unused));
const struct event *unused_event __attribute__((unused));
const struct exec_stdio *unused_exec_stdio __attribute__((unused));
const enum vigil_fd_kind *unused_fd_kind __attribute__((unused));
const enum vigil_utime_flags *unused_utime_flags __attribute__((unused));

#define EV_BUF 16384
#define EV_OFF_MAX 8191 /* records stop taking strings past this offset */
#define PATH_BUF 8192
#define PATH_HALF 4096
#define MAX_COMPONENTS 48

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by user space */
} events SEC(".maps");

struct sargs {
	__u64 a[6];
};


struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EV_MAX);
	__type(key, __u32);
	__type(value, __u32);
} enabled SEC(".maps");

/* Ring buffer reserve failures and in-kernel filter decisions, per type. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} filtered SEC(".maps");

/* Read-opens are sent only under these prefixes. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VIGIL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prefix_key);
	__type(value, __u8);
} watched_prefixes SEC(".maps");

/* Write-opens under these are sent even when under a noisy prefix. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VIGIL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prefix_key);
	__type(value, __u8);
} write_watched_prefixes SEC(".maps");

/* Write-opens are sent except under these prefixes. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VIGIL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prefix_key);
	__type(value, __u8);
} noisy_prefixes SEC(".maps");

/*
 * Read-opens that were not sent, remembered by what identifies the file's
 * name (its dentry, parent and name hash, its mount, its inode), so the
 * same file opened again skips the path walk. An entry holds only while
 * both generations are the ones it was made at: fs_gen moves with every
 * rename and (u)mount on the host (a name that moved: names_moved), and
 * prefixgen with every change of the prefixes by the agent. Only "not sent"
 * is remembered: what is sent is always walked.
 */
struct read_key {
	__u64 dentry;
	__u64 parent;
	__u64 mnt;
	__u64 inode;
	__u64 hash_len;
};

struct read_gen {
	__u64 fs;
	__u64 prefixes;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct read_key);
	__type(value, struct read_gen);
} unsent_reads SEC(".maps");

/* The last unsent read on this CPU: a program reading one file again and
 * again (a config, a lock file, /proc entries) is answered without the
 * LRU's hash. Same key and generations as unsent_reads. */
struct last_read {
	struct read_key k;
	struct read_gen g;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct last_read);
} last_reads SEC(".maps");

/* Moved by the kernel (names_moved), read by every read-open. */
__u64 fs_gen = 0;

/* Moved by the agent when it changes the prefixes. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} prefixgen SEC(".maps");

struct evbuf {
	__u8 data[EV_BUF];
};

struct pathbuf {
	__u8 data[PATH_BUF];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct evbuf);
} evbufs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct pathbuf);
} pathbufs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} walkpos SEC(".maps");

struct envcur {
	__u64 pos; /* the next variable's address */
	__u32 len; /* bytes kept */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct envcur);
} envpos SEC(".maps");

/* ---------------------------------------------------------------- helpers */

/* Bound v by a mask in a way the compiler cannot fold away, so the verifier
 * sees the AND right before the use. */
#define BOUND(v, mask) asm volatile("%0 &= " #mask : "+r"(v))

static __always_inline void count(void *map, __u32 type)
{
	__u64 *v = bpf_map_lookup_elem(map, &type);
	if (v)
		*v += 1;
}

static __always_inline bool is_agent(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == cfg.agent_tgid;
}

static __always_inline bool type_enabled(__u32 type)
{
	__u32 *v = bpf_map_lookup_elem(&enabled, &type);
	return v && *v;
}

static __always_inline void fill_hdr(struct event_hdr *h, __u32 type, long ret)
{
	/* Direct loads through the task's BTF pointer: a helper call only
	 * where an index or a copied pointer needs one. */
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();

	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->ret = ret;
	h->type = type;
	h->size = 0;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->ppid = t->real_parent->tgid;
	h->uid = (__u32)ug;
	h->gid = ug >> 32;
	h->euid = t->cred->euid.val;
	h->loginuid = t->loginuid.val;
	h->mntns = t->nsproxy->mnt_ns->ns.inum;

	struct pid *p = t->group_leader->thread_pid;
	unsigned int level = p->level;
	struct upid up = {};
	bpf_core_read(&up, sizeof(up), &p->numbers[level & 31]);
	h->ns_pid = up.nr;
	h->pidns = BPF_CORE_READ(up.ns, ns.inum);
	h->flags = 0;
	h->nstr = 0;
	h->_pad = 0;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Start a record in the per-CPU event buffer. Returns NULL when unavailable. */
static __always_inline struct event *ev_start(__u32 type, long ret)
{
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&evbufs, &zero);
	if (!e)
		return NULL;
	fill_hdr(&e->hdr, type, ret);
	__builtin_memset(e->args, 0, sizeof(e->args));
	__builtin_memset(&e->net, 0, sizeof(e->net));
	return e;
}

static __always_inline __u32 put_len(struct event *e, __u32 off, __u32 n)
{
	__u8 *buf = (__u8 *)e;
	if (off > EV_OFF_MAX)
		return off;
	BOUND(off, 8191);
	buf[off] = n & 0xff;
	buf[off + 1] = (n >> 8) & 0xff;
	e->hdr.nstr++;
	return off + 2 + n;
}

/* Append a user-space NUL-terminated string. */
static __always_inline __u32 put_ustr(struct event *e, __u32 off, const void *src, __u32 max)
{
	__u8 *buf = (__u8 *)e;
	if (off > EV_OFF_MAX)
		return off;
	BOUND(off, 8191);
	long n = 0;
	if (max > VIGIL_MAX_STR - 1)
		max = VIGIL_MAX_STR - 1;
	BOUND(max, 4095);
	if (src && max)
		n = bpf_probe_read_user_str(&buf[off + 2], max, src);
	n = n > 0 ? n - 1 : 0;
	return put_len(e, off, n);
}

/* Append bytes (not a C string) from user space. */
static __always_inline __u32 put_ubytes(struct event *e, __u32 off, const void *src, __u32 len)
{
	__u8 *buf = (__u8 *)e;
	if (off > EV_OFF_MAX)
		return off;
	BOUND(off, 8191);
	BOUND(len, 4095);
	if (len && bpf_probe_read_user(&buf[off + 2], len, src) < 0)
		len = 0;
	return put_len(e, off, len);
}

/* Append a kernel NUL-terminated string. */
static __always_inline __u32 put_kstr(struct event *e, __u32 off, const char *src)
{
	__u8 *buf = (__u8 *)e;
	if (off > EV_OFF_MAX)
		return off;
	BOUND(off, 8191);
	long n = bpf_probe_read_kernel_str(&buf[off + 2], VIGIL_MAX_STR - 1, src);
	return put_len(e, off, n > 0 ? n - 1 : 0);
}

/* Append a kernel string of known length. */
static __always_inline __u32 put_kbytes(struct event *e, __u32 off, const void *src, __u32 len)
{
	__u8 *buf = (__u8 *)e;
	if (off > EV_OFF_MAX)
		return off;
	BOUND(off, 8191);
	if (len > VIGIL_MAX_STR - 1)
		len = VIGIL_MAX_STR - 1;
	BOUND(len, 4095);
	if (len && bpf_probe_read_kernel(&buf[off + 2], len, src) < 0)
		len = 0;
	return put_len(e, off, len);
}

static __always_inline void ev_emit(struct event *e, __u32 off)
{
	__u32 type = e->hdr.type;
	__u32 size = off;
	if (size > EV_BUF - 1)
		size = EV_BUF - 1;
	e->hdr.size = size;
	/* Notify the reader only when enough is pending: it also drains the
	 * ring on a short timer, so a quiet host pays no wake-up per event. */
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg.wakeup_bytes ?
		BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, e, size, flags) < 0)
		count(&drops, type);
}

/* --------------------------------------------------------------- paths */

static __always_inline struct pathbuf *pbuf(__u32 idx)
{
	return bpf_map_lookup_elem(&pathbufs, &idx);
}

/*
 * Write the path of (dentry, vfsmount) into pb->data so that it ends at
 * PATH_HALF, walking d_parent and crossing mounts, as d_path does. Returns
 * the start offset. *trunc is set when the walk ran out of room or depth.
 */
static __noinline __u32 walk_path(struct pathbuf *pb, struct dentry *d, struct vfsmount *vm, __u16 *trunc)
{
	struct mount *mnt = container_of(vm, struct mount, mnt);
	__u32 zero = 0;
	/* The cursor lives in map memory: each iteration reads it back as an
	 * unknown scalar, so the verifier's states at the loop head are equal
	 * whichever branches led there, and it prunes them. */
	__u32 *cur = bpf_map_lookup_elem(&walkpos, &zero);

	if (!pb || !d || !cur)
		return PATH_HALF;
	*cur = PATH_HALF;

	for (int i = 0; i < MAX_COMPONENTS; i++) {
		__u32 pos = *cur;
		if (pos > PATH_HALF)
			return PATH_HALF;
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		struct dentry *mroot = BPF_CORE_READ(mnt, mnt.mnt_root);
		if (d == mroot) {
			struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);
			if (mp == mnt)
				return pos;
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mp;
			continue;
		}
		if (d == parent)
			return pos;
		struct qstr q = BPF_CORE_READ(d, d_name);
		__u32 len = q.len & 255;
		if (len + 1 > pos) {
			*trunc |= EVF_PATH_TRUNCATED;
			return pos;
		}
		pos -= len;
		if (pos >= PATH_HALF)
			return PATH_HALF;
		bpf_probe_read_kernel(&pb->data[pos], len, q.name);
		pos -= 1;
		if (pos >= PATH_HALF)
			return PATH_HALF;
		pb->data[pos] = '/';
		*cur = pos;
		d = parent;
	}
	*trunc |= EVF_PATH_TRUNCATED;
	return *cur;
}

static __always_inline struct file *fd_file(int fd)
{
	/* Direct loads from the task's BTF pointer down to the table. */
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = t->files->fdt;
	unsigned int max = fdt->max_fds;
	struct file **fds = fdt->fd;
	struct file *f = NULL;

	if (fd < 0 || (unsigned int)fd >= max)
		return NULL;
	bpf_core_read(&f, sizeof(f), &fds[fd]);
	return f;
}

struct pathres {
	__u32 start;
	__u32 len;
};

/* The path of an open file, absolute. */
static __always_inline struct pathres file_path(struct pathbuf *pb, struct file *f, __u16 *flags)
{
	struct pathres r = { PATH_HALF, 0 };
	if (!pb || !f)
		return r;
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
	__u32 start = walk_path(pb, d, vm, flags);
	if (start >= PATH_HALF) {
		pb->data[PATH_HALF - 1] = '/';
		start = PATH_HALF - 1;
	}
	pb->data[PATH_HALF] = 0;
	r.start = start;
	r.len = PATH_HALF - start;
	return r;
}

/*
 * A user-supplied path made absolute: copied as is when it starts with '/',
 * else joined to the directory of dirfd (or the cwd for AT_FDCWD). "." and
 * ".." are left for user space to clean.
 */
static __always_inline struct pathres user_path_at(struct pathbuf *pb, int dirfd, const char *upath, __u16 *flags)
{
	struct pathres r = { PATH_HALF, 0 };
	if (!pb || !upath)
		return r;
	long n = bpf_probe_read_user_str(&pb->data[PATH_HALF + 1], PATH_HALF - 2, upath);
	if (n <= 1) {
		pb->data[PATH_HALF] = 0;
		return r;
	}
	n -= 1;
	if (pb->data[PATH_HALF + 1] == '/') {
		r.start = PATH_HALF + 1;
		r.len = n;
		return r;
	}
	struct dentry *d = NULL;
	struct vfsmount *vm = NULL;
	if (dirfd == AT_FDCWD) {
		struct task_struct *t = (void *)bpf_get_current_task();
		d = BPF_CORE_READ(t, fs, pwd.dentry);
		vm = BPF_CORE_READ(t, fs, pwd.mnt);
	} else {
		struct file *f = fd_file(dirfd);
		if (!f) {
			*flags |= EVF_PATH_RELATIVE;
			r.start = PATH_HALF + 1;
			r.len = n;
			return r;
		}
		d = BPF_CORE_READ(f, f_path.dentry);
		vm = BPF_CORE_READ(f, f_path.mnt);
	}
	__u32 start = walk_path(pb, d, vm, flags);
	pb->data[PATH_HALF] = '/';
	r.start = start;
	r.len = PATH_HALF - start + 1 + n;
	return r;
}

static __always_inline __u32 put_path(struct event *e, __u32 off, struct pathbuf *pb, struct pathres r)
{
	if (!pb)
		return put_len(e, off, 0);
	return put_kbytes(e, off, &pb->data[r.start & (PATH_BUF - 1)], r.len);
}

/* True if the path's first VIGIL_PREFIX_LEN bytes fall under a prefix in map. */
static __always_inline bool under_prefix(void *map, struct pathbuf *pb, struct pathres r)
{
	struct prefix_key k = {};
	if (!pb)
		return false;
	__u32 len = r.len;
	if (len > VIGIL_PREFIX_LEN)
		len = VIGIL_PREFIX_LEN;
	/* A fixed-size read: the bytes past len are not compared (prefixlen). */
	bpf_probe_read_kernel(k.data, VIGIL_PREFIX_LEN, &pb->data[r.start & (PATH_BUF - 1)]);
	k.prefixlen = len * 8;
	return bpf_map_lookup_elem(map, &k) != NULL;
}

/* True for /proc/<...>/environ and /proc/<...>/mem: another process's
 * environment or memory. */
static __always_inline bool proc_secret(struct pathbuf *pb, struct pathres r)
{
	char head[6], tail[8];
	if (!pb || r.len < 10 || r.len > 64)
		return false;
	__u32 start = r.start & (PATH_BUF - 1);
	bpf_probe_read_kernel(head, sizeof(head), &pb->data[start]);
	if (head[0] != '/' || head[1] != 'p' || head[2] != 'r' || head[3] != 'o' || head[4] != 'c' || head[5] != '/')
		return false;
	bpf_probe_read_kernel(tail, sizeof(tail), &pb->data[(start + r.len - 8) & (PATH_BUF - 1)]);
	if (tail[0] == '/' && tail[1] == 'e' && tail[2] == 'n' && tail[3] == 'v' && tail[4] == 'i' &&
	    tail[5] == 'r' && tail[6] == 'o' && tail[7] == 'n')
		return true;
	return tail[4] == '/' && tail[5] == 'm' && tail[6] == 'e' && tail[7] == 'm';
}

enum dev_place { NOT_DEV, DEV_SHM, DEV_OTHER };

/* Where a path is below /dev: not there, in /dev/shm (a tmpfs programs
 * share memory in), or elsewhere in devtmpfs, where only udev and the
 * kernel make entries. */
static __always_inline enum dev_place dev_place(struct pathbuf *pb, struct pathres r)
{
	char h[9];
	if (!pb || r.len < 6)
		return NOT_DEV;
	bpf_probe_read_kernel(h, sizeof(h), &pb->data[r.start & (PATH_BUF - 1)]);
	if (h[0] != '/' || h[1] != 'd' || h[2] != 'e' || h[3] != 'v' || h[4] != '/')
		return NOT_DEV;
	return h[5] == 's' && h[6] == 'h' && h[7] == 'm' && (h[8] == '/' || h[8] == 0) ? DEV_SHM : DEV_OTHER;
}

/* Write-opens and mkdirs are sent but under noisy prefixes, unless
 * write-watched. */
static __always_inline bool write_sent(struct pathbuf *pb, struct pathres r)
{
	return under_prefix(&write_watched_prefixes, pb, r) || !under_prefix(&noisy_prefixes, pb, r);
}

/* -------------------------------------------------------------- sockets */

static __always_inline struct sock *file_sock(struct file *f)
{
	if (!f)
		return NULL;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *s = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(s, sk);
}

static __always_inline __u8 fd_kind(struct file *f)
{
	if (!f)
		return FD_NONE;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	umode_t mode = BPF_CORE_READ(ino, i_mode);
	switch (mode & S_IFMT) {
	case S_IFIFO:
		return FD_PIPE;
	case S_IFSOCK:
		return FD_SOCKET;
	case S_IFREG:
		return FD_FILE;
	case S_IFCHR: {
		/* tty and console (4, 5), pseudo-terminal slaves (136-143). */
		__u32 major = BPF_CORE_READ(ino, i_rdev) >> 20;
		return major == 4 || major == 5 || (major >= 136 && major <= 143) ? FD_TTY : FD_CHAR;
	}
	}
	return FD_OTHER;
}

static __always_inline void sock_tuple(struct net_tuple *n, const struct sock *sk)
{
	if (!sk)
		return;
	n->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	n->proto = BPF_CORE_READ(sk, sk_protocol);
	n->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	n->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* Sizes are explicit: BPF_CORE_READ_INTO into a u8 array reads one byte. */
	if (n->family == AF_INET) {
		bpf_core_read(n->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(n->daddr, 4, &sk->__sk_common.skc_daddr);
	} else if (n->family == AF_INET6) {
		bpf_core_read(n->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(n->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* Fill the remote (or, with local, the bound) side from a user sockaddr.
 * Returns the family, or 0 when unreadable. */
static __always_inline __u16 user_sockaddr(struct net_tuple *n, const void *uaddr, bool local)
{
	__u16 family = 0;
	if (!uaddr || bpf_probe_read_user(&family, sizeof(family), uaddr) < 0)
		return 0;
	n->family = family;
	if (family == AF_INET) {
		struct sockaddr_in sin = {};
		bpf_probe_read_user(&sin, sizeof(sin), uaddr);
		if (local) {
			n->sport = bpf_ntohs(sin.sin_port);
			__builtin_memcpy(n->saddr, &sin.sin_addr, 4);
		} else {
			n->dport = bpf_ntohs(sin.sin_port);
			__builtin_memcpy(n->daddr, &sin.sin_addr, 4);
		}
	} else if (family == AF_INET6) {
		struct sockaddr_in6 sin6 = {};
		bpf_probe_read_user(&sin6, sizeof(sin6), uaddr);
		if (local) {
			n->sport = bpf_ntohs(sin6.sin6_port);
			__builtin_memcpy(n->saddr, &sin6.sin6_addr, 16);
		} else {
			n->dport = bpf_ntohs(sin6.sin6_port);
			__builtin_memcpy(n->daddr, &sin6.sin6_addr, 16);
		}
	}
	return family;
}

/* ---------------------------------------------------- syscall arguments */

/*
 * Each traced syscall has one program, on its exit tracepoint: the result is
 * known there, and the arguments are still in the user registers the kernel
 * saved at entry (x86-64 syscall ABI: rdi, rsi, rdx, r10, r8, r9). One
 * program per syscall and no map to pair entry with exit.
 */
static __always_inline void sys_args(struct sargs *a)
{
	/* Direct loads from the BTF pointer: no helper call per register. */
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	a->a[0] = regs->di;
	a->a[1] = regs->si;
	a->a[2] = regs->dx;
	a->a[3] = regs->r10;
	a->a[4] = regs->r8;
	a->a[5] = regs->r9;
}

/* Failed syscalls are dropped unless the failure is a permission denial. */
static __always_inline bool drop_failure(long ret)
{
	return ret < 0 && cfg.drop_failed && ret != -EACCES && ret != -EPERM;
}

/* SYSCALL(sc, type) { body } defines the program on sys_exit_<sc>. The body
 * sees `a` (the arguments) and `ret`; it runs only when type is enabled and
 * the caller is not the agent. SYSCALL_FIRST(sc, type, stmt) runs stmt on
 * every call before that (SYSCALL_FS, below). */
#define SYSCALL_FIRST(sc, type, first)                                         \
	static __always_inline int handle_##sc(struct sargs *a, long ret);         \
	SEC("tracepoint/syscalls/sys_exit_" #sc)                                \
	int exit_##sc(struct trace_event_raw_sys_exit *ctx)                    \
	{                                                                      \
		struct sargs a;                                                    \
		first;                                                             \
		if (is_agent() || !type_enabled(type))                             \
			return 0;                                                      \
		sys_args(&a);                                                      \
		return handle_##sc(&a, ctx->ret);                                  \
	}                                                                      \
	static __always_inline int handle_##sc(struct sargs *a, long ret)

#define SYSCALL(sc, type) SYSCALL_FIRST(sc, type, (void)0)

/* A successful rename or (u)mount moves names: remembered read verdicts
 * no longer hold (a renamed directory keeps its children's dentries,
 * parents and names, with new paths). Unlink, rmdir and link change no
 * remaining name's path: a name they add is a new dentry, hence a new key,
 * and one they remove takes its key with it. A build unlinks its
 * temporary files at every compiler run, which emptied the cache each
 * time (docs/performance.md). It runs whatever the event types enabled
 * (the sensor attaches these programs whenever opens are traced). */
static __always_inline void names_moved(long ret)
{
	if (ret >= 0)
		__sync_fetch_and_add(&fs_gen, 1);
}

/* SYSCALL_FS is SYSCALL for the syscalls that move names. */
#define SYSCALL_FS(sc, type) SYSCALL_FIRST(sc, type, names_moved(ctx->ret))

/* ------------------------------------------------------------- process */

#define MAX_ENV_STRINGS 128
#define ENV_READ 256 /* bytes of one variable read */

static __always_inline bool has_prefix(const __u8 *v, const char *lit, const int n)
{
	__u8 d = 0;
#pragma unroll
	for (int i = 0; i < n; i++)
		d |= v[i] ^ (__u8)lit[i];
	return d == 0;
}

struct envhead {
	__u8 c[16];
};

/* The variables exec records keep: loader, libc and shell start-up hooks,
 * shell history settings (HIST*), and proxies. Checked on the first bytes of "NAME=value". A global
 * function: the verifier checks it once, not once per variable. */
__noinline int env_selected(const struct envhead *h)
{
	if (!h)
		return 0;
	const __u8 *v = h->c;
	switch (v[0]) {
	case 'L':
		return v[1] == 'D' && v[2] == '_';
	case 'G':
		return has_prefix(v, "GLIBC_TUNABLES=", 15);
	case 'B':
		return has_prefix(v, "BASH_ENV=", 9);
	case 'E':
		return has_prefix(v, "ENV=", 4);
	case 'P':
		return has_prefix(v, "PROMPT_COMMAND=", 15) || has_prefix(v, "PERL5OPT=", 9) ||
		       has_prefix(v, "PYTHONSTARTUP=", 14);
	case 'N':
		return has_prefix(v, "NODE_OPTIONS=", 13);
	case 'h':
		return has_prefix(v, "http_proxy=", 11) || has_prefix(v, "https_proxy=", 12);
	case 'H':
		return has_prefix(v, "HTTP_PROXY=", 11) || has_prefix(v, "HTTPS_PROXY=", 12) || has_prefix(v, "HIST", 4);
	case 'a':
		return has_prefix(v, "all_proxy=", 10);
	case 'A':
		return has_prefix(v, "ALL_PROXY=", 10);
	}
	return false;
}

/* The selected variables of the new program's environment in [start, end),
 * as one string of NUL-terminated "NAME=value" entries. Each variable costs
 * one bounded user read, straight into the record: a selected one is kept
 * by moving past it, any other is overwritten by the next. The cursor lives
 * in map memory so the verifier prunes the loop like walk_path's. */
static __noinline __u32 put_env(struct event *e, __u32 off, unsigned long start, unsigned long end)
{
	__u32 zero = 0;
	__u8 *buf = (__u8 *)e;
	struct envcur *c = bpf_map_lookup_elem(&envpos, &zero);
	if (!c || off > EV_OFF_MAX)
		return put_len(e, off, 0);
	c->pos = start;
	c->len = 0;
	for (int i = 0; i < MAX_ENV_STRINGS; i++) {
		unsigned long p = c->pos;
		__u32 kept = c->len;
		if (p >= end)
			break;
		if (kept > VIGIL_MAX_ENV - ENV_READ) {
			e->hdr.flags |= EVF_ENV_TRUNCATED;
			break;
		}
		__u32 at = off;
		BOUND(at, 8191);
		BOUND(kept, 1023);
		at += 2 + kept;
		long n = bpf_probe_read_user_str(&buf[at], ENV_READ, (void *)p);
		if (n <= 0)
			break;
		if (env_selected((const struct envhead *)&buf[at]))
			c->len = kept + n;
		c->pos = p + n;
	}
	__u32 kept = c->len;
	BOUND(kept, 2047); /* at most VIGIL_MAX_ENV: the loop stops before */
	return put_len(e, off, kept);
}


SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (is_agent() || !type_enabled(EV_EXEC))
		return 0;
	struct event *e = ev_start(EV_EXEC, 0);
	struct pathbuf *pb = pbuf(0);
	if (!e || !pb)
		return 0;
	__u32 off = sizeof(*e);

	struct file *f = BPF_CORE_READ(bprm, file);
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	e->args[0] = BPF_CORE_READ(bprm, argc);
	e->args[1] = old_pid;
	e->args[2] = BPF_CORE_READ(ino, i_ino);
	e->args[3] = BPF_CORE_READ(ino, i_mode);
	e->args[4] = BPF_CORE_READ(ino, __i_nlink) == 0;
	/* Which of stdin, stdout, stderr are sockets (a shell on a socket is a
	 * reverse shell), and what each is, with its inode: a pipe's pairs its
	 * writer with its reader. A few pointer reads, at exec only. */
	__u64 stdio = 0;
	struct exec_stdio *st = (struct exec_stdio *)&e->net;
	for (int fd = 0; fd < 3; fd++) {
		struct file *sf = fd_file(fd);
		if (file_sock(sf))
			stdio |= 1 << fd;
		st->kind[fd] = fd_kind(sf);
		st->ino[fd] = sf ? BPF_CORE_READ(sf, f_inode, i_ino) : 0;
	}
	e->args[5] = stdio;
	/* binfmt_script and binfmt_misc point interp at the interpreter; for
	 * any other program it is the filename itself. */
	if (BPF_CORE_READ(bprm, interp) != BPF_CORE_READ(bprm, filename))
		e->hdr.flags |= EVF_SCRIPT;

	struct pathres r = file_path(pb, f, &e->hdr.flags);
	off = put_path(e, off, pb, r);

	struct mm_struct *mm = BPF_CORE_READ(p, mm);
	unsigned long as = BPF_CORE_READ(mm, arg_start);
	unsigned long ae = BPF_CORE_READ(mm, arg_end);
	__u32 alen = ae > as ? ae - as : 0;
	if (alen > VIGIL_MAX_ARGV) {
		alen = VIGIL_MAX_ARGV;
		e->hdr.flags |= EVF_ARGV_TRUNCATED;
	}
	off = put_ubytes(e, off, (void *)as, alen);

	struct dentry *cd = BPF_CORE_READ(p, fs, pwd.dentry);
	struct vfsmount *cm = BPF_CORE_READ(p, fs, pwd.mnt);
	__u32 start = walk_path(pb, cd, cm, &e->hdr.flags);
	if (start >= PATH_HALF) {
		pb->data[PATH_HALF - 1] = '/';
		start = PATH_HALF - 1;
	}
	off = put_kbytes(e, off, &pb->data[start & (PATH_BUF - 1)], PATH_HALF - start);

	off = put_kstr(e, off, BPF_CORE_READ(bprm, filename));
	off = put_env(e, off, BPF_CORE_READ(mm, env_start), BPF_CORE_READ(mm, env_end));
	ev_emit(e, off);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	if (is_agent() || !type_enabled(EV_FORK))
		return 0;
	__u32 cpid = BPF_CORE_READ(child, pid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	if (cpid != ctgid) /* a new thread, not a process */
		return 0;
	struct event *e = ev_start(EV_FORK, 0);
	if (!e)
		return 0;
	e->args[0] = ctgid;
	e->args[1] = BPF_CORE_READ(child, start_boottime);
	ev_emit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p)
{
	if (is_agent() || !type_enabled(EV_EXIT))
		return 0;
	/* Only when the whole thread group is gone. */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	int code = BPF_CORE_READ(p, exit_code);
	struct event *e = ev_start(EV_EXIT, (code >> 8) & 0xff);
	if (!e)
		return 0;
	e->args[0] = (code >> 8) & 0xff;
	e->args[1] = code & 0x7f;
	e->args[2] = (code & 0x80) != 0;
	ev_emit(e, sizeof(*e));
	return 0;
}

/* ---------------------------------------------------------------- files */

/* A regular file created below /dev: nothing but device nodes, directories
 * and links belong there (/dev/null is opened with O_CREAT by every shell
 * redirect, so the file's type decides). */
static __always_inline bool dev_create(struct pathbuf *pb, struct pathres r, __u64 flags, struct file *f)
{
	return f && (flags & O_CREAT) && dev_place(pb, r) == DEV_OTHER && fd_kind(f) == FD_FILE;
}

/* The head of struct dentry from d_parent on: d_parent, d_name (its
 * hash_len and name) and d_inode sit together in every kernel since 3.x. */
struct dentry_head {
	struct dentry *parent;
	__u64 hash_len;
	const unsigned char *name;
	struct inode *inode;
};

/* What names an open file, and the generations now; false when unknown.
 * Two reads: the file's path, the dentry's head. */
static __always_inline bool read_identity(struct file *f, struct read_key *k, struct read_gen *g)
{
	__u32 z = 0;
	__u64 *px = bpf_map_lookup_elem(&prefixgen, &z);
	struct path p = {};
	struct dentry_head h = {};
	if (!px)
		return false;
	g->fs = *(volatile __u64 *)&fs_gen;
	g->prefixes = *px;
	if (bpf_core_read(&p, sizeof(p), &f->f_path) || !p.dentry)
		return false;
	if (bpf_core_read(&h, sizeof(h), &p.dentry->d_parent))
		return false;
	k->dentry = (__u64)p.dentry;
	k->mnt = (__u64)p.mnt;
	k->parent = (__u64)h.parent;
	k->inode = (__u64)h.inode;
	k->hash_len = h.hash_len;
	return true;
}

static __always_inline int do_open(int dirfd, const char *upath, __u64 flags, __u64 mode, long ret)
{
	if (drop_failure(ret)) {
		count(&filtered, EV_OPEN);
		return 0;
	}
	/* Decide on the path first: most opens are filtered, and they should
	 * not pay for the record's header. */
	__u16 pflags = 0;
	struct pathres r;
	bool write = (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0;
	struct file *f = ret >= 0 ? fd_file(ret) : NULL;
	/* A read of a file whose name was seen unsent since nothing moved:
	 * this CPU's last one, else the LRU. */
	struct read_key rk = {};
	struct read_gen now = {};
	__u32 zero = 0;
	struct last_read *lr = NULL;
	bool cacheable = f && !write && (lr = bpf_map_lookup_elem(&last_reads, &zero)) && read_identity(f, &rk, &now);
	if (cacheable) {
		if (lr->k.dentry == rk.dentry && lr->k.mnt == rk.mnt && lr->k.parent == rk.parent && lr->k.inode == rk.inode &&
		    lr->k.hash_len == rk.hash_len && lr->g.fs == now.fs && lr->g.prefixes == now.prefixes) {
			count(&filtered, EV_OPEN);
			return 0;
		}
		struct read_gen *seen = bpf_map_lookup_elem(&unsent_reads, &rk);
		if (seen && seen->fs == now.fs && seen->prefixes == now.prefixes) {
			lr->k = rk;
			lr->g = now;
			count(&filtered, EV_OPEN);
			return 0;
		}
	}
	struct pathbuf *pb = pbuf(0);
	if (!pb)
		return 0;
	if (ret >= 0)
		r = file_path(pb, f, &pflags);
	else
		r = user_path_at(pb, dirfd, upath, &pflags);

	/* Reads: watched prefixes, and /proc/<pid>/environ and mem. Writes:
	 * all but noisy prefixes, except write-watched ones. */
	bool send = write ? (write_sent(pb, r) || dev_create(pb, r, flags, f))
			  : (under_prefix(&watched_prefixes, pb, r) || proc_secret(pb, r));
	if (!send) {
		/* A truncated path decided nothing for sure: not remembered. */
		if (cacheable && lr && !(pflags & EVF_PATH_TRUNCATED)) {
			bpf_map_update_elem(&unsent_reads, &rk, &now, BPF_ANY);
			lr->k = rk;
			lr->g = now;
		}
		count(&filtered, EV_OPEN);
		return 0;
	}
	struct event *e = ev_start(EV_OPEN, ret);
	if (!e)
		return 0;
	e->hdr.flags |= pflags;
	e->args[0] = flags;
	e->args[1] = mode;
	e->args[2] = (__u64)(__s64)dirfd;
	__u32 off = put_path(e, sizeof(*e), pb, r);
	ev_emit(e, off);
	return 0;
}

SYSCALL(openat, EV_OPEN)
{
	return do_open(a->a[0], (const char *)a->a[1], a->a[2], a->a[3], ret);
}

SYSCALL(open, EV_OPEN)
{
	return do_open(AT_FDCWD, (const char *)a->a[0], a->a[1], a->a[2], ret);
}

SYSCALL(creat, EV_OPEN)
{
	return do_open(AT_FDCWD, (const char *)a->a[0], O_CREAT | O_WRONLY | O_TRUNC, a->a[1], ret);
}

SYSCALL(openat2, EV_OPEN)
{
	struct open_how how = {};
	bpf_probe_read_user(&how, sizeof(how), (void *)a->a[2]);
	return do_open(a->a[0], (const char *)a->a[1], how.flags, how.mode, ret);
}

/* A file event with up to two user paths. */
static __always_inline int do_paths(__u32 type, long ret, int dfd1, const char *p1, int dfd2, const char *p2,
				    __u64 a0, __u64 a1)
{
	if (drop_failure(ret)) {
		count(&filtered, type);
		return 0;
	}
	struct event *e = ev_start(type, ret);
	struct pathbuf *pb = pbuf(0);
	if (!e || !pb)
		return 0;
	e->args[0] = a0;
	e->args[1] = a1;
	__u32 off = sizeof(*e);
	off = put_path(e, off, pb, user_path_at(pb, dfd1, p1, &e->hdr.flags));
	if (p2)
		off = put_path(e, off, pb, user_path_at(pb, dfd2, p2, &e->hdr.flags));
	ev_emit(e, off);
	return 0;
}

SYSCALL(unlink, EV_UNLINK) { return do_paths(EV_UNLINK, ret, AT_FDCWD, (void *)a->a[0], 0, NULL, 0, 0); }
SYSCALL(unlinkat, EV_UNLINK) { return do_paths(EV_UNLINK, ret, a->a[0], (void *)a->a[1], 0, NULL, a->a[2], 0); }
SYSCALL(rmdir, EV_UNLINK) { return do_paths(EV_UNLINK, ret, AT_FDCWD, (void *)a->a[0], 0, NULL, AT_REMOVEDIR, 0); }

SYSCALL_FS(rename, EV_RENAME) { return do_paths(EV_RENAME, ret, AT_FDCWD, (void *)a->a[0], AT_FDCWD, (void *)a->a[1], 0, 0); }
SYSCALL_FS(renameat, EV_RENAME) { return do_paths(EV_RENAME, ret, a->a[0], (void *)a->a[1], a->a[2], (void *)a->a[3], 0, 0); }
SYSCALL_FS(renameat2, EV_RENAME) { return do_paths(EV_RENAME, ret, a->a[0], (void *)a->a[1], a->a[2], (void *)a->a[3], a->a[4], 0); }

SYSCALL(chmod, EV_CHMOD) { return do_paths(EV_CHMOD, ret, AT_FDCWD, (void *)a->a[0], 0, NULL, a->a[1], 0); }
SYSCALL(fchmodat, EV_CHMOD) { return do_paths(EV_CHMOD, ret, a->a[0], (void *)a->a[1], 0, NULL, a->a[2], 0); }

SYSCALL(fchmod, EV_CHMOD)
{
	if (drop_failure(ret))
		return 0;
	struct event *e = ev_start(EV_CHMOD, ret);
	struct pathbuf *pb = pbuf(0);
	if (!e || !pb)
		return 0;
	e->args[0] = a->a[1];
	__u32 off = put_path(e, sizeof(*e), pb, file_path(pb, fd_file(a->a[0]), &e->hdr.flags));
	ev_emit(e, off);
	return 0;
}

SYSCALL(link, EV_LINK) { return do_paths(EV_LINK, ret, AT_FDCWD, (void *)a->a[0], AT_FDCWD, (void *)a->a[1], 0, 0); }
SYSCALL(linkat, EV_LINK) { return do_paths(EV_LINK, ret, a->a[0], (void *)a->a[1], a->a[2], (void *)a->a[3], a->a[4], 0); }

/* symlink: the target is stored as given; the link path is made absolute. */
static __always_inline int do_symlink(long ret, const char *target, int dfd, const char *linkpath)
{
	if (drop_failure(ret))
		return 0;
	struct event *e = ev_start(EV_SYMLINK, ret);
	struct pathbuf *pb = pbuf(0);
	if (!e || !pb)
		return 0;
	__u32 off = put_ustr(e, sizeof(*e), target, VIGIL_MAX_STR);
	off = put_path(e, off, pb, user_path_at(pb, dfd, linkpath, &e->hdr.flags));
	ev_emit(e, off);
	return 0;
}
SYSCALL(symlink, EV_SYMLINK) { return do_symlink(ret, (void *)a->a[0], AT_FDCWD, (void *)a->a[1]); }
SYSCALL(symlinkat, EV_SYMLINK) { return do_symlink(ret, (void *)a->a[0], a->a[1], (void *)a->a[2]); }

SYSCALL(truncate, EV_TRUNCATE) { return do_paths(EV_TRUNCATE, ret, AT_FDCWD, (void *)a->a[0], 0, NULL, a->a[1], 0); }

/* mkdir: reported where write-opens are, and anywhere below /dev
 * (directories are rare there, /dev/shm included). */
static __always_inline int do_mkdir(long ret, int dfd, const char *upath, __u64 mode)
{
	if (drop_failure(ret)) {
		count(&filtered, EV_MKDIR);
		return 0;
	}
	struct pathbuf *pb = pbuf(0);
	if (!pb)
		return 0;
	__u16 pflags = 0;
	struct pathres r = user_path_at(pb, dfd, upath, &pflags);
	if (!write_sent(pb, r) && dev_place(pb, r) == NOT_DEV) {
		count(&filtered, EV_MKDIR);
		return 0;
	}
	struct event *e = ev_start(EV_MKDIR, ret);
	if (!e)
		return 0;
	e->hdr.flags |= pflags;
	e->args[0] = mode;
	e->args[1] = (__u64)(__s64)dfd;
	__u32 off = put_path(e, sizeof(*e), pb, r);
	ev_emit(e, off);
	return 0;
}
SYSCALL(mkdir, EV_MKDIR) { return do_mkdir(ret, AT_FDCWD, (void *)a->a[0], a->a[1]); }
SYSCALL(mkdirat, EV_MKDIR) { return do_mkdir(ret, a->a[0], (void *)a->a[1], a->a[2]); }

/* Timestamps set to given times (touch -t, -d and -r; tar, cp -p, rsync).
 * Setting them to "now", what touch and make do, is not reported.
 * args: atime and mtime in seconds, which were given (vigil_utime_flags).
 * A NULL path (futimens) names the dirfd's file. */
static __always_inline int do_utimes(long ret, int dfd, const char *upath, __s64 atime, __s64 mtime, __u32 given)
{
	if (!given || drop_failure(ret)) {
		count(&filtered, EV_UTIMES);
		return 0;
	}
	struct event *e = ev_start(EV_UTIMES, ret);
	struct pathbuf *pb = pbuf(0);
	if (!e || !pb)
		return 0;
	e->args[0] = given & UTF_ATIME ? atime : 0;
	e->args[1] = given & UTF_MTIME ? mtime : 0;
	e->args[2] = given;
	struct pathres r = { PATH_HALF, 0 };
	if (upath)
		r = user_path_at(pb, dfd, upath, &e->hdr.flags);
	if (r.len == 0)
		r = file_path(pb, fd_file(dfd), &e->hdr.flags);
	__u32 off = put_path(e, sizeof(*e), pb, r);
	ev_emit(e, off);
	return 0;
}

struct kts {
	__s64 sec;
	__s64 frac; /* nanoseconds (timespec, or UTIME_NOW/OMIT) or microseconds (timeval) */
};

SYSCALL(utimensat, EV_UTIMES)
{
	struct kts ts[2] = {};
	__u32 given = 0;
	if (a->a[2]) {
		bpf_probe_read_user(&ts, sizeof(ts), (void *)a->a[2]);
		if (ts[0].frac != UTIME_NOW && ts[0].frac != UTIME_OMIT)
			given |= UTF_ATIME;
		if (ts[1].frac != UTIME_NOW && ts[1].frac != UTIME_OMIT)
			given |= UTF_MTIME;
	}
	return do_utimes(ret, a->a[0], (void *)a->a[1], ts[0].sec, ts[1].sec, given);
}

/* utimes and futimesat take two timevals, utime a struct utimbuf; NULL is "now". */
static __always_inline int do_timeval(long ret, int dfd, const char *upath, const void *tv)
{
	struct kts ts[2] = {};
	if (!tv)
		return do_utimes(ret, dfd, upath, 0, 0, 0);
	bpf_probe_read_user(&ts, sizeof(ts), tv);
	return do_utimes(ret, dfd, upath, ts[0].sec, ts[1].sec, UTF_ATIME | UTF_MTIME);
}
SYSCALL(utimes, EV_UTIMES) { return do_timeval(ret, AT_FDCWD, (void *)a->a[0], (void *)a->a[1]); }
SYSCALL(futimesat, EV_UTIMES) { return do_timeval(ret, a->a[0], (void *)a->a[1], (void *)a->a[2]); }
SYSCALL(utime, EV_UTIMES)
{
	__s64 ub[2] = {};
	if (!a->a[1])
		return do_utimes(ret, AT_FDCWD, (void *)a->a[0], 0, 0, 0);
	bpf_probe_read_user(&ub, sizeof(ub), (void *)a->a[1]);
	return do_utimes(ret, AT_FDCWD, (void *)a->a[0], ub[0], ub[1], UTF_ATIME | UTF_MTIME);
}

/* -------------------------------------------------------------- network */

SYSCALL(connect, EV_CONNECT)
{
	struct event *e = ev_start(EV_CONNECT, ret);
	if (!e)
		return 0;
	struct sock *sk = file_sock(fd_file(a->a[0]));
	sock_tuple(&e->net, sk);
	__u16 fam = user_sockaddr(&e->net, (void *)a->a[1], false);
	__u32 off = sizeof(*e);
	if (fam == AF_UNIX) {
		off = put_ustr(e, off, (void *)(a->a[1] + 2), 108);
	} else if (fam != AF_INET && fam != AF_INET6) {
		count(&filtered, EV_CONNECT);
		return 0;
	}
	e->args[0] = a->a[0];
	ev_emit(e, off);
	return 0;
}

static __always_inline int do_accept(long ret)
{
	if (ret < 0)
		return 0;
	struct event *e = ev_start(EV_ACCEPT, ret);
	if (!e)
		return 0;
	struct sock *sk = file_sock(fd_file(ret));
	sock_tuple(&e->net, sk);
	if (e->net.family != AF_INET && e->net.family != AF_INET6) {
		count(&filtered, EV_ACCEPT);
		return 0;
	}
	ev_emit(e, sizeof(*e));
	return 0;
}
SYSCALL(accept, EV_ACCEPT) { return do_accept(ret); }
SYSCALL(accept4, EV_ACCEPT) { return do_accept(ret); }

SYSCALL(bind, EV_BIND)
{
	if (drop_failure(ret))
		return 0;
	struct event *e = ev_start(EV_BIND, ret);
	if (!e)
		return 0;
	struct sock *sk = file_sock(fd_file(a->a[0]));
	if (sk)
		e->net.proto = BPF_CORE_READ(sk, sk_protocol);
	__u16 fam = user_sockaddr(&e->net, (void *)a->a[1], true);
	if (fam != AF_INET && fam != AF_INET6) {
		count(&filtered, EV_BIND);
		return 0;
	}
	e->args[0] = a->a[0];
	ev_emit(e, sizeof(*e));
	return 0;
}

SYSCALL(listen, EV_LISTEN)
{
	if (drop_failure(ret))
		return 0;
	struct event *e = ev_start(EV_LISTEN, ret);
	if (!e)
		return 0;
	sock_tuple(&e->net, file_sock(fd_file(a->a[0])));
	if (e->net.family != AF_INET && e->net.family != AF_INET6) {
		count(&filtered, EV_LISTEN);
		return 0;
	}
	e->args[0] = a->a[0];
	e->args[1] = a->a[1];
	ev_emit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (is_agent() || !type_enabled(EV_TCP_STATE))
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	struct event *e = ev_start(EV_TCP_STATE, 0);
	if (!e)
		return 0;
	sock_tuple(&e->net, sk);
	e->args[0] = oldstate;
	e->args[1] = newstate;
	e->args[2] = (__u64)sk;
	ev_emit(e, sizeof(*e));
	return 0;
}

/*
 * DNS: UDP datagrams to port 53, seen where every send reaches the socket
 * layer (sock_send_length: each sendto, sendmsg, write on a socket and each
 * message of a sendmmsg). The socket is at hand there, so a TCP send (a
 * database's, a web server's: nearly all sends) costs one load and a
 * compare, where a program on the send syscalls paid a file-table walk to
 * find out. The destination and the payload come from the syscall's
 * arguments, still in the user registers saved at entry.
 */
#define NR_WRITE 1
#define NR_SENDTO 44
#define NR_SENDMSG 46
#define NR_SENDMMSG 307
#define MMSG_MAX 8

static __always_inline __u16 sock_dport(const struct sock *sk, const void *uaddr)
{
	struct net_tuple n = {};
	if (uaddr && user_sockaddr(&n, uaddr, false))
		return n.dport;
	return bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

/* The message of a sendmsg (mmsg: the i-th of a sendmmsg's vector). */
static __always_inline void user_msg(const struct user_msghdr *um, const void **uaddr, const void **buf, __u64 *len)
{
	struct user_msghdr m = {};
	struct iovec iov = {};
	bpf_probe_read_user(&m, sizeof(m), um);
	bpf_probe_read_user(&iov, sizeof(iov), m.msg_iov);
	*uaddr = m.msg_name;
	*buf = iov.iov_base;
	*len = iov.iov_len;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send, struct sock *sk, int ret, int flags)
{
	/* A direct load (the argument is a BTF pointer): no helper call. */
	if (!sk || sk->sk_protocol != IPPROTO_UDP)
		return 0;
	if (is_agent() || !type_enabled(EV_DNS) || drop_failure(ret))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	long nr = BPF_CORE_READ(regs, orig_ax);
	const void *uaddr = NULL, *buf = (void *)BPF_CORE_READ(regs, si);
	__u64 len = BPF_CORE_READ(regs, dx);
	switch (nr) {
	case NR_WRITE:
		break;
	case NR_SENDTO:
		uaddr = (void *)BPF_CORE_READ(regs, r8);
		break;
	case NR_SENDMSG:
		user_msg(buf, &uaddr, &buf, &len);
		break;
	case NR_SENDMMSG: {
		/* The kernel sets each sent message's msg_len as it goes: this
		 * one is the first still 0 (resolvers zero the vector; glibc
		 * sends its A and AAAA questions in one call). */
		struct mmsghdr *vec = (struct mmsghdr *)buf;
		__u32 i = 0;
		for (; i < MMSG_MAX - 1; i++) {
			__u32 sent = 0;
			bpf_probe_read_user(&sent, sizeof(sent), &vec[i].msg_len);
			if (!sent)
				break;
		}
		user_msg(&vec[i].msg_hdr, &uaddr, &buf, &len);
		break;
	}
	default:
		return 0; /* writev, sendfile, the kernel's own sends */
	}
	if (sock_dport(sk, uaddr) != 53)
		return 0;
	struct event *e = ev_start(EV_DNS, ret);
	if (!e)
		return 0;
	sock_tuple(&e->net, sk);
	if (uaddr)
		user_sockaddr(&e->net, uaddr, false);
	if (len > 512)
		len = 512;
	e->hdr.flags |= EVF_PAYLOAD;
	__u32 off = put_ubytes(e, sizeof(*e), buf, len);
	ev_emit(e, off);
	return 0;
}

/* ------------------------------------------------ security-relevant syscalls */

/* An event whose payload is integer arguments only. */
static __always_inline int do_args(__u32 type, long ret, __u64 a0, __u64 a1, __u64 a2, __u64 a3)
{
	struct event *e = ev_start(type, ret);
	if (!e)
		return 0;
	e->args[0] = a0;
	e->args[1] = a1;
	e->args[2] = a2;
	e->args[3] = a3;
	ev_emit(e, sizeof(*e));
	return 0;
}

/* socket(2) of anything but the everyday kinds: packet sockets (sniffers),
 * raw and ICMP sockets, and the rarer families kernel exploits open
 * (RDS, TIPC, VSOCK, ALG...). Unix, netlink and plain TCP/UDP sockets are
 * filtered here, failed or not. args: family, type (with its flags),
 * protocol. */
SYSCALL(socket, EV_SOCKET)
{
	__u64 fam = a->a[0], type = a->a[1] & SOCK_TYPE_MASK, proto = a->a[2];
	bool inet = fam == AF_INET || fam == AF_INET6;
	bool usual = fam == AF_UNIX || fam == AF_NETLINK ||
		     (inet && type != SOCK_RAW && proto != IPPROTO_ICMP && proto != IPPROTO_ICMPV6);
	/* Failures are kept: an exploit's attempt on a family the kernel
	 * lacks (EAFNOSUPPORT) is as telling as its success. */
	if (usual) {
		count(&filtered, EV_SOCKET);
		return 0;
	}
	return do_args(EV_SOCKET, ret, fam, a->a[1], proto, 0);
}

SYSCALL(ptrace, EV_PTRACE)
{
	/* Attach, inject and register writes; reads and continues follow an attach. */
	switch (a->a[0]) {
	case PTRACE_TRACEME:
	case PTRACE_POKETEXT:
	case PTRACE_POKEDATA:
	case PTRACE_POKEUSR:
	case PTRACE_SETREGS:
	case PTRACE_ATTACH:
	case PTRACE_SETREGSET:
	case PTRACE_SEIZE:
		return do_args(EV_PTRACE, ret, a->a[0], a->a[1], a->a[2], 0);
	}
	count(&filtered, EV_PTRACE);
	return 0;
}

SYSCALL(process_vm_writev, EV_PROCESS_VM_WRITEV) { return do_args(EV_PROCESS_VM_WRITEV, ret, a->a[0], a->a[2], 0, 0); }

#define SETID(sc, kind, n) \
	SYSCALL(sc, EV_SETID) { return do_args(EV_SETID, ret, kind, a->a[0], a->a[1], a->a[2]); }
SETID(setuid, SETID_SETUID, 1)
SETID(setgid, SETID_SETGID, 1)
SETID(setreuid, SETID_SETREUID, 2)
SETID(setregid, SETID_SETREGID, 2)
SETID(setresuid, SETID_SETRESUID, 3)
SETID(setresgid, SETID_SETRESGID, 3)
SETID(setfsuid, SETID_SETFSUID, 1)
SETID(setfsgid, SETID_SETFSGID, 1)

SYSCALL(capset, EV_CAPSET)
{
	struct {
		__u32 version;
		int pid;
	} hdr = {};
	struct {
		__u32 effective, permitted, inheritable;
	} d[2] = {};
	bpf_probe_read_user(&hdr, sizeof(hdr), (void *)a->a[0]);
	bpf_probe_read_user(&d, sizeof(d), (void *)a->a[1]);
	return do_args(EV_CAPSET, ret, hdr.pid,
		       ((__u64)d[1].effective << 32) | d[0].effective,
		       ((__u64)d[1].permitted << 32) | d[0].permitted,
		       ((__u64)d[1].inheritable << 32) | d[0].inheritable);
}

SYSCALL(memfd_create, EV_MEMFD_CREATE)
{
	struct event *e = ev_start(EV_MEMFD_CREATE, ret);
	if (!e)
		return 0;
	e->args[0] = a->a[1];
	__u32 off = put_ustr(e, sizeof(*e), (void *)a->a[0], 256);
	ev_emit(e, off);
	return 0;
}

/* Module loads: these tracepoints are absent without CONFIG_MODULES, and the
 * loader then skips the programs. */
SYSCALL(init_module, EV_MODULE_LOAD)
{
	struct event *e = ev_start(EV_MODULE_LOAD, ret);
	if (!e)
		return 0;
	e->args[0] = a->a[1];
	__u32 off = put_len(e, sizeof(*e), 0);
	off = put_ustr(e, off, (void *)a->a[2], 256);
	ev_emit(e, off);
	return 0;
}
SYSCALL(finit_module, EV_MODULE_LOAD)
{
	struct event *e = ev_start(EV_MODULE_LOAD, ret);
	struct pathbuf *pb = pbuf(0);
	if (!e || !pb)
		return 0;
	e->args[1] = a->a[2];
	__u32 off = put_path(e, sizeof(*e), pb, file_path(pb, fd_file(a->a[0]), &e->hdr.flags));
	off = put_ustr(e, off, (void *)a->a[1], 256);
	ev_emit(e, off);
	return 0;
}

SYSCALL(bpf, EV_BPF)
{
	switch (a->a[0]) {
	case BPF_MAP_CREATE:
	case BPF_PROG_LOAD:
	case BPF_PROG_ATTACH:
	case BPF_RAW_TRACEPOINT_OPEN:
	case BPF_BTF_LOAD:
	case BPF_LINK_CREATE:
		break;
	default:
		count(&filtered, EV_BPF);
		return 0;
	}
	struct event *e = ev_start(EV_BPF, ret);
	if (!e)
		return 0;
	__u32 sub = 0;
	char name[16] = {};
	bpf_probe_read_user(&sub, sizeof(sub), (void *)a->a[1]);
	if (a->a[0] == BPF_PROG_LOAD)
		bpf_probe_read_user(name, sizeof(name),
				    (void *)a->a[1] + __builtin_offsetof(union bpf_attr, prog_name));
	else if (a->a[0] == BPF_MAP_CREATE)
		bpf_probe_read_user(name, sizeof(name),
				    (void *)a->a[1] + __builtin_offsetof(union bpf_attr, map_name));
	name[15] = 0;
	e->args[0] = a->a[0];
	e->args[1] = sub;
	__u32 n = 0;
	for (; n < 15 && name[n]; n++)
		;
	__u32 off = sizeof(*e);
	__builtin_memcpy(&((__u8 *)e)[off + 2], name, 16);
	off = put_len(e, off, n);
	ev_emit(e, off);
	return 0;
}

SYSCALL_FS(mount, EV_MOUNT)
{
	struct event *e = ev_start(EV_MOUNT, ret);
	struct pathbuf *pb = pbuf(0);
	if (!e || !pb)
		return 0;
	e->args[0] = a->a[3];
	__u32 off = put_ustr(e, sizeof(*e), (void *)a->a[0], 512);
	off = put_path(e, off, pb, user_path_at(pb, AT_FDCWD, (void *)a->a[1], &e->hdr.flags));
	off = put_ustr(e, off, (void *)a->a[2], 64);
	ev_emit(e, off);
	return 0;
}

SYSCALL_FS(umount, EV_UMOUNT) { return do_paths(EV_UMOUNT, ret, AT_FDCWD, (void *)a->a[0], 0, NULL, a->a[1], 0); }

SYSCALL(unshare, EV_UNSHARE) { return do_args(EV_UNSHARE, ret, a->a[0], 0, 0, 0); }

SYSCALL(setns, EV_SETNS)
{
	struct event *e = ev_start(EV_SETNS, ret);
	struct pathbuf *pb = pbuf(0);
	if (!e || !pb)
		return 0;
	struct file *f = fd_file(a->a[0]);
	e->args[0] = a->a[1];
	e->args[1] = BPF_CORE_READ(f, f_inode, i_ino);
	__u32 off = put_path(e, sizeof(*e), pb, file_path(pb, f, &e->hdr.flags));
	ev_emit(e, off);
	return 0;
}

/* kill(2) family: args[0] target, args[1] signal, args[2] 1=kill 2=tkill 3=tgkill.
 * Signal 0 (an existence probe) is not sent. */
static __always_inline int do_kill(long ret, int target, __u64 sig, __u64 kind, int tgid)
{
	if (sig == 0) {
		count(&filtered, EV_KILL);
		return 0;
	}
	return do_args(EV_KILL, ret, target, sig, kind, tgid);
}
SYSCALL(kill, EV_KILL) { return do_kill(ret, a->a[0], a->a[1], 1, 0); }
SYSCALL(tkill, EV_KILL) { return do_kill(ret, a->a[0], a->a[1], 2, 0); }
SYSCALL(tgkill, EV_KILL) { return do_kill(ret, a->a[1], a->a[2], 3, a->a[0]); }
SYSCALL(rt_sigqueueinfo, EV_KILL) { return do_kill(ret, a->a[0], a->a[1], 4, 0); }
SYSCALL(rt_tgsigqueueinfo, EV_KILL) { return do_kill(ret, a->a[1], a->a[2], 5, a->a[0]); }

/* pidfd_send_signal: the target is the pid the pidfd refers to (the file's
 * struct pid, its number in the initial namespace). Where the call did not
 * fail with EBADF the fd is a pidfd, or a /proc/<pid> directory (-1: not
 * resolved). Newer kill, pkill and killall signal this way. */
SYSCALL(pidfd_send_signal, EV_KILL)
{
	int target = -1;
	struct file *f = fd_file(a->a[0]);
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	if (f && (BPF_CORE_READ(ino, i_mode) & S_IFMT) != S_IFDIR) {
		/* pidfs (6.9 and later) keeps the pid in the inode; the older
		 * anonymous-inode pidfd in the file. */
		struct pid *p = BPF_CORE_READ(ino, i_sb, s_magic) == PID_FS_MAGIC ? BPF_CORE_READ(ino, i_private)
										  : BPF_CORE_READ(f, private_data);
		if (p)
			target = BPF_CORE_READ(p, numbers[0].nr);
	}
	return do_kill(ret, target, a->a[1], 6, 0);
}

/* dup2/dup3 of a socket onto stdin, stdout or stderr. */
static __always_inline int do_dup(struct sargs *a, long ret)
{
	if (a->a[1] > 2)
		return 0;
	/* After a successful dup the new fd is the same open file. */
	struct sock *sk = file_sock(fd_file(ret < 0 ? a->a[0] : a->a[1]));
	if (!sk)
		return 0;
	struct event *e = ev_start(EV_DUP_SOCKET, ret);
	if (!e)
		return 0;
	sock_tuple(&e->net, sk);
	e->args[0] = a->a[0];
	e->args[1] = a->a[1];
	ev_emit(e, sizeof(*e));
	return 0;
}
SYSCALL(dup2, EV_DUP_SOCKET) { return do_dup(a, ret); }
SYSCALL(dup3, EV_DUP_SOCKET) { return do_dup(a, ret); }

SYSCALL(prctl, EV_PRCTL)
{
	if (a->a[0] != PR_SET_NAME)
		return 0;
	struct event *e = ev_start(EV_PRCTL, ret);
	if (!e)
		return 0;
	e->args[0] = a->a[0];
	__u32 off = put_ustr(e, sizeof(*e), (void *)a->a[1], 16);
	ev_emit(e, off);
	return 0;
}

SYSCALL(userfaultfd, EV_USERFAULTFD) { return do_args(EV_USERFAULTFD, ret, a->a[0], 0, 0, 0); }
