package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-sec/vigil/pkg/backend/ingest"
)

// backendBin is the built binary; the backend needs no privileges.
func backendBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("VIGIL_BIN")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("VIGIL_BIN must name bin/vigil in CI")
		}
		t.Skip("VIGIL_BIN not set: run through `make test`")
	}
	return bin
}

const stratusDir = "../../pkg/cloudevent/testdata/cloudtrail"

type backendProc struct {
	cmd     *exec.Cmd
	api     string
	nats    string
	token   string
	dataDir string
	stderr  *syncBuffer
}

// startBackend runs `vigil backend` on free loopback ports with an empty
// configuration file (the defaults) and waits until it is healthy.
func startBackend(t *testing.T, bin, dataDir string, natsPort int, conf string, env ...string) *backendProc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "backend.yaml")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	httpPort := freePort(t)
	b := &backendProc{api: fmt.Sprintf("http://127.0.0.1:%d", httpPort), nats: fmt.Sprintf("nats://127.0.0.1:%d", natsPort),
		token: filepath.Join(dataDir, "admin.token"), dataDir: dataDir, stderr: &syncBuffer{}}
	b.cmd = exec.Command(bin, "backend", "--config", cfg, "--data-dir", dataDir, "--nats-listen", fmt.Sprintf("127.0.0.1:%d", natsPort),
		"--listen", fmt.Sprintf("127.0.0.1:%d", httpPort))
	b.cmd.Env = append(os.Environ(), env...)
	b.cmd.Stderr = b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Registered before stop: runs after it, with the whole log.
		if t.Failed() {
			t.Logf("backend %s (%s):\n%s", b.api, b.cmd.ProcessState, tail(b.stderr.String(), 40))
		}
	})
	t.Cleanup(func() { b.stop() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(b.api + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return b
			}
		}
		if time.Now().After(deadline) || b.cmd.ProcessState != nil {
			t.Fatalf("backend not healthy: %v\n%s", err, tail(b.stderr.String(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *backendProc) stop() {
	if b.cmd.Process != nil && b.cmd.ProcessState == nil {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		_ = b.cmd.Wait()
	}
}

// detections lists detections through the CLI (vigil detections --json).
func (b *backendProc) detections(t *testing.T, bin string, args ...string) []map[string]any {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"detections", "--json", "--limit", "10000", "--api", b.api, "--token-file", b.token}, args...)...).Output()
	if err != nil {
		t.Fatalf("vigil detections: %v", err)
	}
	var resp struct{ Detections []map[string]any }
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return resp.Detections
}

// stable waits until the number of detections stops changing.
func (b *backendProc) stable(t *testing.T, bin string, min int, args ...string) []map[string]any {
	t.Helper()
	var last []map[string]any
	deadline := time.Now().Add(60 * time.Second)
	same := 0
	for time.Now().Before(deadline) {
		d := b.detections(t, bin, args...)
		if len(d) >= min && len(d) == len(last) {
			same++
			if same >= 3 {
				return d
			}
		} else {
			same = 0
		}
		last = d
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("detections did not settle at >= %d: %d\n%s", min, len(last), tail(b.stderr.String(), 20))
	return nil
}

func (b *backendProc) call(t *testing.T, method, path, token string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, b.api+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s is %v, want 0600", path, st.Mode().Perm())
	}
	return strings.TrimSpace(string(b))
}

func ingestCmd(t *testing.T, bin, natsURL string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"ingest"}, append(args[:1:1], append([]string{"--nats-url", natsURL}, args[1:]...)...)...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// `vigil backend` with no configuration: the Stratus Red Team files
// ingested through the embedded NATS raise their tactics' detections, listed
// by the API and the CLI; ingesting them again stores and detects nothing
// new; the API authenticates, authorizes and names bad fields; logs pushed
// over HTTP are detected too.
func TestBackendIngestDetectDedup(t *testing.T) {
	bin := backendBin(t)
	dir := t.TempDir()
	notify := filepath.Join(dir, "notify.sock")
	nconn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nconn.Close()
	b := startBackend(t, bin, filepath.Join(dir, "data"), freePort(t), "", "NOTIFY_SOCKET="+notify)
	buf := make([]byte, 64)
	nconn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nconn.Read(buf); err != nil || string(buf[:n]) != "READY=1" {
		t.Errorf("no READY=1 notification: %q %v", buf[:n], err)
	}
	admin := readToken(t, b.token)

	out, errOut, code := ingestCmd(t, bin, b.nats, "cloudtrail", stratusDir)
	if code != 0 || !strings.Contains(out, "137 records read from 18 files: 137 published, 0 duplicates, 0 malformed") {
		t.Fatalf("ingest: %d %q %q", code, out, errOut)
	}
	dets := b.stable(t, bin, 18, "--source", "cloudtrail")
	tactics := map[string]bool{}
	for _, d := range dets {
		tactics[d["mitre_tactic"].(string)] = true
		if d["schema"] != "vigil.detection/1" || d["id"] == "" || len(d["actors"].([]any)) == 0 {
			t.Errorf("detection %v", d)
		}
		if strings.Contains(d["message"].(string), "by  from") {
			t.Errorf("message lost the actor: %v", d["message"])
		}
	}
	for _, want := range []string{"credential-access", "defense-evasion", "execution", "exfiltration", "impact", "lateral-movement", "persistence", "privilege-escalation"} {
		if !tactics[want] {
			t.Errorf("no %s detection among %d", want, len(dets))
		}
	}
	// Again: nothing new is stored or detected.
	out, _, code = ingestCmd(t, bin, b.nats, "cloudtrail", stratusDir)
	if code != 0 || !strings.Contains(out, "0 published, 137 duplicates") {
		t.Errorf("re-ingest: %d %q", code, out)
	}
	time.Sleep(2 * time.Second)
	if again := b.detections(t, bin, "--source", "cloudtrail"); len(again) != len(dets) {
		t.Errorf("re-ingesting added detections: %d then %d", len(dets), len(again))
	}
	// Filters: severity and limit.
	high := b.detections(t, bin, "--severity", "high")
	for _, d := range high {
		if d["severity"] != "high" && d["severity"] != "critical" {
			t.Errorf("severity filter let %v through", d["severity"])
		}
	}
	if len(high) == 0 || len(high) >= len(dets) {
		t.Errorf("%d high of %d", len(high), len(dets))
	}
	// A malformed record is named with file and line; the rest is read.
	bad := filepath.Join(dir, "bad.jsonl")
	good, _ := os.ReadFile(filepath.Join(stratusDir, "aws.persistence.iam-backdoor-role.json"))
	var recs []json.RawMessage
	_ = json.Unmarshal(good, &recs)
	if err := os.WriteFile(bad, []byte(string(compactJSON(t, recs[0]))+"\n{oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = ingestCmd(t, bin, b.nats, "cloudtrail", bad)
	if code != 0 || !strings.Contains(errOut, "bad.jsonl:2: record 1: not JSON") || !strings.Contains(out, "1 duplicates, 1 malformed") {
		t.Errorf("malformed: %d %q %q", code, out, errOut)
	}
	// Nothing readable: a non-zero exit.
	empty := filepath.Join(dir, "empty.log")
	_ = os.WriteFile(empty, []byte("garbage\n"), 0o644)
	if _, _, code = ingestCmd(t, bin, b.nats, "cloudtrail", empty); code == 0 {
		t.Error("ingesting only garbage exited 0")
	}

	// The API: authentication, roles, fields named in errors.
	if code, m := b.call(t, "GET", "/api/v1/detections", "", nil); code != 401 || m["error"] == nil {
		t.Errorf("no token: %d %v", code, m)
	}
	if code, _ := b.call(t, "GET", "/api/v1/detections", "vgl_wrong", nil); code != 401 {
		t.Errorf("bad token: %d", code)
	}
	// Every endpoint but health wants credentials, and says so in JSON.
	for _, e := range []struct{ method, path string }{
		{"GET", "/api/v1/detections"}, {"GET", "/api/v1/threats"}, {"GET", "/api/v1/threats/thr-x"}, {"PATCH", "/api/v1/threats/thr-x"},
		{"GET", "/api/v1/threats/events"}, {"GET", "/api/v1/sensors"}, {"GET", "/api/v1/status"}, {"GET", "/api/v1/rules"},
		{"GET", "/api/v1/session"}, {"POST", "/api/v1/tokens"}, {"POST", "/api/v1/ingest/cloudtrail"},
	} {
		if code, m := b.call(t, e.method, e.path, "", []byte(`{}`)); code != 401 || m["error"] == nil {
			t.Errorf("%s %s without credentials: %d %v", e.method, e.path, code, m)
		}
	}
	if code, m := b.call(t, "GET", "/api/v1/detections?severity=urgent", admin, nil); code != 400 || m["field"] != "severity" {
		t.Errorf("bad severity: %d %v", code, m)
	}
	if code, m := b.call(t, "GET", "/api/v1/detections?limit=0", admin, nil); code != 400 || m["field"] != "limit" {
		t.Errorf("bad limit: %d %v", code, m)
	}
	viewerOut, err := exec.Command(bin, "backend", "token", "create", "--role", "viewer", "--api", b.api, "--token-file", b.token).Output()
	if err != nil {
		t.Fatal(err)
	}
	viewer := strings.TrimSpace(string(viewerOut))
	if code, _ := b.call(t, "GET", "/api/v1/detections?source=cloudtrail", viewer, nil); code != 200 {
		t.Errorf("viewer read: %d", code)
	}
	if code, _ := b.call(t, "POST", "/api/v1/tokens", viewer, []byte(`{"role":"admin"}`)); code != 403 {
		t.Errorf("viewer made a token: %d", code)
	}
	if code, _ := b.call(t, "POST", "/api/v1/ingest/cloudtrail", viewer, []byte(`{}`)); code != 403 {
		t.Errorf("viewer pushed logs: %d", code)
	}
	if code, m := b.call(t, "PATCH", "/api/v1/threats/thr-x", viewer, []byte(`{"status":"resolved"}`)); code != 403 || m["error"] == nil {
		t.Errorf("viewer triaged: %d %v", code, m)
	}
	if code, m := b.call(t, "PATCH", "/api/v1/threats/thr-x", admin, bytes.Repeat([]byte("x"), 100<<10)); code != 413 || m["error"] == nil {
		t.Errorf("a 100 KiB triage: %d %v", code, m)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "data", "admin.token"))
	if bytes.Contains([]byte(b.stderr.String()), bytes.TrimSpace(raw)) {
		t.Error("the admin token is in the log")
	}
	// Push: Kubernetes audit over HTTP.
	attach, _ := os.ReadFile("../../pkg/cloudevent/testdata/k8saudit/falco-trace-files/attach_pod.json")
	if code, m := b.call(t, "POST", "/api/v1/ingest/k8saudit?cluster=prod", admin, attach); code != 200 {
		t.Fatalf("push: %d %v", code, m)
	}
	if code, m := b.call(t, "POST", "/api/v1/ingest/nosuch", admin, attach); code != 404 || m["field"] != "source" {
		t.Errorf("push to an unknown source: %d %v", code, m)
	}
	k8s := b.stable(t, bin, 1, "--source", "k8saudit")
	if k8s[0]["rule"] != "Exec or attach into a pod" {
		t.Errorf("k8s detections %v", k8s)
	}
	// Status counts what happened.
	code, st := b.call(t, "GET", "/api/v1/status", viewer, nil)
	if code != 200 || st["detect"].(map[string]any)["cloud_records"].(float64) < 137 {
		t.Errorf("status %d %v", code, st)
	}
	resp, err := http.Get(b.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(metrics, []byte("vigil_backend_detections_total")) {
		t.Error("no detections metric")
	}
	// SIGTERM: a clean stop.
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	if err := b.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, tail(b.stderr.String(), 10))
	}
}

func compactJSON(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeTrail writes n CloudTrail records in the envelope; every hundredth is a
// CreateLoginProfile (a detection each), the others ordinary reads.
func writeTrail(t *testing.T, path string, first, n int) (logins int) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"Records":[`)
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for i := first; i < first+n; i++ {
		if i > first {
			b.WriteByte(',')
		}
		name, req := "DescribeInstances", `{}`
		if i%100 == 0 {
			name, req = "CreateLoginProfile", fmt.Sprintf(`{"userName":"u%d"}`, i)
			logins++
		}
		fmt.Fprintf(&b, `{"eventVersion":"1.09","eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":%q,"eventID":"ev-%07d",`+
			`"awsRegion":"eu-west-1","recipientAccountId":"111122223333","sourceIPAddress":"198.51.100.9","userAgent":"aws-cli/2",`+
			`"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/ops","userName":"ops","accessKeyId":"AKIAOPS"},"requestParameters":%s}`,
			t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339), name, i, req)
	}
	b.WriteString("]}")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return logins
}

func streamMessages(t *testing.T, b *backendProc, token, stream string) float64 {
	t.Helper()
	_, st := b.call(t, "GET", "/api/v1/status", token, nil)
	streams, _ := st["streams"].([]any)
	for _, s := range streams {
		m := s.(map[string]any)
		if m["name"] == stream {
			return m["messages"].(float64)
		}
	}
	return -1
}

// The backend killed in the middle of an ingestion and started again on
// the same data directory: ingesting the file again completes it, and in
// the end every record is stored once and every detection made once.
func TestBackendRestartMidIngestion(t *testing.T) {
	bin := backendBin(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	port := freePort(t)
	b := startBackend(t, bin, data, port, "")
	file := filepath.Join(dir, "trails")
	if err := os.MkdirAll(file, 0o755); err != nil {
		t.Fatal(err)
	}
	logins := 0
	for i := 0; i < 20; i++ {
		logins += writeTrail(t, filepath.Join(file, fmt.Sprintf("trail-%02d.json", i)), i*5000, 5000)
	}
	ing := exec.Command(bin, "ingest", "cloudtrail", "--nats-url", b.nats, file)
	var ingOut bytes.Buffer
	ing.Stdout, ing.Stderr = &ingOut, &ingOut
	if err := ing.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ing.Process.Kill(); _ = ing.Wait() })
	admin := readToken(t, b.token)
	waitFor(t, 60*time.Second, func() bool { return streamMessages(t, b, admin, "VIGIL_CLOUD") > 0 })
	_ = b.cmd.Process.Kill() // a crash, mid-ingestion
	_ = b.cmd.Wait()
	t0 := time.Now()
	_ = ing.Wait()
	t.Logf("ingest exited %s after the crash", time.Since(t0))
	t0 = time.Now()
	defer func() { t.Logf("restart to the end: %s", time.Since(t0)) }()
	t.Logf("interrupted ingest: %s", strings.TrimSpace(ingOut.String()))

	b = startBackend(t, bin, data, port, "")
	before := streamMessages(t, b, admin, "VIGIL_CLOUD")
	out, errOut, code := ingestCmd(t, bin, b.nats, "cloudtrail", file)
	if code != 0 {
		t.Fatalf("second ingest: %s %s", out, errOut)
	}
	t.Logf("stored before the second ingest: %v; second ingest: %s", before, strings.TrimSpace(out))
	// One account: batches of ingest.BatchRecords, cut the same way by both
	// ingestions, so a record stored twice would be a message more.
	if n := streamMessages(t, b, admin, "VIGIL_CLOUD"); n != 100000/ingest.BatchRecords {
		t.Errorf("%v messages stored, want %d (100,000 records)", n, 100000/ingest.BatchRecords)
	}
	if before >= 100000/ingest.BatchRecords {
		t.Errorf("the ingestion was not interrupted (%v stored): the test proves nothing", before)
	}
	dets := b.stable(t, bin, logins, "--rule", "Console password created for a user")
	if len(dets) != logins {
		t.Errorf("%d detections, want %d", len(dets), logins)
	}
	ids := map[string]bool{}
	for _, d := range dets {
		if ids[d["id"].(string)] {
			t.Errorf("detection %s twice", d["id"])
		}
		ids[d["id"].(string)] = true
	}
	if n := streamMessages(t, b, admin, "VIGIL_DETECTIONS"); n != float64(logins) {
		t.Errorf("%v detections stored, want %d", n, logins)
	}
}

// The backend on an external NATS server (Debian's nats-server, out of
// process): streams are created there and detections work the same.
func TestBackendOnExternalNATS(t *testing.T) {
	bin := backendBin(t)
	srvBin := systemNATSServer(t)
	dir := t.TempDir()
	port := freePort(t)
	srv := exec.Command(srvBin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", filepath.Join(dir, "js"))
	var srvLog syncBuffer
	srv.Stderr = &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	b := startBackend(t, bin, filepath.Join(dir, "data"), freePort(t), fmt.Sprintf("nats:\n  url: %s\n  replicas: 1\n", url))
	out, errOut, code := ingestCmd(t, bin, url, "cloudtrail", filepath.Join(stratusDir, "aws.persistence.iam-backdoor-role.json"))
	if code != 0 {
		t.Fatalf("ingest: %s %s", out, errOut)
	}
	dets := b.stable(t, bin, 1, "--source", "cloudtrail")
	if dets[0]["rule"] != "Role trusts another account" {
		t.Errorf("detections %v", dets)
	}
	if !strings.Contains(b.stderr.String(), `"nats":"`+url) {
		t.Errorf("backend does not say it uses %s:\n%s", url, tail(b.stderr.String(), 5))
	}
}

