package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/wire"
)

// natsNode is one nats-server of a test cluster.
type natsNode struct {
	cmd      *exec.Cmd
	url, mon string
	log      *syncBuffer
	killed   bool
}

// natsCluster starts three nats-server processes on loopback ports as one
// JetStream cluster and waits until it is healthy.
func natsCluster(t *testing.T, dir string) []*natsNode {
	t.Helper()
	return natsClusterOf(t, dir, systemNATSServer(t))
}

// natsClusterOf is natsCluster with the given nats-server binary.
func natsClusterOf(t *testing.T, dir, srvBin string) []*natsNode {
	t.Helper()
	var client, route, mon [3]int
	for i := range client {
		client[i], route[i], mon[i] = freePort(t), freePort(t), freePort(t)
	}
	var routes []string
	for _, p := range route {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	nodes := make([]*natsNode, 3)
	for i := range nodes {
		conf := fmt.Sprintf("server_name: n%d\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\njetstream {\n  store_dir: %q\n}\n"+
			"cluster {\n  name: vigil\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n",
			i+1, client[i], mon[i], filepath.Join(dir, fmt.Sprint("n", i+1)), route[i], strings.Join(routes, ", "))
		cf := filepath.Join(dir, fmt.Sprintf("n%d.conf", i+1))
		if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		n := &natsNode{cmd: exec.Command(srvBin, "-c", cf), url: fmt.Sprintf("nats://127.0.0.1:%d", client[i]),
			mon: fmt.Sprintf("http://127.0.0.1:%d", mon[i]), log: &syncBuffer{}}
		n.cmd.Stderr = n.log
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		nodes[i] = n
		t.Cleanup(func() { n.kill() })
	}
	waitFor(t, 60*time.Second, func() bool {
		for _, n := range nodes {
			resp, err := http.Get(n.mon + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return false
			}
		}
		return true
	})
	return nodes
}

var recentServer struct {
	once sync.Once
	path string
	err  error
}

// recentNATSServer is a nats-server binary of the version the backend
// embeds (2.10 or later: subject transforms, for partitions), built from
// the module; Debian's is 2.9.
func recentNATSServer(t *testing.T) string {
	t.Helper()
	recentServer.once.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-nats-server-")
		if err != nil {
			recentServer.err = err
			return
		}
		recentServer.path = filepath.Join(dir, "nats-server")
		out, err := exec.Command("go", "build", "-o", recentServer.path, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			recentServer.err = fmt.Errorf("go build nats-server: %v\n%s", err, out)
		}
	})
	if recentServer.err != nil {
		t.Fatal(recentServer.err)
	}
	return recentServer.path
}

// joinSetup is where a join test runs: b is the backend the test asks and
// delivers to (b.nats), restart restarts it with its data.
type joinSetup struct {
	b       *backendProc
	restart func() *backendProc
}

// joinConf is the backend configuration of the join tests: the cluster
// prod is in account 111122223333.
const joinConf = "correlation:\n  cluster_accounts: {prod: \"111122223333\"}\n"

// joinSetups runs a join test against one backend with its embedded NATS,
// and against a 3-node NATS cluster (R3 streams and buckets) with two
// backends sharing 4 correlation partitions: the test asks the one that
// was started first, whichever partitions it owns.
func joinSetups(t *testing.T, fn func(*testing.T, *joinSetup)) {
	t.Run("embedded", func(t *testing.T) {
		bin := backendBin(t)
		data, port := filepath.Join(t.TempDir(), "data"), freePort(t)
		s := &joinSetup{b: startBackend(t, bin, data, port, joinConf)}
		s.restart = func() *backendProc {
			s.b.stop()
			s.b = startBackend(t, bin, data, port, joinConf)
			return s.b
		}
		fn(t, s)
	})
	t.Run("cluster", func(t *testing.T) {
		bin := backendBin(t)
		dir := t.TempDir()
		nodes := natsClusterOf(t, dir, recentNATSServer(t))
		url := clusterURL(nodes)
		conf := fmt.Sprintf("nats:\n  url: %s\n%s  partitions: 4\n", url, joinConf)
		start := func(name string) *backendProc {
			b := startBackend(t, bin, filepath.Join(dir, name), freePort(t), conf)
			b.nats = url
			return b
		}
		a := start("a")
		other := start("b")
		other.token = a.token
		// Both correlate: the partitions are shared.
		waitFor(t, 60*time.Second, func() bool {
			return len(a.held(t)) > 0 && len(other.held(t)) > 0 && len(a.held(t))+len(other.held(t)) == 4
		})
		s := &joinSetup{b: a}
		s.restart = func() *backendProc {
			s.b.stop()
			s.b = start("a")
			s.b.token = other.token
			return s.b
		}
		fn(t, s)
	})
}

