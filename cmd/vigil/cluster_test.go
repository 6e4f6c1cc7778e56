package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
	srvBin, err := exec.LookPath("nats-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("nats-server is not installed (make deps installs it)")
		}
		t.Skip("nats-server not installed")
	}
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

// leading tells whether a backend holds the correlation's lease.
func (b *backendProc) leading(t *testing.T) bool {
	t.Helper()
	tok, err := os.ReadFile(b.token)
	if err != nil {
		return false
	}
	req, _ := http.NewRequest("GET", b.api+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var st struct {
		Correlate struct{ Leading bool } `json:"correlate"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return st.Correlate.Leading
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
	first := leader.waitThreat(t, bin, "Access key created for another user")
	if len(first) != 1 {
		t.Fatalf("%d threats", len(first))
	}
	// The leader backend dies (no release: the standby waits out the
	// lease) and so does a NATS node.
	_ = leader.cmd.Process.Signal(syscall.SIGKILL)
	_ = leader.cmd.Wait()
	nodes[0].kill()
	ingest(iamRecord("iam-2", "CreateLoginProfile", now.Add(time.Minute)), iamRecord("iam-1", "CreateAccessKey", now)) // and a duplicate
	got := standby.waitThreat(t, bin, "Access key created for another user", "Console password created for a user")
	if len(got) != 1 || got[0].ID != first[0].ID || len(got[0].Timeline) != 2 {
		t.Fatalf("threats after failover: %+v", got)
	}
	if !standby.leading(t) {
		t.Error("the standby does not lead")
	}
	if dets := standby.stable(t, bin, 2, "--source", "cloudtrail"); len(dets) != 2 {
		t.Errorf("%d detections, want 2 (none lost, none twice)", len(dets))
	}
}