// The real agent delivers to the backend's embedded NATS (no
// configuration on either side but the URL): its alert is listed as a
// runtime detection, unchanged, with the host and process as entities.
func TestAgentAlertBecomesRuntimeDetection(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	port := freePort(t)
	b := startBackend(t, bin, filepath.Join(dir, "data"), port, "")
	cfg := filepath.Join(dir, "agent.yaml")
	conf := fmt.Sprintf("output: none\nalerts: none\nenv: e2e\nstate_dir: %s\nimds:\n  enabled: false\n"+
		"rules:\n  builtin: false\n  paths: [%s]\n  dedup_window: 0s\nnats:\n  url: nats://127.0.0.1:%d\n",
		dir, markerRules(t, dir), port)
	startConfigured(t, bin, cfg, conf)
	m := markers(t)
	runN(t, m["high"], 3)
	dets := b.stable(t, bin, 3, "--source", "runtime")
	if len(dets) != 3 {
		t.Fatalf("%d runtime detections, want 3", len(dets))
	}
	d := dets[0]
	ev, _ := d["evidence"].(map[string]any)
	al, _ := ev["alert"].(map[string]any)
	if d["rule"] != "Marker high" || d["severity"] != "high" || d["env"] != "e2e" || al == nil || al["id"] != d["id"] {
		t.Errorf("runtime detection %v", d)
	}
	kinds := map[string]bool{}
	for _, e := range d["actors"].([]any) {
		kinds[e.(map[string]any)["kind"].(string)] = true
	}
	for _, e := range d["resources"].([]any) {
		kinds[e.(map[string]any)["kind"].(string)] = true
	}
	if !kinds["process"] || !kinds["host"] || !kinds["user"] {
		t.Errorf("entities %v", kinds)
	}
}

