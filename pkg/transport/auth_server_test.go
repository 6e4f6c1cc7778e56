package transport

import (
	"context"
	"errors"
	"github.com/vigil-sec/vigil/internal/testenv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-sec/vigil/pkg/spool"
)

// An authorized server: an admin that owns the stream, and two enrolled
// hosts confined to their own subjects.
func authServer(t *testing.T, hosts ...Enrollment) *server.Server {
	t.Helper()
	adminKP, _ := nkeys.CreateUser()
	adminPub, _ := adminKP.PublicKey()
	adminSeed, _ := adminKP.Seed()
	users := []*server.NkeyUser{{Nkey: adminPub}}
	for _, h := range hosts {
		users = append(users, &server.NkeyUser{Nkey: h.PublicKey, Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: h.Publish},
			Subscribe: &server.SubjectPermission{Allow: h.Subscribe},
		}})
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), Nkeys: users, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	seedFile := filepath.Join(t.TempDir(), "admin.nk")
	os.WriteFile(seedFile, adminSeed, 0o600)
	opt, _ := nats.NkeyOptionFromSeed(seedFile)
	nc, err := nats.Connect(ns.ClientURL(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "VIGIL", Subjects: StreamSubjects, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestHostsConfinedToTheirSubjects(t *testing.T) {
	dir := t.TempDir()
	h1, err := Enroll("prod", "h1", filepath.Join(dir, "h1.nk"))
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := Enroll("prod", "h2", filepath.Join(dir, "h2.nk"))
	if !strings.Contains(h1.ServerConfig(), h1.PublicKey) || !strings.Contains(h1.ServerConfig(), "vigil.prod.*.h1") {
		t.Errorf("server config:\n%s", h1.ServerConfig())
	}
	if _, err := Enroll("prod", "h1", filepath.Join(dir, "h1.nk")); err == nil {
		t.Error("enrolling over an existing seed was allowed")
	}
	if st, _ := os.Stat(h1.SeedFile); st.Mode().Perm() != 0o600 {
		t.Errorf("seed mode %v", st.Mode())
	}
	ns := authServer(t, h1, h2)

	// h1 publishes its own alerts through the spool and they are acknowledged.
	opts, err := (Auth{NKey: h1.SeedFile}).Options()
	if err != nil {
		t.Fatal(err)
	}
	if pub, last := publishOne(t, Config{URL: ns.ClientURL(), Env: "prod", HostID: "h1", Options: opts}, 10*time.Second); last != "" {
		t.Fatalf("h1's own alert not acknowledged: %d errors, last %s", pub.Stats.Errors.Load(), last)
	}

	// h1 publishing on h2's subject is refused by the server.
	violations := make(chan error, 1)
	nc, err := nats.Connect(ns.ClientURL(), append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case violations <- err:
		default:
		}
	}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	pctx, pcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer pcancel()
	if _, err := js.Publish(pctx, Subject("prod", "alert", "h2"), []byte("{}")); err == nil {
		t.Fatal("h1 published on h2's subject")
	}
	select {
	case err := <-violations:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("unexpected error: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Error("the server reported no permissions violation")
	}
}

// A credential the server does not know: a clear error, and alerts wait in
// the spool.
func TestBadCredentialsKeepAlertsSpooled(t *testing.T) {
	dir := t.TempDir()
	known, _ := Enroll("prod", "h1", filepath.Join(dir, "known.nk"))
	stranger, _ := Enroll("prod", "h9", filepath.Join(dir, "stranger.nk"))
	ns := authServer(t, known)
	sp, _ := spool.Open(t.TempDir(), spool.Options{})
	defer sp.Close()
	opts, _ := (Auth{NKey: stranger.SeedFile}).Options()
	errs := make(chan error, 4)
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	pub, err := Connect(Config{URL: ns.ClientURL(), Env: "prod", HostID: "h9", Options: opts}, sp, zaptest.NewLogger(t))
	if err != nil {
		if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Fatalf("unclear error: %v", err)
		}
		return
	}
	defer pub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pub.Run(ctx)
	sp.Append(5, "c1", Subject("prod", "alert", "h9"), []byte("{}"))
	pub.Notify()
	time.Sleep(2 * time.Second)
	if sp.Stats().Records != 1 {
		t.Errorf("the alert left the spool without delivery")
	}
	if pub.Connected() {
		t.Error("connected with unknown credentials")
	}
	last := pub.nc.LastError()
	if last == nil || !errors.Is(last, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(last.Error()), "authorization") {
		t.Errorf("last error %v, want an authorization error", last)
	}
}

// A CA that did not sign the server's certificate: a clear TLS error, and
// the alert waits in the spool; the right CA delivers it.
func TestBadTLSKeepsAlertsSpooled(t *testing.T) {
	dir := t.TempDir()
	srvCert := testenv.WriteCert(t, dir, "server", nil, true)
	cert, key := srvCert.CertFile, srvCert.KeyFile
	wrongCA := testenv.WriteCert(t, dir, "other", nil, true).CertFile
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cert, KeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), TLS: true, TLSConfig: tc, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	url := strings.Replace(ns.ClientURL(), "nats://", "tls://", 1)
	sp, _ := spool.Open(t.TempDir(), spool.Options{})
	defer sp.Close()
	opts, _ := (Auth{CA: wrongCA}).Options()
	pub, err := Connect(Config{URL: url, Env: "prod", HostID: "h1", Options: opts, CreateStream: true}, sp, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go pub.Run(ctx)
	sp.Append(5, "t1", Subject("prod", "alert", "h1"), []byte("{}"))
	time.Sleep(2 * time.Second)
	last := pub.nc.LastError()
	if pub.Connected() || sp.Stats().Records != 1 || last == nil || !strings.Contains(last.Error(), "certificate") {
		t.Fatalf("connected=%v spooled=%d last=%v", pub.Connected(), sp.Stats().Records, last)
	}
	cancel()
	pub.Close()

	opts, _ = (Auth{CA: cert}).Options()
	pub, err = Connect(Config{URL: url, Env: "prod", HostID: "h1", Options: opts, CreateStream: true}, sp, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go pub.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for sp.Stats().Records > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if sp.Stats().Records != 0 {
		t.Fatal("the spooled alert was not delivered once TLS was right")
	}
}

// create_stream: true with the confined user `vigil enroll` prints: the
// server refuses the stream request; the agent says so and delivers to the
// existing stream (it used to retry the creation for ever, delivering
// nothing).
func TestCreateStreamRefusedDeliversToExistingStream(t *testing.T) {
	h1, err := Enroll("prod", "h1", filepath.Join(t.TempDir(), "h1.nk"))
	if err != nil {
		t.Fatal(err)
	}
	ns := authServer(t, h1)
	opts, _ := (Auth{NKey: h1.SeedFile}).Options()
	pub, last := publishOne(t, Config{URL: ns.ClientURL(), Env: "prod", HostID: "h1", Options: opts, CreateStream: true, AckTimeout: 2 * time.Second}, 20*time.Second)
	if last != "" {
		t.Fatalf("not delivered with create_stream refused: %s", last)
	}
	if note := pub.Stats.StreamNote(); !strings.Contains(note, "refused") || !strings.Contains(note, "VIGIL") {
		t.Errorf("note %q", note)
	}
}

// publishOne spools one alert of cfg.HostID, runs a publisher until it is
// acknowledged or wait passes, and returns the publisher and, when the
// alert was not acknowledged, the last error.
func publishOne(t *testing.T, cfg Config, wait time.Duration) (*Publisher, string) {
	t.Helper()
	sp, _ := spool.Open(t.TempDir(), spool.Options{})
	t.Cleanup(func() { sp.Close() })
	pub, err := Connect(cfg, sp, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); pub.Close() })
	go pub.Run(ctx)
	sp.Append(4, "a1", Subject(cfg.Env, "alert", cfg.HostID), []byte("{}"))
	pub.Notify()
	deadline := time.Now().Add(wait)
	for sp.Stats().Records > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if sp.Stats().Records == 0 {
		return pub, ""
	}
	last, _ := pub.Stats.LastError()
	return pub, "unacknowledged: " + last
}