// correlation is what a backend says of its correlation: whether it
// correlates, and the partitions it owns.
func (b *backendProc) correlation(t *testing.T) (leading bool, held []int) {
	t.Helper()
	tok, err := os.ReadFile(b.token)
	if err != nil {
		return false, nil
	}
	req, _ := http.NewRequest("GET", b.api+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, nil
	}
	defer resp.Body.Close()
	var st struct {
		Correlate struct {
			Leading bool  `json:"leading"`
			Held    []int `json:"partitions_held"`
		} `json:"correlate"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return st.Correlate.Leading, st.Correlate.Held
}

// held lists the correlation partitions a backend owns.
func (b *backendProc) held(t *testing.T) []int {
	t.Helper()
	_, h := b.correlation(t)
	return h
}

// leading tells whether a backend correlates (holds a lease).
func (b *backendProc) leading(t *testing.T) bool {
	t.Helper()
	l, _ := b.correlation(t)
	return l
}

// systemNATSServer is Debian's nats-server (make deps installs it).
func systemNATSServer(t *testing.T) string {
	t.Helper()
	srvBin, err := exec.LookPath("nats-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("nats-server is not installed (make deps installs it)")
		}
		t.Skip("nats-server not installed")
	}
	return srvBin
}

func (n *natsNode) kill() {
	if !n.killed && n.cmd.Process != nil {
		n.killed = true
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
	}
}

func clusterURL(nodes []*natsNode) string {
	var urls []string
	for _, n := range nodes {
		if !n.killed {
			urls = append(urls, n.url)
		}
	}
	return strings.Join(urls, ",")
}

func iamRecord(id, event string, at time.Time) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":%q,"eventID":%q,`+
		`"awsRegion":"us-east-1","recipientAccountId":"111122223333","sourceIPAddress":"198.51.100.40","userAgent":"aws-cli/2.15",`+
		`"userIdentity":{"type":"IAMUser","principalId":"AIDAM","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","accessKeyId":"AKIAMALLORY","userName":"mallory"},`+
		`"requestParameters":{"userName":"bob"},"responseElements":null}`, at.Format(time.RFC3339), event, id)
}

// Scale-out on a 3-node NATS cluster (three nats-server processes, R3
// streams and buckets) with two backend instances: one correlates at a
// time (the lease); the leader backend and one NATS node are killed in the
// middle of a join; the other instance takes over from the stored threats,
// and the join still gives exactly one threat, nothing lost or duplicated.
func TestClusterFailoverKeepsOneThreat(t *testing.T) {
	bin := backendBin(t)
	dir := t.TempDir()
	nodes := natsCluster(t, dir)
	conf := fmt.Sprintf("nats:\n  url: %s\n", clusterURL(nodes))
	bA := startBackend(t, bin, filepath.Join(dir, "a"), freePort(t), conf)
	bB := startBackend(t, bin, filepath.Join(dir, "b"), freePort(t), conf)
	// Both use the cluster's token bucket: A's admin token works on B.
	bB.token = bA.token
	waitFor(t, 30*time.Second, func() bool { return bA.leading(t) != bB.leading(t) })
	leader, standby := bA, bB
	if bB.leading(t) {
		leader, standby = bB, bA
	}
	// The leader backend dies (no release: the standby waits out the
	// lease) and so does a NATS node.
	failoverJoin(t, bin, dir, nodes, leader, standby)
	if !standby.leading(t) {
		t.Error("the standby does not lead")
	}
}

