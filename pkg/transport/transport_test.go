package transport

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-sec/vigil/pkg/spool"
)

const helperEnv = "VIGIL_NATS_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		runServer(spec) // never returns
	}
	os.Exit(m.Run())
}

// runServer runs a JetStream server on "port:storeDir" until killed.
func runServer(spec string) {
	var port int
	var dir string
	fmt.Sscanf(spec, "%d:%s", &port, &dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		os.Exit(1)
	}
	select {}
}

// external is an out-of-process server the test stops and starts.
type external struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (x *external) start() {
	x.t.Helper()
	x.cmd = exec.Command(os.Args[0])
	x.cmd.Env = append(os.Environ(), helperEnv+"="+strconv.Itoa(x.port)+":"+x.dir)
	if err := x.cmd.Start(); err != nil {
		x.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", x.port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	x.t.Fatal("external nats-server did not start")
}

func (x *external) kill() {
	_ = x.cmd.Process.Signal(syscall.SIGKILL)
	_ = x.cmd.Wait()
}

func (x *external) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", x.port) }

// streamIDs reads every message id in the stream.
func streamIDs(t *testing.T, url string) map[string]int {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "VIGIL")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for i := uint64(0); i < info.State.Msgs; i++ {
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ids[m.Headers().Get(jetstream.MsgIDHeader)]++
	}
	return ids
}

type agent struct {
	sp     *spool.Spool
	pub    *Publisher
	cancel context.CancelFunc
	done   chan struct{}
}

func startAgent(t *testing.T, url, spoolDir string) *agent {
	t.Helper()
	sp, err := spool.Open(spoolDir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := Connect(Config{URL: url, Env: "test", HostID: "h1", CreateStream: true}, sp, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &agent{sp: sp, pub: pub, cancel: cancel, done: make(chan struct{})}
	go func() { pub.Run(ctx); close(a.done) }()
	return a
}

func (a *agent) stop() {
	a.cancel()
	<-a.done
	a.pub.Close()
	a.sp.Close()
}

func (a *agent) emit(t *testing.T, i int) string {
	id := fmt.Sprintf("alert-%06d", i)
	if _, err := a.sp.Append(4, id, Subject("test", "alert", "h1"), []byte(`{"id":"`+id+`"}`)); err != nil {
		t.Fatal(err)
	}
	a.pub.Notify()
	return id
}

func waitDrained(t *testing.T, a *agent, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if a.sp.Stats().Records == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("spool not drained: %+v", a.sp.Stats())
}

func checkExactlyOnce(t *testing.T, url string, want []string) {
	t.Helper()
	got := streamIDs(t, url)
	if len(got) != len(want) {
		t.Errorf("stream holds %d distinct ids, %d were sent", len(got), len(want))
	}
	for _, id := range want {
		switch got[id] {
		case 1:
		case 0:
			t.Errorf("%s missing", id)
		default:
			t.Errorf("%s stored %d times", id, got[id])
		}
	}
}

// embedded starts an in-process JetStream server, shut down with the test.
func embedded(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	return ns
}

func TestEmbeddedDelivery(t *testing.T) {
	ns := embedded(t)
	a := startAgent(t, ns.ClientURL(), t.TempDir())
	defer a.stop()
	var want []string
	for i := 0; i < 2000; i++ {
		want = append(want, a.emit(t, i))
	}
	waitDrained(t, a, 30*time.Second)
	checkExactlyOnce(t, ns.ClientURL(), want)
}

func outage() time.Duration {
	if v := os.Getenv("VIGIL_OUTAGE"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return 60 * time.Second
}

// Alerts generated continuously while the server is down for the outage
// all reach the stream exactly once after it returns; with restartAgent the
// agent is also stopped and started again mid-outage.
func runOutage(t *testing.T, restartAgent bool) {
	x := &external{t: t, port: freePort(t), dir: t.TempDir()}
	x.start()
	defer x.kill()
	spoolDir := t.TempDir()
	a := startAgent(t, x.url(), spoolDir)
	var mu sync.Mutex
	var want []string
	emit := func(i int) {
		mu.Lock()
		defer mu.Unlock()
		want = append(want, a.emit(t, i))
	}
	i := 0
	for ; i < 200; i++ { // before the outage
		emit(i)
	}
	time.Sleep(500 * time.Millisecond)
	x.kill()
	start := time.Now()
	restarted := false
	for time.Since(start) < outage() {
		emit(i)
		i++
		if restartAgent && !restarted && time.Since(start) > outage()/2 {
			a.stop()
			a = startAgent(t, x.url(), spoolDir)
			restarted = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d alerts during a %v outage; spool %+v", i-200, outage(), a.sp.Stats())
	x.start()
	for j := 0; j < 100; j++ { // after
		emit(i)
		i++
	}
	waitDrained(t, a, 60*time.Second)
	a.stop()
	checkExactlyOnce(t, x.url(), want)
}

func TestOutageExactlyOnce(t *testing.T)                 { runOutage(t, false) }
func TestOutageWithAgentRestartExactlyOnce(t *testing.T) { runOutage(t, true) }
