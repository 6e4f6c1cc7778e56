package event

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var testClock = Clock{Boot: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}

func hdr(t Type, ret int64) RawHeader {
	h := RawHeader{TsBootNs: 1_500_000_000, Type: uint32(t), Ret: ret, PID: 100, TID: 101, PPID: 1,
		NsPID: 100, UID: 1000, GID: 1000, EUID: 0, LoginUID: 1000, CgroupID: 77, PidNS: 4026531836, MntNS: 4026531840}
	copy(h.Comm[:], "tester")
	return h
}

func TestDecodeHeader(t *testing.T) {
	b := Encode(RawEvent{Hdr: hdr(TypeUserfaultfd, -int64(unix.EPERM)), Args: [6]uint64{1}})
	e, err := Decode(b, testClock)
	if err != nil {
		t.Fatal(err)
	}
	if e.Time != testClock.Boot.Add(1500*time.Millisecond) {
		t.Errorf("time %v", e.Time)
	}
	want := Process{PID: 100, TID: 101, PPID: 1, NsPID: 100, UID: 1000, GID: 1000, EUID: 0, LoginUID: 1000, Comm: "tester"}
	if !reflect.DeepEqual(e.Process, want) {
		t.Errorf("process %+v", e.Process)
	}
	if e.Error != "EPERM" || e.Ret != -1 || e.CgroupID != 77 || e.PidNS != 4026531836 || e.MntNS != 4026531840 {
		t.Errorf("header fields: %+v", e)
	}
	if e.Sys == nil || e.Sys.Name != "userfaultfd" || e.Sys.Flags != 1 {
		t.Errorf("sys %+v", e.Sys)
	}
}

