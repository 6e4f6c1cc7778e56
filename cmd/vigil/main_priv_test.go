package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/vigil-sec/vigil/internal/testenv"
)

// These tests run the built binary (VIGIL_BIN, set by scripts/test.sh).
func vigilBin(t *testing.T) string {
	t.Helper()
	bin := backendBin(t)
	testenv.RequireRoot(t)
	return bin
}

func TestCheckExplainsKernel(t *testing.T) {
	bin := vigilBin(t)
	out, err := exec.Command(bin, "check", "--json").Output()
	if err != nil {
		t.Fatalf("vigil check: %v\n%s", err, out)
	}
	var r struct {
		OK       bool
		Features []struct {
			Name     string
			Loaded   bool
			Attached bool
			Error    string
		} `json:"program_types"`
		Checks []struct{ Name, Status, Detail string }
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if !r.OK {
		t.Fatalf("check failed: %s", out)
	}
	feat := map[string]bool{}
	for _, f := range r.Features {
		feat[f.Name] = f.Attached
	}
	for _, need := range []string{"probe_tracepoint", "probe_tp_btf", "probe_ringbuf"} {
		if !feat[need] {
			t.Errorf("%s not attached: %s", need, out)
		}
	}
	// This kernel's known refusals are reported, not fatal.
	for _, refused := range []string{"probe_kprobe", "probe_fentry", "probe_lsm"} {
		if _, ok := feat[refused]; !ok {
			t.Errorf("%s not reported", refused)
		}
	}
	names := map[string]bool{}
	for _, c := range r.Checks {
		names[c.Name] = true
	}
	for _, n := range []string{"kernel", "btf", "capabilities", "tracefs", "bpf", "lockdown", "memlock"} {
		if !names[n] {
			t.Errorf("check %q missing", n)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestAgentStreamsStatusMetricsAndDetaches(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("log_level: info\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rulesDir := filepath.Join(dir, "rules.d")
	if err := os.MkdirAll(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "--config", cfg, "--output", "stdout", "--collect", "all", "--status-socket", sock,
		"--metrics-address", metrics, "--rules", rulesDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	waitFor(t, 60*time.Second, func() bool { _, err := os.Stat(sock); return err == nil })

	// An exec shows up as one JSON object on stdout.
	found := false
	deadline := time.After(15 * time.Second)
	for !found {
		_ = exec.Command("/bin/echo", "vigil-cli-e2e").Run()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("agent exited: %s", stderr.String())
			}
			var e struct {
				Schema string
				Type   string
				Exec   *struct{ Args []string }
			}
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("not JSON: %q", l)
			}
			if e.Schema != "vigil.event/1" && e.Schema != "vigil.alert/1" {
				t.Fatalf("schema %q", e.Schema)
			}
			found = e.Type == "exec" && e.Exec != nil && len(e.Exec.Args) == 2 && e.Exec.Args[1] == "vigil-cli-e2e"
		case <-deadline:
			t.Fatalf("no exec event on stdout; stderr: %s", stderr.String())
		}
	}

	out, err := exec.Command(bin, "status", "--json", "--socket", sock).Output()
	if err != nil {
		t.Fatalf("vigil status: %v", err)
	}
	var st struct {
		Programs struct{ Attached, Skipped int }
		Totals   struct{ Received uint64 }
		RSSBytes uint64 `json:"rss_bytes"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	if st.Programs.Attached < 50 || st.Totals.Received == 0 {
		t.Errorf("status: %s", out)
	}
	text, err := exec.Command(bin, "status", "--socket", sock).Output()
	if err != nil || !strings.Contains(string(text), "programs:") {
		t.Errorf("status text: %v %s", err, text)
	}

	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`vigil_agent_events_received_total{type="exec"}`, "vigil_agent_ring_buffer_size_bytes", "vigil_agent_resident_memory_bytes"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("metric %s missing", m)
		}
	}

	// SIGHUP with a broken rule file: the error names file and line, and the
	// running rules stay; once fixed, SIGHUP installs them.
	reloads := func() uint64 {
		out, err := exec.Command(bin, "status", "--json", "--socket", sock).Output()
		if err != nil {
			t.Fatal(err)
		}
		var st struct{ Rules struct{ Reloads uint64 } }
		_ = json.Unmarshal(out, &st)
		return st.Rules.Reloads
	}
	broken := filepath.Join(rulesDir, "90-broken.yaml")
	if err := os.WriteFile(broken, []byte("- rule: Broken\n  desc: d\n  events: [exec]\n  condition: exec.name ==\n  output: o\n  mitre: {tactic: t, technique: T1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(stderr.String(), "90-broken.yaml:1") })
	if reloads() != 0 {
		t.Error("a broken rule set was installed")
	}
	os.Remove(broken)
	_ = cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, func() bool { return reloads() == 1 })

	// At idle the agent stays under 64 MiB resident.
	time.Sleep(2 * time.Second)
	rss := rssOf(t, cmd.Process.Pid)
	t.Logf("idle RSS %.1f MiB", float64(rss)/(1<<20))
	if rss > 64<<20 {
		t.Errorf("idle RSS %d bytes > 64 MiB", rss)
	}

	// SIGTERM detaches everything and exits cleanly.
	held := programsOf(t, cmd.Process.Pid)
	if len(held) < 50 {
		t.Fatalf("the agent holds %d BPF programs, want >= 50", len(held))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop on SIGTERM")
	}
	// The kernel frees programs after an RCU grace period: allow it time.
	left := -1
	for end := time.Now().Add(10 * time.Second); left != 0 && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		left = 0
		for _, p := range loadedPrograms(t) {
			if held[p.ID] {
				left++
			}
		}
	}
	if left != 0 {
		t.Errorf("%d of the agent's %d programs still loaded 10s after SIGTERM", left, len(held))
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("status socket left behind")
	}
}

func TestBadConfigNamesFileAndLine(t *testing.T) {
	bin := vigilBin(t)
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(cfg, []byte("output: stdout\nqueue_size: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "agent", "--config", cfg).CombinedOutput()
	if err == nil {
		t.Fatal("agent accepted a bad config")
	}
	if !strings.Contains(string(out), cfg+":2: queue_size") {
		t.Errorf("error does not name file and line: %s", out)
	}
}

// vigil config check (systemd's ExecReload, Ansible's validate, cloud-init's
// runcmd) reads the unit's environment file and refuses an unusable
// credential before anything restarts.
func TestConfigCheckEnvFileAndCredentials(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	env := filepath.Join(dir, "vigil.env")
	seed := filepath.Join(dir, "nats.nk")
	write := func(p, s string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg, "env: test\n", 0o600)
	check := func() (string, error) {
		out, err := exec.Command(bin, "config", "check", "--config", cfg, "--env-file", env).CombinedOutput()
		return string(out), err
	}
	write(env, "# test\nVIGIL_NATS_URL=nats://127.0.0.1:4222\nVIGIL_NATS_NKEY="+seed+"\n", 0o644)
	write(seed, "SUAREPLACEWITHTHISHOSTSNKEYSEED\n", 0o600)
	if out, err := check(); err == nil || !strings.Contains(out, "nkey seed "+seed) {
		t.Errorf("a malformed seed passed: %v %s", err, out)
	}
	if _, err := exec.Command(bin, "enroll", "--config", cfg, "--seed", filepath.Join(dir, "good.nk"), "--host-id", "h1").CombinedOutput(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "good.nk"))
	write(seed, string(b), 0o644)
	if out, err := check(); err == nil || !strings.Contains(out, "readable by group or others") {
		t.Errorf("a world-readable seed passed: %v %s", err, out)
	}
	write(seed, string(b), 0o600)
	if out, err := check(); err != nil {
		t.Errorf("a good seed failed: %v %s", err, out)
	}
	write(env, "VIGIL_NATS_URL=nats://127.0.0.1:4222\nnot a pair\n", 0o644)
	if out, err := check(); err == nil || !strings.Contains(out, env+":2:") {
		t.Errorf("a bad environment file line was not named: %v %s", err, out)
	}
}

// fakeTool copies /bin/true to dir/name: running it fires the rules about
// that tool's name and does nothing.
func fakeTool(t *testing.T, dir, name string) string {
	t.Helper()
	tool := filepath.Join(dir, name)
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tool, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return tool
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatal("timed out")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func rssOf(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// programsOf returns the ids of the BPF programs whose fds process pid holds,
// from /proc/<pid>/fdinfo.
func programsOf(t *testing.T, pid int) map[int]bool {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]bool{}
	for _, fd := range fds {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if link != "anon_inode:bpf-prog" {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(info), "\n") {
			var id int
			if _, err := fmt.Sscanf(l, "prog_id:\t%d", &id); err == nil {
				out[id] = true
			}
		}
	}
	return out
}

type loadedProgram struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func loadedPrograms(t *testing.T) []loadedProgram {
	t.Helper()
	out, err := exec.Command("bpftool", "-j", "prog", "show").Output()
	if err != nil {
		t.Fatalf("bpftool: %v", err)
	}
	var progs []loadedProgram
	if err := json.Unmarshal(out, &progs); err != nil {
		t.Fatal(err)
	}
	return progs
}

// Without privileges the preflight must fail, exit 1, and say why.
func TestCheckFailsWithReasonsUnprivileged(t *testing.T) {
	bin := vigilBin(t)
	cmd := exec.Command(bin, "check")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v:\n%s", err, out)
	}
	for _, want := range []string{"fail  capabilities", "lacks CAP_BPF", "fail  program types", "cannot run the sensor"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// `vigil simulate --all` against a running agent triggers every vendor rule
// (rules whose scenario this kernel cannot run are reported as skipped).
func TestSimulateAllTriggersEveryRule(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	rulesDir := filepath.Join(dir, "rules.d")
	if err := os.MkdirAll(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The fake metadata address; and build tools without go and make: this
	// test runs under `make test` and `go test`, and the build-tool
	// exceptions would silence the simulated discovery burst and mass deletion.
	override := "- list: imds_addresses\n  override: {items: append}\n  items: [127.0.0.254]\n" +
		"- list: build_tools\n  override: {items: replace}\n  items: [gcc, cc, ld]\n"
	if err := os.WriteFile(filepath.Join(rulesDir, "50-simulate.yaml"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "--output", "none", "--alerts", "stdout", "--rules", rulesDir, "--status-socket", sock)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	fired := make(chan string, 4096)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		for sc.Scan() {
			var a struct{ Schema, Rule string }
			if json.Unmarshal(sc.Bytes(), &a) == nil && a.Schema == "vigil.alert/1" {
				fired <- a.Rule
			}
		}
	}()
	waitFor(t, 60*time.Second, func() bool { _, err := os.Stat(sock); return err == nil })

	out, err := exec.Command(bin, "simulate", "--all", "--json", "--socket", sock).Output()
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, out)
	}
	var results []struct {
		Name, Skipped, Error string
		Rules, Missing       []string
		Verified             bool
	}
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatal(err)
	}
	skipped := map[string]string{}
	for _, r := range results {
		if r.Error != "" {
			t.Errorf("scenario %s: %s", r.Name, r.Error)
		}
		// simulate itself asked the agent: every scenario that ran is
		// verified with nothing missing.
		if r.Error == "" && r.Skipped == "" && (!r.Verified || len(r.Missing) > 0) {
			t.Errorf("scenario %s: verified %v, missing %v", r.Name, r.Verified, r.Missing)
		}
		if r.Skipped != "" {
			for _, rule := range r.Rules {
				skipped[rule] = r.Skipped
			}
		}
	}
	listOut, err := exec.Command(bin, "rules", "list", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var all []struct {
		Rule    string
		Source  string
		Enabled bool
	}
	if err := json.Unmarshal(listOut, &all); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range all {
		// Cloud rules run in the backend; `vigil simulate` re-enacts host attacks.
		if r.Enabled && (r.Source == "" || r.Source == "runtime") && skipped[r.Rule] == "" {
			want[r.Rule] = true
		}
	}
	got := map[string]bool{}
	deadline := time.After(15 * time.Second)
	for len(got) < len(want) {
		select {
		case r := <-fired:
			if want[r] {
				got[r] = true
			}
		case <-deadline:
			for r := range want {
				if !got[r] {
					t.Errorf("rule %q did not fire", r)
				}
			}
			return
		}
	}
	t.Logf("%d rules fired; skipped on this kernel: %v", len(got), skipped)
}

// syncBuffer is a strings.Builder safe to read while a child writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `vigil agent` with a NATS URL delivers alerts that carry the host's
// identity (with cloud metadata from a fake IMDSv2 on loopback) and sends
// heartbeats.
func TestAgentDeliversAlertsToJetStream(t *testing.T) {
	bin := vigilBin(t)
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/latest/api/token":
			w.Write([]byte("t"))
		case "/latest/dynamic/instance-identity/document":
			w.Write([]byte(`{"instanceId":"i-0fake","accountId":"111122223333","region":"eu-west-1"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer imds.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	conf := fmt.Sprintf("output: none\nalerts: none\nenv: e2e\nheartbeat_interval: 1s\nstate_dir: %s\nnats:\n  url: %s\n  create_stream: true\nimds:\n  endpoint: %s\n  timeout: 2s\n",
		dir, ns.ClientURL(), imds.URL)
	sock, stderr := startConfigured(t, bin, cfg, conf)

	tool := fakeTool(t, dir, "nmap")
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	alerts, err := nc.SubscribeSync("vigil.e2e.alert.*")
	if err != nil {
		t.Fatal(err)
	}
	hbs, err := nc.SubscribeSync("vigil.e2e.hb.*")
	if err != nil {
		t.Fatal(err)
	}
	var msg *nats.Msg
	for i := 0; i < 30 && msg == nil; i++ {
		_ = exec.Command(tool, "-sS", "127.0.0.1").Run()
		msg, _ = alerts.NextMsg(time.Second)
	}
	if msg == nil {
		t.Fatalf("no alert on vigil.e2e.alert.*; agent: %s", stderr.String())
	}
	var a struct {
		ID   string
		Rule string
		Host struct {
			ID       string
			Env      string
			Identity struct {
				AgentVersion string `json:"agent_version"`
				Kernel       string
				Cloud        struct {
					InstanceID string `json:"instance_id"`
					AccountID  string `json:"account_id"`
				}
			}
		}
	}
	if err := json.Unmarshal(msg.Data, &a); err != nil {
		t.Fatal(err)
	}
	if a.Host.ID == "" || a.Host.Env != "e2e" || a.Host.Identity.Cloud.InstanceID != "i-0fake" || a.Host.Identity.Kernel == "" {
		t.Errorf("alert host %+v", a.Host)
	}
	if msg.Subject != "vigil.e2e.alert."+a.Host.ID || msg.Header.Get("Nats-Msg-Id") != a.ID {
		t.Errorf("subject %q, msg id %q, alert id %q", msg.Subject, msg.Header.Get("Nats-Msg-Id"), a.ID)
	}
	if _, err := hbs.NextMsg(5 * time.Second); err != nil {
		t.Errorf("no heartbeat: %v", err)
	}
	out, err := exec.Command(bin, "status", "--json", "--socket", sock).Output()
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		HostID    string `json:"host_id"`
		Transport struct {
			Connected bool
			Acked     uint64
		}
	}
	_ = json.Unmarshal(out, &st)
	if st.HostID != a.Host.ID || !st.Transport.Connected || st.Transport.Acked == 0 {
		t.Errorf("status %s", out)
	}
}

// Under systemd (Type=notify, WatchdogSec) the agent says READY=1 once its
// probes are attached, and then feeds the watchdog.
func TestSystemdNotifyAndWatchdog(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cmd := exec.Command(bin, "agent", "--output", "none", "--alerts", "none", "--status-socket", filepath.Join(dir, "agent.sock"))
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=400000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	got := map[string]int{}
	buf := make([]byte, 256)
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for got["WATCHDOG=1"] < 3 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("notifications so far %v: %v", got, err)
		}
		got[string(buf[:n])]++
		if got["WATCHDOG=1"] > 0 && got["READY=1"] == 0 {
			t.Fatal("WATCHDOG before READY")
		}
	}
}

// A credential that cannot be used stops delivery, not detection: the agent
// runs, alerts wait in the spool, and vigil status names the seed file.
func TestBadCredentialKeepsDetecting(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	seed := filepath.Join(dir, "nats.nk")
	if err := os.WriteFile(seed, []byte("SUAREPLACEWITHTHISHOSTSNKEYSEED\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	conf := fmt.Sprintf("output: none\nalerts: none\nenv: e2e\nstate_dir: %s\nimds:\n  enabled: false\nnats:\n  url: nats://127.0.0.1:%d\n  nkey: %s\n",
		dir, freePort(t), seed)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(bin, "agent", "--config", cfg, "--status-socket", sock)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); <-exited }()
	waitFor(t, 60*time.Second, func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("agent exited with a bad credential: %v\n%s", err, stderr.String())
		default:
		}
		_, err := os.Stat(sock)
		return err == nil
	})
	tool := fakeTool(t, dir, "nmap")
	type status struct {
		Transport struct {
			Connected bool
			LastError string `json:"last_error"`
			Spool     struct{ Records int }
		}
	}
	var st status
	waitFor(t, 30*time.Second, func() bool {
		_ = exec.Command(tool, "-sS", "127.0.0.1").Run()
		out, err := exec.Command(bin, "status", "--json", "--socket", sock).Output()
		if err != nil || json.Unmarshal(out, &st) != nil {
			return false
		}
		return st.Transport.Spool.Records > 0
	})
	if st.Transport.Connected || !strings.Contains(st.Transport.LastError, "nkey seed "+seed) {
		t.Errorf("transport status %+v does not name the seed", st.Transport)
	}
	if !strings.Contains(stderr.String(), "alert delivery disabled until the credential is fixed") {
		t.Errorf("no log line about the credential: %s", stderr.String())
	}
}