// failoverJoin runs a principal's join (two IAM detections of mallory)
// across a failure: the first detection makes a threat that survivor
// sees; victim (a backend) and the first NATS node are SIGKILLed; the
// second detection and a duplicate of the first are ingested; survivor
// must show one threat with both, each detection stored once.
func failoverJoin(t *testing.T, bin, dir string, nodes []*natsNode, victim, survivor *backendProc) {
	t.Helper()
	now := time.Now().UTC()
	ingest := func(lines ...string) {
		t.Helper()
		f := filepath.Join(dir, fmt.Sprintf("trail-%d.json", time.Now().UnixNano()))
		if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "ingest", "cloudtrail", "--nats-url", clusterURL(nodes), f).CombinedOutput(); err != nil {
			t.Fatalf("ingest: %v\n%s", err, out)
		}
	}
	ingest(iamRecord("iam-1", "CreateAccessKey", now))
	first := survivor.waitThreat(t, bin, "Access key created for another user")
	if len(first) != 1 {
		t.Fatalf("%d threats", len(first))
	}
	_ = victim.cmd.Process.Signal(syscall.SIGKILL)
	_ = victim.cmd.Wait()
	nodes[0].kill()
	ingest(iamRecord("iam-2", "CreateLoginProfile", now.Add(time.Minute)), iamRecord("iam-1", "CreateAccessKey", now)) // and a duplicate
	got := survivor.waitThreat(t, bin, "Access key created for another user", "Console password created for a user")
	if len(got) != 1 || got[0].ID != first[0].ID || len(got[0].Timeline) != 2 {
		t.Fatalf("threats after failover: %+v", got)
	}
	if dets := survivor.stable(t, bin, 2, "--source", "cloudtrail"); len(dets) != 2 {
		t.Errorf("%d detections, want 2 (none lost, none twice)", len(dets))
	}
}

// The same with 4 partitions on a recent nats-server cluster: both
// backends correlate their share; the owner of the join's partition (the
// account's) and a NATS node are killed mid-join; the survivor takes the
// partition over and the join still gives one threat, nothing lost or
// duplicated.
func TestClusterPartitionOwnerFailover(t *testing.T) {
	bin := backendBin(t)
	dir := t.TempDir()
	nodes := natsClusterOf(t, dir, recentNATSServer(t))
	conf := fmt.Sprintf("nats:\n  url: %s\ncorrelation:\n  partitions: 4\n", clusterURL(nodes))
	bA := startBackend(t, bin, filepath.Join(dir, "a"), freePort(t), conf)
	bB := startBackend(t, bin, filepath.Join(dir, "b"), freePort(t), conf)
	bB.token = bA.token
	part := wire.PartitionOf("111122223333", 4)
	waitFor(t, 60*time.Second, func() bool {
		a, b := bA.held(t), bB.held(t)
		return len(a) > 0 && len(b) > 0 && len(a)+len(b) == 4 && slices.Contains(a, part) != slices.Contains(b, part)
	})
	owner, other := bA, bB
	if slices.Contains(bB.held(t), part) {
		owner, other = bB, bA
	}
	failoverJoin(t, bin, dir, nodes, owner, other)
	waitFor(t, 60*time.Second, func() bool { return len(other.held(t)) == 4 })
}

// Partitions need stream subject transforms: against nats-server 2.9 the
// backend refuses to start, saying why, instead of correlating nothing.
func TestPartitionsNeedARecentServer(t *testing.T) {
	bin := backendBin(t)
	srvBin := systemNATSServer(t)
	out, _ := exec.Command(srvBin, "--version").CombinedOutput()
	if !strings.Contains(string(out), "v2.9.") {
		t.Skipf("the system nats-server is %s, not 2.9", strings.TrimSpace(string(out)))
	}
	dir := t.TempDir()
	port := freePort(t)
	srv := exec.Command(srvBin, "-js", "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-sd", dir)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	waitFor(t, 30*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	cfg := filepath.Join(dir, "backend.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("nats:\n  url: nats://127.0.0.1:%d\n  replicas: 1\ncorrelation:\n  partitions: 4\n", port)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "backend", "--config", cfg, "--data-dir", filepath.Join(dir, "data"), "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	done := make(chan []byte, 1)
	go func() { b, _ := cmd.CombinedOutput(); done <- b }()
	select {
	case b := <-done:
		if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(b), "correlation.partitions above 1 needs nats-server 2.10") {
			t.Errorf("exit %d:\n%s", cmd.ProcessState.ExitCode(), b)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the backend did not stop")
	}
}
