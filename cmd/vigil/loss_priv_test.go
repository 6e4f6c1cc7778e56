package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// severities in spool order: the spool's priority is the severity + 1.
var sevNames = []string{"info", "low", "medium", "high", "critical"}

// markerRules writes one rule per severity that fires on the exec of a
// marker program named vigil-mark-<severity>.
func markerRules(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, s := range sevNames {
		fmt.Fprintf(&b, "- rule: Marker %s\n  desc: d\n  events: [exec]\n  condition: exec.exe endsWith \"/vigil-mark-%s\"\n"+
			"  output: \"marker %%exec.exe\"\n  severity: %s\n  mitre: {tactic: execution, technique: T1204}\n", s, s, s)
	}
	p := filepath.Join(dir, "markers.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// markers makes the marker programs: hard links to /bin/true outside the
// temporary directories (so nothing but the marker rules fires).
func markers(t *testing.T) map[string]string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/lib", "vigil-test-markers-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	out := map[string]string{}
	for _, s := range sevNames {
		p := filepath.Join(dir, "vigil-mark-"+s)
		if err := os.Link("/usr/bin/true", p); err != nil {
			b, _ := os.ReadFile("/usr/bin/true")
			if err := os.WriteFile(p, b, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		out[s] = p
	}
	return out
}

func runN(t *testing.T, prog string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := exec.Command(prog).Run(); err != nil {
			t.Fatal(err)
		}
	}
}

type agentStatus struct {
	Rules  struct{ Alerts uint64 }
	Health struct {
		Degraded       bool
		DegradedAlerts uint64 `json:"degraded_alerts"`
	}
	Transport struct {
		Connected bool
		URL       string
		Spool     struct {
			Records        int
			Dropped        [6]uint64 `json:"dropped_by_severity"`
			DiskFullEvents uint64    `json:"disk_full_events"`
		}
	}
}

func fetchStatus(t *testing.T, bin, sock string) (agentStatus, string) {
	t.Helper()
	var st agentStatus
	out, err := exec.Command(bin, "status", "--json", "--socket", sock).Output()
	if err != nil {
		return st, ""
	}
	_ = json.Unmarshal(out, &st)
	return st, string(out)
}

// A spool on a tiny filesystem that fills up while NATS is down: the full
// disk sheds the lowest severities first, every loss is counted in status
// and in a "Sensor degraded" alert, no medium, high or critical alert is
// lost while lower ones remain, and once space returns (and NATS) delivery
// resumes by itself. (It used to keep the oldest low alerts, lose every
// later one uncounted, and deliver nothing until a restart.)
func TestFullDiskShedsLowestFirstAndResumes(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	if err := os.MkdirAll(spoolDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", spoolDir, "tmpfs", 0, "size=4m,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer syscall.Unmount(spoolDir, syscall.MNT_DETACH)
	// Most of the filesystem is taken by something else, as a full /var is.
	filler := filepath.Join(spoolDir, "filler")
	if err := os.WriteFile(filler, bytes.Repeat([]byte{1}, 5<<19), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := filepath.Join(dir, "agent.yaml")
	conf := fmt.Sprintf("output: none\nalerts: none\nenv: full\nstate_dir: %s\ndegraded_alert_interval: 1s\nimds:\n  enabled: false\n"+
		"process_tree:\n  max_ancestors: 1\n"+
		"rules:\n  builtin: false\n  paths: [%s]\n  dedup_window: 0s\n"+
		"nats:\n  url: nats://vigil:s3cret@127.0.0.1:%d\n  create_stream: true\nspool:\n  dir: %s\n",
		dir, markerRules(t, dir), port, spoolDir)
	sock, stderr := startConfigured(t, bin, cfg, conf)

	m := markers(t)
	sent := map[string]int{"info": 300, "low": 300, "medium": 50, "high": 50, "critical": 50}
	for _, s := range sevNames {
		runN(t, m[s], sent[s])
	}
	var st agentStatus
	var raw string
	deadline := time.Now().Add(60 * time.Second)
	for st, raw = fetchStatus(t, bin, sock); st.Rules.Alerts < 750; st, raw = fetchStatus(t, bin, sock) {
		if time.Now().After(deadline) {
			t.Fatalf("%d alerts raised of 750; status %s\nagent: %s", st.Rules.Alerts, raw, tail(stderr.String(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	sp := st.Transport.Spool
	t.Logf("spool while full: %d records, dropped %v, %d full events", sp.Records, sp.Dropped, sp.DiskFullEvents)
	if sp.DiskFullEvents == 0 || sp.Dropped[1] == 0 {
		t.Fatalf("the disk never filled (make the filler larger): %s", raw)
	}
	if sp.Dropped[3]+sp.Dropped[4]+sp.Dropped[5] != 0 {
		t.Errorf("medium, high or critical shed while lower ones remain: %v", sp.Dropped)
	}
	if strings.Contains(raw, "s3cret") || !strings.Contains(st.Transport.URL, "REDACTED") {
		t.Errorf("status shows the NATS password: %s", st.Transport.URL)
	}
	// The losses raise "Sensor degraded" (it goes to the spool too, as a
	// high alert: alerts were lost) and are logged.
	waitFor(t, 30*time.Second, func() bool { st, _ = fetchStatus(t, bin, sock); return st.Health.DegradedAlerts > 0 })
	if !strings.Contains(stderr.String(), `"data lost"`) {
		t.Errorf("no log line about the losses:\n%s", tail(stderr.String(), 20))
	}

	// Space returns and the server comes up: everything kept is delivered
	// without a restart, and new alerts are spooled and delivered again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, Username: "vigil", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	runN(t, m["info"], 5)
	waitFor(t, 90*time.Second, func() bool {
		st, _ = fetchStatus(t, bin, sock)
		return st.Transport.Connected && st.Transport.Spool.Records == 0 && st.Rules.Alerts >= 755
	})
	got := streamAlerts(t, bin, fmt.Sprintf("nats://vigil:s3cret@127.0.0.1:%d", port))
	t.Logf("delivered by rule: %v", got)
	for _, s := range []string{"medium", "high", "critical"} {
		if got["Marker "+s] != 50 {
			t.Errorf("%s: %d of 50 delivered", s, got["Marker "+s])
		}
	}
	if got["Marker info"]+got["Marker low"] == 0 || got["Marker low"] == 0 {
		t.Errorf("no lower alerts remained: %v", got)
	}
	lost := uint64(sent["info"]+5-got["Marker info"]) + uint64(sent["low"]-got["Marker low"])
	if st.Transport.Spool.Dropped[1]+st.Transport.Spool.Dropped[2] != lost {
		t.Errorf("lost %d info and low alerts, counted %v", lost, st.Transport.Spool.Dropped)
	}
	if got["Sensor degraded"] == 0 {
		t.Error("no Sensor degraded alert delivered")
	}
}

// startConfigured writes conf to cfg, starts the agent with it, stops it
// when the test ends, and returns once its status socket is served (the
// probes are attached).
func startConfigured(t *testing.T, bin, cfg, conf string) (sock string, stderr *syncBuffer) {
	t.Helper()
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	sock = filepath.Join(filepath.Dir(cfg), "agent.sock")
	cmd := exec.Command(bin, "agent", "--config", cfg, "--status-socket", sock)
	stderr = &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	waitFor(t, 60*time.Second, func() bool { _, err := os.Stat(sock); return err == nil })
	return sock, stderr
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// streamAlerts counts the alerts in the stream by rule, read with the
// binary's own `vigil tail` (every message once; none is acknowledged).
func streamAlerts(t *testing.T, bin, url string) map[string]int {
	t.Helper()
	out, _ := exec.Command(bin, "tail", "--nats-url", url, "--subject", "vigil.*.alert.*", "--timeout", "3s").Output()
	got := map[string]int{}
	ids := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m struct {
			Data struct{ ID, Rule string }
		}
		if json.Unmarshal([]byte(line), &m) != nil || m.Data.ID == "" {
			continue
		}
		if ids[m.Data.ID] {
			t.Errorf("alert %s delivered twice", m.Data.ID)
		}
		ids[m.Data.ID] = true
		got[m.Data.Rule]++
	}
	return got
}

// A flood the pipeline cannot keep up with (stdout not read) drops queued
// events: a rate-limited "Sensor degraded" alert says how many, by type,
// and the log says so (queue drops used to raise nothing). Every JSON log
// line has each key once (libbpf's lines carried "component" three times
// and two "msg" keys). SIGTERM with a stuck output still stops within the
// shutdown timeout (the agent used to drain the whole queue first).
func TestQueueDropsRaiseDegradedAndShutdownIsBounded(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("queue_size: 64\ndegraded_alert_interval: 1s\nshutdown_timeout: 2s\nlog_level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "--config", cfg, "--output", "json", "--print-events", "--collect", "all", "--status-socket", sock)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill(); <-exited }()
	waitFor(t, 60*time.Second, func() bool { _, err := os.Stat(sock); return err == nil })

	// stdout is not read: the pipe fills, the consumer stalls, the queue
	// overflows under a burst of file writes.
	f := filepath.Join(dir, "flood")
	for i := 0; i < 20000; i++ {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var raw string
	waitFor(t, 30*time.Second, func() bool {
		out, err := exec.Command(bin, "status", "--json", "--socket", sock).Output()
		raw = string(out)
		return err == nil && strings.Contains(raw, `"degraded": true`)
	})

	// Now read: among the events is the degraded alert with the counts.
	found := make(chan map[string]uint64, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		for sc.Scan() {
			var a struct {
				Schema, Rule string
				Counts       map[string]uint64
			}
			if json.Unmarshal(sc.Bytes(), &a) == nil && a.Rule == "Sensor degraded" && a.Counts["queue.open"] > 0 {
				found <- a.Counts
				return // and stop reading: stdout stalls again
			}
		}
	}()
	select {
	case counts := <-found:
		t.Logf("degraded alert counts: %v", counts)
	case <-time.After(60 * time.Second):
		t.Fatalf("no Sensor degraded alert; status %s", raw)
	}
	if !strings.Contains(stderr.String(), `"data lost"`) {
		t.Error("no log line about the drops")
	}

	// stdout is stalled again: flood, then stop. The agent exits within the
	// timeout although its output never drains.
	for i := 0; i < 20000; i++ {
		_ = os.WriteFile(f, nil, 0o600)
	}
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		exited <- nil
	case <-time.After(15 * time.Second):
		t.Fatal("agent still running 15 s after SIGTERM (shutdown_timeout 2s)")
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	checkLogKeys(t, stderr.String())
}

// checkLogKeys fails on any JSON log line with a repeated key.
func checkLogKeys(t *testing.T, logs string) {
	t.Helper()
	lines, libbpf := 0, 0
	for _, line := range strings.Split(logs, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		lines++
		if strings.Contains(line, `"logger":"agent.sensor.libbpf"`) {
			libbpf++
		}
		dec := json.NewDecoder(strings.NewReader(line))
		if _, err := dec.Token(); err != nil {
			t.Errorf("not JSON: %s", line)
			continue
		}
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				t.Errorf("bad line %s: %v", line, err)
				break
			}
			key := k.(string)
			if seen[key] {
				t.Errorf("key %q repeated: %s", key, line)
			}
			seen[key] = true
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Errorf("bad value in %s: %v", line, err)
				break
			}
		}
	}
	if lines == 0 || libbpf == 0 {
		t.Errorf("%d log lines, %d from libbpf: the check saw too little", lines, libbpf)
	}
}