// vigil simulate checks with the running agent that the expected alerts
// came: a scenario whose rule is disabled is reported FAIL with exit 1 (it
// used to print "ran" whatever happened); without an agent it says how to
// start one. The text output shows one line per alert, no JSON.
func TestSimulateFailsWhenTheAlertDoesNotCome(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	rulesDir := filepath.Join(dir, "rules.d")
	os.MkdirAll(rulesDir, 0o755)
	if err := os.WriteFile(filepath.Join(rulesDir, "50-off.yaml"), []byte("- disable: {rules: [Crypto miner executed]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "simulate", "miner", "--socket", sock).CombinedOutput(); err == nil || !strings.Contains(string(out), "start the agent first") {
		t.Errorf("simulate without an agent: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "agent", "--output", "text", "--rules", rulesDir, "--status-socket", sock)
	stdout := &syncBuffer{}
	cmd.Stdout = stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	waitFor(t, 60*time.Second, func() bool { _, err := os.Stat(sock); return err == nil })
	out, err := exec.Command(bin, "simulate", "miner", "netcat-exec", "--socket", sock, "--wait", "3s").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("simulate with a disabled rule: %v\n%s", err, out)
	}
	for _, want := range []string{"FAIL    miner", "no alert from: Crypto miner executed", "pass    netcat-exec", "1 passed, 1 failed, 0 skipped"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("simulate output lacks %q:\n%s", want, out)
		}
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(stdout.String(), "Netcat or socat with command execution") })
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if strings.HasPrefix(line, "{") || !strings.Contains(line, " [pid=") {
			t.Errorf("not a text alert line: %q", line)
		}
	}
}

