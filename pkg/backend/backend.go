// Package backend wires the backend service: the bus (embedded NATS or an
// external cluster), the streams and buckets (pkg/backend/store), the
// detection stage over cloud records and agents' alerts, the drop-directory
// watcher, the detection index and the HTTP API.
package backend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/backend/api"
	"github.com/vigil-sec/vigil/pkg/backend/bus"
	"github.com/vigil-sec/vigil/pkg/backend/detect"
	"github.com/vigil-sec/vigil/pkg/backend/index"
	"github.com/vigil-sec/vigil/pkg/backend/ingest"
	"github.com/vigil-sec/vigil/pkg/backend/lease"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/backend/threat"
	"github.com/vigil-sec/vigil/pkg/backend/ui"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/correlate"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/cloud"
	"github.com/vigil-sec/vigil/pkg/version"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// AdminTokenFile is where the first admin token is written, in the data
// directory.
const AdminTokenFile = "admin.token"

// Backend is a running backend.
type Backend struct {
	cfg     config.Backend
	log     *zap.Logger
	bus     *bus.Bus
	conn    *store.Conn
	rules   *cloud.Ruleset
	listed  []api.RuleInfo // every rule known, for the rules page
	stage   *detect.Stage
	index   *index.Index
	threats *threat.Stage
	view    *threat.View
	watcher *ingest.Watcher
	pushed  ingest.Summary
	pushMu  sync.Mutex
	started time.Time
	httpLn  net.Listener
	natsURL string
	routing *routing
	fleet   fleetState
}

// LoadRules compiles the backend's cloud rules.
func LoadRules(cfg config.Backend) (*cloud.Ruleset, error) {
	// rules.Load names a missing path, but for the default local directory.
	return cloud.LoadAndCompile(rules.Sources{Builtin: cfg.Rules.Builtin, VendorDir: rules.DefaultVendorDir, Paths: cfg.Rules.Paths})
}