// The embedded listener with the NKey user `vigil enroll` prints: that
// host may publish its own alerts (they become detections) and nothing
// else; a client without credentials is refused.
func TestBackendNKeyUsers(t *testing.T) {
	bin := backendBin(t)
	dir := t.TempDir()
	agentCfg := filepath.Join(dir, "agent.yaml")
	_ = os.WriteFile(agentCfg, []byte("env: prod\n"), 0o600)
	out, err := exec.Command(bin, "enroll", "--json", "--config", agentCfg, "--seed", filepath.Join(dir, "h1.nk"), "--host-id", "h1").Output()
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	var e map[string]any
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatal(err)
	}
	entry, _ := json.Marshal(e) // the printed entry, as it is, in backend.yaml (YAML accepts JSON)
	port := freePort(t)
	b := startBackend(t, bin, filepath.Join(dir, "data"), port, "nats:\n  users:\n    - "+string(entry)+"\n")
	opt, err := nats.NkeyOptionFromSeed(filepath.Join(dir, "h1.nk"))
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(b.nats); err == nil {
		nc.Close()
		t.Error("a client without credentials was let in")
	}
	nc, err := nats.Connect(b.nats, opt)
	if err != nil {
		t.Fatalf("the enrolled host cannot connect: %v", err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	al := `{"schema":"vigil.alert/1","id":"nk-1","time":"2026-03-01T10:00:00Z","rule":"Reverse shell","severity":"critical",` +
		`"mitre_tactic":"execution","mitre_technique":"T1059.004","message":"m","description":"d","host":{"name":"h1","id":"h1","env":"prod"},` +
		`"process":{"pid":1,"exe":"/bin/sh","exec_id":"x:1:1"},"container":{"runtime":"host"},"events":[],"action":{"type":"alert"},"rules_version":"v"}`
	if _, err := js.Publish("vigil.prod.alert.h1", []byte(al), nats.MsgId("nk-1")); err != nil {
		t.Fatalf("the host cannot publish its own alert: %v", err)
	}
	if _, err := js.Publish("vigil.prod.alert.other-host", []byte(al), nats.MsgId("nk-2"), nats.AckWait(2*time.Second)); err == nil {
		t.Error("the host published as another host")
	}
	dets := b.stable(t, bin, 1, "--source", "runtime")
	if len(dets) != 1 || dets[0]["id"] != "nk-1" || dets[0]["env"] != "prod" {
		t.Errorf("runtime detections %v", dets)
	}
}

// A drop directory: a CloudTrail file put there is ingested once; after a
// restart it is not ingested again; an appended flow log adds only its new
// lines.
func TestBackendDropDirectory(t *testing.T) {
	bin := backendBin(t)
	dir := t.TempDir()
	ct, flows := filepath.Join(dir, "ct"), filepath.Join(dir, "flows")
	for _, d := range []string{ct, flows} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf("ingest:\n  poll_interval: 200ms\n  dirs:\n    - {path: %s, source: cloudtrail}\n    - {path: %s, source: vpcflow}\n", ct, flows)
	data := filepath.Join(dir, "data")
	port := freePort(t)
	b := startBackend(t, bin, data, port, conf)
	admin := readToken(t, b.token)
	src, _ := os.ReadFile(filepath.Join(stratusDir, "aws.defense-evasion.dns-delete-logs.json"))
	if err := os.WriteFile(filepath.Join(ct, "trail.json"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	line := func(i int) string {
		return fmt.Sprintf("2 111122223333 eni-1 10.0.1.5 45.9.148.99 %d 3333 6 40 9000 1700000000 1700000060 ACCEPT OK\n", 40000+i)
	}
	f, _ := os.Create(filepath.Join(flows, "flows.log"))
	f.WriteString(strings.Join([]string{"version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
		"packets", "bytes", "start", "end", "action", "log-status"}, " ") + "\n" + line(1) + line(2))
	b.stable(t, bin, 3)
	// The trail's record, and the two lines as one batch.
	if n := streamMessages(t, b, admin, "VIGIL_CLOUD"); n != 2 {
		t.Errorf("%v messages stored, want 2", n)
	}
	b.stop()
	b = startBackend(t, bin, data, port, conf)
	f.WriteString(line(3))
	f.Close()
	dets := b.stable(t, bin, 4)
	if n := streamMessages(t, b, admin, "VIGIL_CLOUD"); n != 3 {
		t.Errorf("%v messages stored after the restart and one appended line, want 3", n)
	}
	if len(dets) != 4 {
		t.Errorf("%d detections, want 4", len(dets))
	}
	_, st := b.call(t, "GET", "/api/v1/status", admin, nil)
	if d := st["ingest"].(map[string]any)["dirs"].(map[string]any); d["Duplicates"].(float64) != 0 {
		t.Errorf("the restart repeated records: %v", d)
	}
}
