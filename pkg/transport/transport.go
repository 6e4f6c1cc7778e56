package transport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/spool"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// Config configures the connection and the stream.
type Config struct {
	URL    string
	Env    string
	HostID string
	// Options add authentication and TLS (see Auth).
	Options []nats.Option
	// Stream is the JetStream stream the subjects belong to; created when
	// CreateStream is set (single-machine set-ups), otherwise expected.
	Stream       string
	CreateStream bool
	// MaxInFlight bounds unacknowledged publishes.
	MaxInFlight int
	// AckTimeout is how long a publish may wait for its acknowledgement.
	AckTimeout time.Duration
	// InboxPrefix, when set, is where replies come (an enrolled host may
	// subscribe only below its own).
	InboxPrefix string
}

// Subject builds a subject that carries the join keys:
// vigil.<env>.<kind>.<host> (wire.Subject).
func Subject(env, kind, host string) string { return wire.Subject(env, wire.Kind(kind), host) }

// StreamSubjects are the subjects of the agents' stream.
var StreamSubjects = wire.AgentStream("").Subjects

// Stats are the publisher's counters.
type Stats struct {
	Published atomic.Uint64
	Acked     atomic.Uint64
	Retries   atomic.Uint64
	Errors    atomic.Uint64
	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
	note      string
}

// StreamNote says how the stream is used when that differs from the
// configuration (create_stream refused by the server's permissions).
func (s *Stats) StreamNote() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.note
}

// LastError is the last publish error and when it happened.
func (s *Stats) LastError() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr, s.lastErrAt
}

func (s *Stats) fail(err error) {
	s.Errors.Add(1)
	s.mu.Lock()
	s.lastErr, s.lastErrAt = err.Error(), time.Now()
	s.mu.Unlock()
}

// permissionDenied tells whether err (or the server's last asynchronous
// error) is a permissions violation.
func permissionDenied(err error, async string) bool {
	if errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
		return true
	}
	return strings.Contains(strings.ToLower(async), "permissions violation") && strings.Contains(async, "$JS.API.STREAM")
}

// Publisher sends spooled records to JetStream.
type Publisher struct {
	cfg   Config
	log   *zap.Logger
	sp    *spool.Spool
	nc    *nats.Conn
	js    jetstream.JetStream
	wake  chan struct{}
	Stats Stats
	// asyncErr is the server's last asynchronous error (-ERR), e.g. a
	// permissions violation that a request only sees as a timeout.
	asyncErr atomic.Pointer[string]
}

// Connect opens one persistent connection that reconnects with backoff for
// ever. It does not fail when the server is down: records wait in the spool.
func Connect(cfg Config, sp *spool.Spool, log *zap.Logger) (*Publisher, error) {
	if cfg.Stream == "" {
		cfg.Stream = wire.DefaultAgentStream
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 4096
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	log = log.Named("transport")
	p := &Publisher{cfg: cfg, log: log, sp: sp, wake: make(chan struct{}, 1)}
	opts := append([]nats.Option{
		nats.Name("vigil-agent " + cfg.HostID),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			d := time.Duration(attempts) * 250 * time.Millisecond
			if d > 5*time.Second {
				d = 5 * time.Second
			}
			return d
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("reconnected"); p.Notify() }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				p.authFailure(err)
				log.Warn("disconnected", zap.Error(err))
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			msg := err.Error()
			p.asyncErr.Store(&msg)
			p.authFailure(err)
			log.Warn("server error", zap.Error(err))
		}),
	}, cfg.Options...)
	if cfg.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.InboxPrefix))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", wire.RedactURL(cfg.URL), err)
	}
	p.nc = nc
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.MaxInFlight), jetstream.WithPublishAsyncTimeout(cfg.AckTimeout))
	if err != nil {
		nc.Close()
		return nil, err
	}
	p.js = js
	return p, nil
}

// EnsureStream creates or updates the stream (when configured to).
func (p *Publisher) EnsureStream(ctx context.Context) error {
	if !p.cfg.CreateStream {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.AckTimeout)
	defer cancel()
	_, err := p.js.CreateOrUpdateStream(ctx, StreamConfig(p.cfg.Stream))
	return err
}

// ensureStream runs EnsureStream and reports whether publishing may start:
// after success, or when the server's permissions refuse to create streams
// (the user `vigil enroll` prints may only publish its subjects), in which
// case the existing stream is used and status says so.
func (p *Publisher) ensureStream(ctx context.Context) bool {
	err := p.EnsureStream(ctx)
	if err == nil {
		return true
	}
	async := ""
	if a := p.asyncErr.Load(); a != nil {
		async = *a
	}
	if permissionDenied(err, async) {
		note := fmt.Sprintf("create_stream: the server refused to create stream %s (permissions); delivering to the existing stream", p.cfg.Stream)
		p.Stats.mu.Lock()
		first := p.Stats.note == ""
		p.Stats.note = note
		p.Stats.mu.Unlock()
		if first {
			p.log.Warn("stream not created: permission denied; delivering to the existing stream", zap.String("stream", p.cfg.Stream))
		}
		return true
	}
	p.Stats.fail(fmt.Errorf("create stream %s: %w", p.cfg.Stream, err))
	return false
}