// Bad input is an error naming what is wrong, before anything starts: a
// rule path that does not exist (it used to be skipped), more prefixes
// than the kernel holds (the agent used to fail at start with ENOSPC), a
// bad flag value (named as the flag), stray arguments and unknown commands
// (which used to print help and exit 0).
func TestBadInputNamesTheProblem(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	run := func(args ...string) (string, int) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	for _, args := range [][]string{
		{"rules", "lint", typo},
		{"agent", "--rules", typo, "--status-socket", filepath.Join(dir, "a.sock")},
	} {
		if out, code := run(args...); code == 0 || !strings.Contains(out, typo+" does not exist") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	cfg := filepath.Join(dir, "agent.yaml")
	var b strings.Builder
	fmt.Fprintf(&b, "rules:\n  paths: [%s]\nwatched_prefixes:\n", typo)
	os.WriteFile(cfg, []byte(b.String()), 0o600)
	if out, code := run("config", "check", "--config", cfg, "--env-file", "none"); code == 0 || !strings.Contains(out, typo+" does not exist") {
		t.Errorf("config check with a missing rules path: exit %d\n%s", code, out)
	}
	b.Reset()
	b.WriteString("watched_prefixes:\n")
	for i := 0; i < 510; i++ {
		fmt.Fprintf(&b, "  - /srv/p%d/\n", i)
	}
	os.WriteFile(cfg, []byte(b.String()), 0o600)
	if out, code := run("config", "check", "--config", cfg, "--env-file", "none"); code == 0 || !strings.Contains(out, "more than the kernel's 512") {
		t.Errorf("config check with 510 + the rules' prefixes: exit %d\n%s", code, out)
	}
	if out, code := run("agent", "--config", cfg, "--status-socket", filepath.Join(dir, "b.sock")); code == 0 || !strings.Contains(out, "more than the kernel's 512") {
		t.Errorf("agent with too many prefixes: exit %d\n%s", code, out)
	}
	if out, code := run("agent", "--env", "a.b", "--status-socket", filepath.Join(dir, "c.sock")); code == 0 ||
		!strings.Contains(out, `flag --env (env): "a.b" must be a subject token`) || strings.Contains(out, "env: env:") {
		t.Errorf("bad flag: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"rules", "lnt"}, {"status", "extra"}, {"frobnicate"}} {
		if out, code := run(args...); code == 0 || !strings.Contains(out, "unknown command") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	if out, _ := run("version"); !strings.HasPrefix(out, "vigil ") {
		t.Errorf("version: %s", out)
	}
}

// The agent started without privileges says that root or CAP_BPF is needed
// (it used to pass on libbpf's advice to raise RLIMIT_MEMLOCK); and it runs
// with CAP_BPF and CAP_PERFMON alone, which is why the unit grants no
// CAP_SYS_ADMIN.
func TestAgentPrivileges(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	cmd := exec.Command(bin, "agent", "--status-socket", filepath.Join(dir, "nobody.sock"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("unprivileged agent: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "needs root, or CAP_BPF and CAP_PERFMON") || strings.Contains(strings.ToLower(string(out)), "memlock") {
		t.Errorf("unprivileged agent says:\n%s", out)
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	// tracefs must be mounted for an agent without CAP_SYS_ADMIN (the unit's
	// privileged ExecStartPre, vigil check, mounts it).
	if out, err := exec.Command(bin, "check").CombinedOutput(); err != nil {
		t.Fatalf("vigil check: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "caps.sock")
	agent := exec.Command("setpriv", "--bounding-set=-all,+bpf,+perfmon,+kill,+sys_ptrace,+dac_read_search", "--inh-caps=-all",
		bin, "agent", "--output", "none", "--alerts", "none", "--status-socket", sock)
	stderr := &syncBuffer{}
	agent.Stderr = stderr
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = agent.Process.Signal(syscall.SIGTERM); _ = agent.Wait() }()
	waitFor(t, 60*time.Second, func() bool { _, err := os.Stat(sock); return err == nil })
	out, err = exec.Command(bin, "status", "--json", "--socket", sock).Output()
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Programs struct{ Attached, Skipped int }
		Skipped  []struct{ Name, Reason string } `json:"skipped_programs"`
	}
	_ = json.Unmarshal(out, &st)
	for _, s := range st.Skipped {
		if !strings.Contains(s.Name, "module") {
			t.Errorf("program %s refused without CAP_SYS_ADMIN: %s", s.Name, s.Reason)
		}
	}
	if st.Programs.Attached < 30 {
		t.Errorf("%d programs attached without CAP_SYS_ADMIN\n%s", st.Programs.Attached, stderr.String())
	}
}
