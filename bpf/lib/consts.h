/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* UAPI macros that vmlinux.h (types only) does not carry. x86_64 values. */
#ifndef VIGIL_CONSTS_H
#define VIGIL_CONSTS_H

#define AT_FDCWD -100
#define AT_REMOVEDIR 0x200

#define O_WRONLY 00000001
#define O_RDWR 00000002
#define O_CREAT 00000100
#define O_TRUNC 00001000

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000
#define S_IFCHR 0020000
#define S_IFIFO 0010000
#define S_IFDIR 0040000

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define AF_NETLINK 16

#define SOCK_RAW 3
#define SOCK_TYPE_MASK 0xf
#define IPPROTO_ICMP 1
#define IPPROTO_ICMPV6 58

#define UTIME_NOW ((1l << 30) - 1l)
#define UTIME_OMIT ((1l << 30) - 2l)

#define EPERM 1
#define EACCES 13

#define PTRACE_TRACEME 0
#define PTRACE_POKETEXT 4
#define PTRACE_POKEDATA 5
#define PTRACE_POKEUSR 6
#define PTRACE_SETREGS 13
#define PTRACE_ATTACH 16
#define PTRACE_SETREGSET 0x4205
#define PTRACE_SEIZE 0x4206

#define PR_SET_NAME 15

#define PID_FS_MAGIC 0x50494446

#endif