// StreamConfig is the agents' stream (wire.AgentStream) as JetStream
// configures it.
func StreamConfig(name string) jetstream.StreamConfig { return JetStreamConfig(wire.AgentStream(name)) }

// JetStreamConfig turns a stream specification into nats.go's form.
func JetStreamConfig(s wire.StreamSpec) jetstream.StreamConfig {
	c := jetstream.StreamConfig{
		Name: s.Name, Subjects: s.Subjects, Storage: jetstream.FileStorage, Duplicates: s.Duplicates,
		MaxAge: s.MaxAge, Replicas: s.Replicas,
	}
	if s.MaxBytes > 0 {
		c.MaxBytes = s.MaxBytes
	}
	if s.Storage == wire.MemoryStorage {
		c.Storage = jetstream.MemoryStorage
	}
	return c
}

// authFailure records a refused credential where status shows it: a
// revoked host, or a key the server does not know.
func (p *Publisher) authFailure(err error) {
	m := strings.ToLower(err.Error())
	if errors.Is(err, nats.ErrAuthorization) || strings.Contains(m, "authorization violation") || strings.Contains(m, "authentication expired") {
		p.Stats.fail(fmt.Errorf("the server refused this host's credential (%w): revoked, or not authorized on this server", err))
	}
}

// Notify wakes the publisher: records were spooled.
func (p *Publisher) Notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Connected reports whether the connection is up.
func (p *Publisher) Connected() bool { return p.nc.IsConnected() }

type inflight struct {
	seq uint64
	fut jetstream.PubAckFuture
}

// Run publishes spooled records until ctx ends. Records are sent in order;
// on any failure everything unacknowledged is sent again after a pause.
func (p *Publisher) Run(ctx context.Context) {
	var sent uint64 // highest sequence handed to the client
	pending := make(chan inflight, p.cfg.MaxInFlight)
	failed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // acknowledgements, in order
		defer wg.Done()
		for f := range pending {
			select {
			case <-f.fut.Ok():
				if err := p.sp.Ack(f.seq); err != nil {
					p.Stats.fail(err)
				}
				p.Stats.Acked.Add(1)
			case err := <-f.fut.Err():
				p.Stats.fail(err)
				select {
				case failed <- struct{}{}:
				default:
				}
			}
		}
	}()
	defer func() { close(pending); wg.Wait() }()
	streamReady := !p.cfg.CreateStream
	for {
		select {
		case <-ctx.Done():
			return
		case <-failed:
			// Resend everything unacknowledged once the in-flight ones settle.
			p.Stats.Retries.Add(1)
			for len(pending) > 0 {
				time.Sleep(10 * time.Millisecond)
			}
			sent = 0
			p.pause(ctx, time.Second)
			continue
		default:
		}
		if !p.nc.IsConnected() {
			p.pause(ctx, 200*time.Millisecond)
			continue
		}
		if !streamReady {
			if !p.ensureStream(ctx) {
				p.pause(ctx, time.Second)
				continue
			}
			streamReady = true
		}
		recs, err := p.sp.Next(sent, 256)
		if err != nil {
			p.Stats.fail(err)
			p.pause(ctx, time.Second)
			continue
		}
		if len(recs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
			case <-failed:
				p.Stats.Retries.Add(1)
				sent = 0
				p.pause(ctx, time.Second)
			case <-time.After(time.Second):
			}
			continue
		}
		for _, r := range recs {
			msg := nats.NewMsg(r.Subject)
			msg.Data = r.Data
			fut, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(r.ID))
			if err != nil {
				p.Stats.fail(err)
				if errors.Is(err, jetstream.ErrTooManyStalledMsgs) || strings.Contains(err.Error(), "stalled") {
					break
				}
				select {
				case failed <- struct{}{}:
				default:
				}
				break
			}
			p.Stats.Published.Add(1)
			sent = r.Seq
			select {
			case pending <- inflight{seq: r.Seq, fut: fut}:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (p *Publisher) pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Publish sends a best-effort message (heartbeats) without the spool.
func (p *Publisher) Publish(ctx context.Context, subject string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.AckTimeout)
	defer cancel()
	_, err := p.js.Publish(ctx, subject, data)
	return err
}

// Close drains and closes the connection.
func (p *Publisher) Close() {
	_ = p.nc.Drain()
}