// Start brings the backend up: when it returns, the bus, the streams, the
// consumers and the API are serving.
func Start(ctx context.Context, cfg config.Backend, log *zap.Logger) (*Backend, error) {
	b := &Backend{cfg: cfg, log: log, index: index.New(0), started: time.Now()}
	rs, err := LoadRules(cfg)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	b.rules = rs
	// The same sources again, every rule (host rules too) for the UI.
	if set, err := rules.Load(rules.Sources{Builtin: cfg.Rules.Builtin, VendorDir: rules.DefaultVendorDir, Paths: cfg.Rules.Paths}); err == nil {
		for _, r := range set.Rules {
			b.listed = append(b.listed, api.RuleInfo{Name: r.Name, Source: r.Source, Severity: r.Severity, Tactic: r.Tactic,
				Technique: r.Technique, Enabled: r.Enabled, Desc: r.Desc})
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := b.newRouting(); err != nil {
		return nil, err
	}
	so := store.Options{Name: "vigil backend", URL: cfg.NATS.URL, Creds: cfg.NATS.Creds, NKeySeed: cfg.NATS.NKeySeed,
		CAFile: cfg.NATS.CAFile, CertFile: cfg.NATS.CertFile, KeyFile: cfg.NATS.KeyFile, Wait: 30 * time.Second,
		EnsureWait: 2 * time.Minute}
	if err := b.loadIssuer(); err != nil {
		b.routing.close()
		return nil, fmt.Errorf("enrollment: %w", err)
	}
	if cfg.Embedded() {
		tlsCfg, err := serverTLS(cfg.NATS.TLS)
		if err != nil {
			b.routing.close()
			return nil, err
		}
		var users []bus.User
		for _, u := range cfg.NATS.Users {
			users = append(users, bus.User{NKey: u.NKey, Publish: u.Publish, Subscribe: u.Subscribe})
		}
		b.bus, err = bus.Start(bus.Options{StoreDir: filepath.Join(cfg.DataDir, "jetstream"), Listen: cfg.NATS.Listen, TLS: tlsCfg,
			Users: users, Anonymous: cfg.Anonymous(), CalloutIssuer: b.issuerPublicKey()}, log.Named("nats"))
		if err != nil {
			b.routing.close()
			return nil, err
		}
		// In process there is no TLS to do (the server offers it, does not
		// require it): a tls:// URL would make the client insist.
		so.URL, so.InProcess = strings.Replace(b.bus.ClientURL(), "tls://", "nats://", 1), b.bus
		so.User, so.Password = b.bus.Credentials()
		b.natsURL = b.bus.ClientURL()
		log.Info("embedded nats listening", zap.String("addr", b.bus.Addr().String()), zap.Bool("anonymous", cfg.Anonymous()),
			zap.Int("nkey_users", len(users)), zap.Bool("tls", tlsCfg != nil))
	} else {
		b.natsURL = wire.RedactURL(cfg.NATS.URL)
	}
	if b.conn, err = store.Connect(ctx, so, log.Named("store")); err != nil {
		b.routing.close()
		b.stopBus()
		return nil, err
	}
	if err := b.ensure(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func serverTLS(t config.BackendTLS) (*tls.Config, error) {
	if t.CertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("nats.tls: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("nats.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("nats.tls.ca_file %s: no certificates", t.CAFile)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// Streams are the streams the backend uses, with the configured limits.
func Streams(cfg config.Backend) []wire.StreamSpec {
	r := cfg.Replicas()
	agent := wire.AgentStream("")
	agent.MaxAge, agent.MaxBytes, agent.Replicas = cfg.Retention.Agent.MaxAge, cfg.Retention.Agent.MaxBytes, r
	return []wire.StreamSpec{agent,
		wire.CloudStreamSpec(cfg.Retention.Cloud.MaxAge, cfg.Retention.Cloud.MaxBytes, r, cfg.Correlation.Partitions),
		wire.DetectionStreamSpec(cfg.Retention.Detections.MaxAge, cfg.Retention.Detections.MaxBytes, r, cfg.Correlation.Partitions),
		wire.DeadLetterStreamSpec(cfg.Retention.DeadLetters.MaxAge, cfg.Retention.DeadLetters.MaxBytes, r)}
}

// ensure creates or updates every stream, consumer and bucket.
func (b *Backend) ensure(ctx context.Context) error {
	for _, s := range Streams(b.cfg) {
		if err := b.conn.EnsureStream(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// Run serves until ctx ends, then stops gracefully: the HTTP server drains,
// consumers finish and ack their batch (or leave it for redelivery), the
// bus flushes to disk. ready is called once everything serves.
func (b *Backend) Run(ctx context.Context, ready func()) error {
	tokKV, err := b.conn.EnsureKV(ctx, wire.TokenBucket, b.cfg.Replicas())
	if err != nil {
		return err
	}
	offKV, err := b.conn.EnsureKV(ctx, wire.IngestBucket, b.cfg.Replicas())
	if err != nil {
		return err
	}
	tokens := api.NewTokens(tokKV)
	tokPath := filepath.Join(b.cfg.DataDir, AdminTokenFile)
	created, err := tokens.EnsureAdmin(ctx, tokPath)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	if created {
		b.log.Info("admin token written", zap.String("file", tokPath))
	}
	thrKV, err := b.conn.EnsureKV(ctx, wire.ThreatBucket, b.cfg.Replicas())
	if err != nil {
		return err
	}
	b.stage = detect.New(b.rules, b.conn, b.log.Named("detect"))
	cc := b.cfg.Correlation
	b.stage.ClusterAccounts = cc.ClusterAccounts
	graph := correlate.NewGraph()
	newEngine := func() *correlate.Engine {
		return correlate.New(correlate.Config{Window: cc.Window, Retention: cc.Retention, CrownJewels: cc.CrownJewels, Graph: graph}, nil)
	}
	// Standbys until this instance holds a partition's lease.
	b.threats = threat.New(cc.Partitions, newEngine, thrKV, b.conn, b.log.Named("correlate"))
	b.view = threat.NewView(thrKV)
	// Every stored threat reaches the engine: an analyst's triage as it
	// happens (a term starts from all of them).
	b.view.OnChange = b.threats.Stored
	var wg sync.WaitGroup
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	stageErr := make(chan error, 8)
	// A stage that cannot run (a consumer the server refuses) stops the
	// backend with its error: it must not serve while blind.
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(work); err != nil && work.Err() == nil {
				stageErr <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	if err := b.startFleet(ctx, run); err != nil {
		stopWork()
		wg.Wait()
		return err
	}
	run("index", func(c context.Context) error {
		return b.conn.Follow(c, wire.DetectionStream, "", time.Time{}, func(m store.Msg) { b.index.Add(m.Data) })
	})
	viewReady := make(chan struct{})
	run("threats", func(c context.Context) error {
		return thrKV.Watch(c, b.view.Put, func() { close(viewReady) })
	})
	select {
	case <-viewReady:
	case err := <-stageErr:
		stopWork()
		wg.Wait()
		return err
	case <-ctx.Done():
		stopWork()
		wg.Wait()
		return nil
	}
	var leaseKV *store.KV
	if cc.Enabled || len(b.cfg.Outputs) > 0 {
		if leaseKV, err = b.conn.EnsureKV(ctx, wire.LeaseBucket, b.cfg.Replicas()); err != nil {
			stopWork()
			wg.Wait()
			return err
		}
	}
	if err := b.startRouting(ctx, leaseKV, run); err != nil {
		stopWork()
		wg.Wait()
		return err
	}
	if cc.Enabled {
		// Every instance keeps the entity graph and the sensor inventory;
		// one at a time correlates (the lease), from the stored threats.
		run("heartbeats", func(c context.Context) error {
			return b.conn.Follow(c, wire.DefaultAgentStream, wire.AnyHost(wire.KindHeartbeat), time.Now().Add(-cc.Retention), b.threats.Heartbeat)
		})
		host, _ := os.Hostname()
		g := &lease.Group{KV: leaseKV, Key: "correlation", N: cc.Partitions, Owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), b.natsURL),
			TTL: LeaseTTL, Log: b.log.Named("correlate")}
		run("correlation", func(c context.Context) error {
			return g.Run(c, func(lc context.Context, k int) error { return b.correlate(lc, k, newEngine()) })
		})
	}
	run("detect-cloud", func(c context.Context) error {
		return b.conn.Consume(c, store.ConsumerSpec{Stream: wire.CloudStream, Durable: wire.CloudConsumer, Batch: cloudBatch}, b.stage.CloudBatch)
	})
	run("detect-runtime", func(c context.Context) error {
		return b.conn.Consume(c, store.ConsumerSpec{Stream: wire.DefaultAgentStream, Durable: wire.RuntimeConsumer,
			Filter: wire.AnyHost(wire.KindAlert)}, b.stage.AlertBatch)
	})
	if len(b.cfg.Ingest.Dirs) > 0 {
		b.watcher = &ingest.Watcher{Pub: b.conn, Journal: offKV, Env: b.cfg.Env, Interval: b.cfg.Ingest.PollInterval, Log: b.log.Named("ingest")}
		for _, d := range b.cfg.Ingest.Dirs {
			dir := ingest.Dir{Path: d.Path, Source: d.Source, Cluster: d.Cluster}
			if d.Format != "" {
				dir.Format, _ = cloudevent.ParseFlowFormat(d.Format)
			}
			b.watcher.Dirs = append(b.watcher.Dirs, dir)
		}
		run("ingest-dirs", func(c context.Context) error { b.watcher.Run(c); return nil })
	}
	sessKV, err := b.conn.EnsureKVTTL(ctx, wire.SessionBucket, b.cfg.Replicas(), b.cfg.UI.SessionTTL)
	if err != nil {
		stopWork()
		wg.Wait()
		return err
	}
	var users []api.User
	for _, u := range b.cfg.UI.Users {
		users = append(users, api.User{Name: u.Name, Role: u.Role, Hash: u.PasswordHash})
	}
	srv := &api.Server{Index: b.index, Threats: b.view, Sensors: b.threats.Sensors, Tokens: tokens, Ingest: b, Status: b.status, Healthy: b.healthy,
		Metrics: b.metrics(), MaxBody: b.cfg.Ingest.MaxBodyBytes, Sessions: &api.Sessions{KV: sessKV, TTL: b.cfg.UI.SessionTTL},
		Users: api.NewUsers(users), UI: ui.Handler(), Rules: b.listed, Outputs: b.outputs, Fleet: b.fleetAPI()}
	ln, err := net.Listen("tcp", b.cfg.Listen)
	if err != nil {
		stopWork()
		wg.Wait()
		return fmt.Errorf("listen %s: %w", b.cfg.Listen, err)
	}
	b.httpLn = ln
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute,
		ErrorLog: zap.NewStdLog(b.log.Named("http"))}
	hs.RegisterOnShutdown(srv.CloseStreams)
	httpErr := make(chan error, 1)
	go func() { httpErr <- hs.Serve(ln) }()
	b.log.Info("backend serving", zap.String("api", "http://"+ln.Addr().String()), zap.String("nats", b.natsURL),
		zap.Int("cloud_rules", len(b.rules.Rules)), zap.String("rules_version", b.rules.Version), zap.String("version", version.Version))
	if ready != nil {
		ready()
	}
	select {
	case <-ctx.Done():
	case err = <-httpErr:
		err = fmt.Errorf("http server: %w", err)
	case err = <-stageErr:
	}
	b.log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
	defer cancel()
	_ = hs.Shutdown(sctx)
	stopWork()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		b.log.Warn("stages still busy at the shutdown timeout: unacked messages will be redelivered")
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// LeaseTTL is how long a correlation leader that stopped renewing (a
// crash) keeps the lease before a standby takes over.
var LeaseTTL = 10 * time.Second

// correlate runs one term of the correlation while this instance holds the
// lease: a fresh engine restored from the stored threats, the consumers of
// detections and cloud records, and the sensors' silence check.
func (b *Backend) correlate(parent context.Context, k int, e *correlate.Engine) error {
	term := b.threats.Term(k)
	term.Begin(e, b.view.All())
	defer term.End()
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	start := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	// Sensor detections are raised once, by partition 0's owner; they are
	// routed to the host's partition like any detection.
	if k == 0 {
		start("sensors", func(c context.Context) error { return b.threats.WatchSensors(c, time.Second, 10*time.Second) })
	}
	n := b.threats.Partitions()
	dets := store.ConsumerSpec{Stream: wire.DetectionStream, Durable: wire.CorrelateConsumer}
	cloud := store.ConsumerSpec{Stream: wire.CloudStream, Durable: wire.CorrelateCloudConsumer, Filter: wire.PartitionFilter(wire.KindCloud, 0, 1), Batch: cloudBatch}
	if n > 1 {
		dets.Durable, dets.Filter = fmt.Sprintf("%s-%d-of-%d", wire.CorrelateConsumer, k, n), wire.PartitionFilter(wire.KindDetection, k, n)
		cloud.Durable, cloud.Filter = fmt.Sprintf("%s-%d-of-%d", wire.CorrelateCloudConsumer, k, n), wire.PartitionFilter(wire.KindCloud, k, n)
	}
	start("correlate", func(c context.Context) error { return b.conn.Consume(c, dets, term.Detections) })
	start("correlate-cloud", func(c context.Context) error { return b.conn.Consume(c, cloud, term.CloudRecords) })
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// The term ends: consumers finish their batch (or leave it for
	// redelivery to the next leader).
	cancel()
	wg.Wait()
	return err
}

// cloudBatch is how many cloud-stream messages a handler gets at once:
// each holds up to ingest.BatchRecords records (ingest.BatchBytes), so
// 16 is up to 1,600 records, and the 32 pulled ahead at most 4 MiB.
const cloudBatch = 16

// Addr is the API's address once Run serves.
func (b *Backend) Addr() net.Addr {
	if b.httpLn == nil {
		return nil
	}
	return b.httpLn.Addr()
}

// NATSAddr is the embedded server's listener (nil when external).
func (b *Backend) NATSAddr() net.Addr {
	if b.bus == nil {
		return nil
	}
	return b.bus.Addr()
}

// Close releases the outputs, the connection and the bus.
func (b *Backend) Close() {
	if b.routing != nil {
		b.routing.close()
	}
	if b.conn != nil {
		b.conn.Close()
	}
	b.stopBus()
}

func (b *Backend) stopBus() {
	if b.bus != nil {
		b.bus.Shutdown()
	}
}

// Ingest publishes pushed logs (api.Ingester).
func (b *Backend) Ingest(ctx context.Context, source, name string, body []byte, o ingest.Options) (ingest.Summary, []string, error) {
	o.Env = b.cfg.Env
	var bad []string
	sum, err := ingest.Data(ctx, b.conn, source, name, body, o, func(e error) { bad = append(bad, e.Error()) })
	b.pushMu.Lock()
	b.pushed.Add(sum)
	b.pushMu.Unlock()
	return sum, bad, err
}

func (b *Backend) healthy() (bool, string) {
	if !b.conn.Connected() {
		return false, "nats disconnected"
	}
	return true, ""
}