func TestDecodeTypes(t *testing.T) {
	v4 := func(a, b, c, d byte) [16]byte { return [16]byte{a, b, c, d} }
	loop6 := [16]byte{15: 1}
	tests := []struct {
		name  string
		raw   RawEvent
		strs  []string
		check func(t *testing.T, e *Event)
	}{
		{"exec", RawEvent{Hdr: func() RawHeader { h := hdr(TypeExec, 0); h.Flags = FlagArgvTruncated; return h }(),
			Args: [6]uint64{3, 100, 42, 0o104755, 0}},
			[]string{"/usr/bin/passwd", "passwd\x00-S\x00root\x00", "/home/u", "./passwd", "LD_PRELOAD=/tmp/hook.so\x00GLIBC_TUNABLES=glibc.malloc.mxfast=1\x00http_proxy=http://10.0.0.1:3128\x00"},
			func(t *testing.T, e *Event) {
				x := e.Exec
				if x.Name != "" || x.Cmdline != "" {
					t.Errorf("derived before Derive: %q %q", x.Name, x.Cmdline)
				}
				e.Derive()
				if x.Exe != "/usr/bin/passwd" || !reflect.DeepEqual(x.Args, []string{"passwd", "-S", "root"}) ||
					x.Cwd != "/home/u" || x.Filename != "./passwd" || !x.ArgsTruncated || !x.Setuid || x.Setgid ||
					x.Mode != "4755" || x.Inode != 42 || x.Argc != 3 || x.Memfd || x.LDPreload != "/tmp/hook.so" ||
					x.Env["GLIBC_TUNABLES"] != "glibc.malloc.mxfast=1" || x.Env["http_proxy"] != "http://10.0.0.1:3128" || len(x.Env) != 3 ||
					x.Name != "passwd" || x.Cmdline != "passwd -S root" {
					t.Errorf("%+v", x)
				}
			}},
		{"exec memfd", RawEvent{Hdr: hdr(TypeExec, 0), Args: [6]uint64{1, 100, 9, 0o100777, 1}},
			[]string{"/memfd:payload", "x\x00", "/", "/proc/self/fd/3"},
			func(t *testing.T, e *Event) {
				if !e.Exec.Memfd || !e.Exec.ExeDeleted {
					t.Errorf("%+v", e.Exec)
				}
			}},
		{"fork", RawEvent{Hdr: hdr(TypeFork, 0), Args: [6]uint64{555, 123_000_000_000}}, nil,
			func(t *testing.T, e *Event) {
				if e.Fork.ChildPID != 555 || e.Fork.ChildStartNs != 123_000_000_000 {
					t.Errorf("%+v", e.Fork)
				}
			}},
		{"exit", RawEvent{Hdr: hdr(TypeExit, 0), Args: [6]uint64{0, 9, 1}}, nil,
			func(t *testing.T, e *Event) {
				if e.Exit.Signal != 9 || !e.Exit.CoreDumped || e.Error != "" {
					t.Errorf("%+v %q", e.Exit, e.Error)
				}
			}},
		{"open cleans dot-dot", RawEvent{Hdr: hdr(TypeOpen, -13), Args: [6]uint64{unix.O_RDONLY, 0, uint64(^uint64(99))}},
			[]string{"/tmp/../etc/./shadow"},
			func(t *testing.T, e *Event) {
				if e.File.Path != "/etc/shadow" || e.File.Write || e.Error != "EACCES" {
					t.Errorf("%+v %s", e.File, e.Error)
				}
			}},
		{"open write create", RawEvent{Hdr: hdr(TypeOpen, 3), Args: [6]uint64{unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, 0o644}},
			[]string{"/etc/cron.d/job"},
			func(t *testing.T, e *Event) {
				want := []string{"O_WRONLY", "O_CREAT", "O_TRUNC"}
				if !e.File.Write || e.File.Mode != "0644" || !reflect.DeepEqual(e.File.FlagList, want) {
					t.Errorf("%+v", e.File)
				}
			}},
		{"open relative kept", RawEvent{Hdr: func() RawHeader { h := hdr(TypeOpen, -2); h.Flags = FlagPathRelative; return h }()},
			[]string{"../x"},
			func(t *testing.T, e *Event) {
				if e.File.Path != "../x" || !e.File.Relative {
					t.Errorf("%+v", e.File)
				}
			}},
		{"rename", RawEvent{Hdr: hdr(TypeRename, 0), Args: [6]uint64{1}}, []string{"/tmp/a", "/tmp/b"},
			func(t *testing.T, e *Event) {
				if e.File.Path != "/tmp/a" || e.File.Target != "/tmp/b" {
					t.Errorf("%+v", e.File)
				}
			}},
		{"chmod setgid", RawEvent{Hdr: hdr(TypeChmod, 0), Args: [6]uint64{0o2755}}, []string{"/tmp/x"},
			func(t *testing.T, e *Event) {
				if !e.File.Setgid || e.File.Setuid || e.File.Mode != "2755" {
					t.Errorf("%+v", e.File)
				}
			}},
		{"symlink", RawEvent{Hdr: hdr(TypeSymlink, 0)}, []string{"../target", "/tmp/link"},
			func(t *testing.T, e *Event) {
				if e.File.Path != "../target" || e.File.Target != "/tmp/link" {
					t.Errorf("%+v", e.File)
				}
			}},
		{"truncate", RawEvent{Hdr: hdr(TypeTruncate, 0), Args: [6]uint64{0}}, []string{"/var/log/auth.log"},
			func(t *testing.T, e *Event) {
				if e.File.Path != "/var/log/auth.log" {
					t.Errorf("%+v", e.File)
				}
			}},
		{"connect v4", RawEvent{Hdr: hdr(TypeConnect, -115), Args: [6]uint64{3},
			Net: RawNetTuple{Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Sport: 40000, Dport: 4444, Saddr: v4(127, 0, 0, 1), Daddr: v4(10, 1, 2, 3)}}, nil,
			func(t *testing.T, e *Event) {
				n := e.Net
				if n.Family != "inet" || n.Proto != "tcp" || n.DstAddr != "10.1.2.3" || n.DstPort != 4444 || n.SrcPort != 40000 || e.Error != "EINPROGRESS" {
					t.Errorf("%+v %s", n, e.Error)
				}
			}},
		{"connect v6", RawEvent{Hdr: hdr(TypeConnect, 0), Net: RawNetTuple{Family: unix.AF_INET6, Dport: 443, Daddr: loop6}}, nil,
			func(t *testing.T, e *Event) {
				if e.Net.DstAddr != "::1" || e.Net.Family != "inet6" {
					t.Errorf("%+v", e.Net)
				}
			}},
		{"connect unix", RawEvent{Hdr: hdr(TypeConnect, 0), Net: RawNetTuple{Family: unix.AF_UNIX}}, []string{"/run/docker.sock"},
			func(t *testing.T, e *Event) {
				if e.Net.UnixPath != "/run/docker.sock" {
					t.Errorf("%+v", e.Net)
				}
			}},
		{"tcp state", RawEvent{Hdr: hdr(TypeTCPState, 0), Args: [6]uint64{2, 1}, Net: RawNetTuple{Family: unix.AF_INET}}, nil,
			func(t *testing.T, e *Event) {
				if e.Net.OldState != "SYN_SENT" || e.Net.NewState != "ESTABLISHED" {
					t.Errorf("%+v", e.Net)
				}
			}},
		{"dns", RawEvent{Hdr: func() RawHeader { h := hdr(TypeDNS, 33); h.Flags = FlagPayload; return h }(),
			Net: RawNetTuple{Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Dport: 53}},
			[]string{string(dnsQuery(0x1234, 28, "example", "com"))},
			func(t *testing.T, e *Event) {
				if e.DNS.Query != "example.com" || e.DNS.QType != "AAAA" || e.DNS.ID != 0x1234 || e.Net.DstPort != 53 {
					t.Errorf("%+v %+v", e.DNS, e.Net)
				}
			}},
		{"ptrace", RawEvent{Hdr: hdr(TypePtrace, 0), Args: [6]uint64{16, 4242}}, nil,
			func(t *testing.T, e *Event) {
				if e.Sys.Request != "PTRACE_ATTACH" || e.Sys.TargetPID != 4242 {
					t.Errorf("%+v", e.Sys)
				}
			}},
		{"setresuid", RawEvent{Hdr: hdr(TypeSetID, 0), Args: [6]uint64{5, 0, 0, uint64(^uint32(0))}}, nil,
			func(t *testing.T, e *Event) {
				if e.Sys.Name != "setresuid" || !reflect.DeepEqual(e.Sys.IDs, []int64{0, 0, -1}) {
					t.Errorf("%+v", e.Sys)
				}
			}},
		{"capset", RawEvent{Hdr: hdr(TypeCapset, 0), Args: [6]uint64{0, 1 << 21, 1 << 21, 0}}, nil,
			func(t *testing.T, e *Event) {
				if e.Sys.Effective != 1<<21 || e.Sys.Permitted != 1<<21 {
					t.Errorf("%+v", e.Sys)
				}
			}},
		{"memfd", RawEvent{Hdr: hdr(TypeMemfdCreate, 3), Args: [6]uint64{1}}, []string{"x"},
			func(t *testing.T, e *Event) {
				if e.Sys.ObjName != "x" || e.Sys.Flags != 1 {
					t.Errorf("%+v", e.Sys)
				}
			}},
		{"bpf", RawEvent{Hdr: hdr(TypeBPF, 5), Args: [6]uint64{5, 2}}, []string{"probe"},
			func(t *testing.T, e *Event) {
				if e.Sys.Cmd != "BPF_PROG_LOAD" || e.Sys.SubType != 2 || e.Sys.ObjName != "probe" {
					t.Errorf("%+v", e.Sys)
				}
			}},
		{"mount", RawEvent{Hdr: hdr(TypeMount, 0), Args: [6]uint64{0}}, []string{"/dev/sda1", "/mnt/host/", "ext4"},
			func(t *testing.T, e *Event) {
				if e.Sys.Source != "/dev/sda1" || e.Sys.Target != "/mnt/host" || e.Sys.FSType != "ext4" {
					t.Errorf("%+v", e.Sys)
				}
			}},
		{"setns", RawEvent{Hdr: hdr(TypeSetns, 0), Args: [6]uint64{unix.CLONE_NEWNS, 4026531840}}, []string{"/mnt:[4026531840]"},
			func(t *testing.T, e *Event) {
				if !reflect.DeepEqual(e.Sys.FlagList, []string{"CLONE_NEWNS"}) || e.Sys.NSInode != 4026531840 {
					t.Errorf("%+v", e.Sys)
				}
			}},
		{"tgkill", RawEvent{Hdr: hdr(TypeKill, 0), Args: [6]uint64{77, 9, 3, 76}}, nil,
			func(t *testing.T, e *Event) {
				if e.Sys.Name != "tgkill" || e.Sys.TargetPID != 77 || e.Sys.Signal != 9 {
					t.Errorf("%+v", e.Sys)
				}
			}},
		{"dup socket", RawEvent{Hdr: hdr(TypeDupSocket, 0), Args: [6]uint64{3, 0}, Net: RawNetTuple{Family: unix.AF_INET, Dport: 4444, Daddr: v4(127, 0, 0, 1)}}, nil,
			func(t *testing.T, e *Event) {
				if e.Sys.NewFD == nil || *e.Sys.NewFD != 0 || e.Sys.Net.DstPort != 4444 {
					t.Errorf("%+v", e.Sys)
				}
			}},
		{"prctl", RawEvent{Hdr: hdr(TypePrctl, 0), Args: [6]uint64{15}}, []string{"[kworker/0:1]"},
			func(t *testing.T, e *Event) {
				if e.Sys.ObjName != "[kworker/0:1]" {
					t.Errorf("%+v", e.Sys)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			strs := make([][]byte, len(tc.strs))
			for i, s := range tc.strs {
				strs[i] = []byte(s)
			}
			e, err := Decode(Encode(tc.raw, strs...), testClock)
			if err != nil {
				t.Fatal(err)
			}
			if e.Type != Type(tc.raw.Hdr.Type) {
				t.Fatalf("type %v", e.Type)
			}
			tc.check(t, e)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good := Encode(RawEvent{Hdr: hdr(TypeRename, 0)}, []byte("/a"), []byte("/b"))
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"short", good[:RawEventSize-1], ErrShort},
		{"size mismatch", good[:len(good)-1], ErrSize},
		{"bad type", func() []byte { b := Encode(RawEvent{Hdr: RawHeader{Type: 999}}); return b }(), ErrType},
		{"string overrun", func() []byte {
			b := Encode(RawEvent{Hdr: hdr(TypeOpen, 0)}, []byte("/etc"))
			b[RawEventSize] = 200 // claims 200 bytes
			return b
		}(), ErrStrings},
		{"too many strings", func() []byte {
			b := Encode(RawEvent{Hdr: hdr(TypeOpen, 0)})
			(*RawEvent)(ptr(b)).Hdr.NStr = 100
			return b
		}(), ErrStrings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.b, testClock); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseDNSQuery(t *testing.T) {
	q, err := ParseDNSQuery(dnsQuery(7, 16, "aGVsbG8", "t", "evil", "io"))
	if err != nil || q.Name != "aGVsbG8.t.evil.io" || q.TypeName() != "TXT" {
		t.Fatalf("%+v %v", q, err)
	}
	resp := dnsQuery(7, 1, "a")
	resp[2] |= 0x80
	for name, b := range map[string][]byte{
		"short": {1, 2, 3}, "response": resp, "truncated": dnsQuery(7, 1, "abc")[:14],
		"label too long": append(append(dnsQuery(7, 1)[:12], 64), make([]byte, 70)...),
	} {
		if _, err := ParseDNSQuery(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	q, err = ParseDNSQuery(dnsQuery(1, 1, "a b"))
	if err != nil || q.Name != `a\32b` {
		t.Errorf("escaping: %q %v", q.Name, err)
	}
}

func TestTypeNames(t *testing.T) {
	for _, ty := range AllTypes() {
		got, err := ParseType(ty.String())
		if err != nil || got != ty {
			t.Errorf("%v: %v %v", ty, got, err)
		}
	}
	if _, err := ParseType("bogus"); err == nil {
		t.Error("bogus type parsed")
	}
}

// Flag names come from a cache: decoding an open allocates nothing for them
// after the first time, and the names stay right.
func TestOpenFlagNamesCached(t *testing.T) {
	f := uint64(unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC)
	first := OpenFlagNames(f)
	if n := testing.AllocsPerRun(100, func() { OpenFlagNames(f) }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
	if !reflect.DeepEqual(first, []string{"O_WRONLY", "O_CREAT", "O_TRUNC"}) || !reflect.DeepEqual(OpenFlagNames(0), []string{"O_RDONLY"}) {
		t.Errorf("%v %v", first, OpenFlagNames(0))
	}
}
