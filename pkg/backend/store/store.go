// Package store is the backend's persistence on NATS JetStream, the system
// of record: it creates (idempotently) the streams, consumers and KV
// buckets the backend uses, publishes with dedup ids and acks, and runs
// durable and ordered consumers. It is the backend's only importer of
// nats.go; the agent's is pkg/transport.
package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/wire"
)

// InProcess dials the embedded server without TCP (pkg/backend/bus).
type InProcess interface {
	InProcessConn() (net.Conn, error)
}

// Options say how to reach NATS.
type Options struct {
	URL       string
	Name      string
	Creds     string // .creds file
	NKeySeed  string // file with an NKey user seed
	CAFile    string
	CertFile  string // client certificate, for servers that require mutual TLS
	KeyFile   string
	User      string
	Password  string
	InProcess InProcess // the embedded server: URL is then informative
	// Wait is how long Connect keeps trying before failing (0: once).
	Wait time.Duration
	// ReconnectFor bounds how long a lost connection is retried (0:
	// forever, as the backend does; a CLI gives up).
	ReconnectFor time.Duration
	// EnsureWait is how long creating a stream or bucket is retried while
	// the cluster is not ready (a peer offline or joining, no leader); 0:
	// once, for a CLI that should say so at once.
	EnsureWait time.Duration
}

// Conn is a connection with JetStream.
type Conn struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	log *zap.Logger
	// ensureWait is Options.EnsureWait.
	ensureWait time.Duration

	followResets atomic.Uint64
}

// Connect connects, retrying until opts.Wait has passed.
func Connect(ctx context.Context, o Options, log *zap.Logger) (*Conn, error) {
	if log == nil {
		log = zap.NewNop()
	}
	opts := []nats.Option{nats.Name(o.Name), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if o.ReconnectFor > 0 {
		opts = append(opts, nats.MaxReconnects(int(o.ReconnectFor/time.Second)+1))
	}
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.NKeySeed != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeySeed)
		if err != nil {
			return nil, fmt.Errorf("nkey seed %s: %w", o.NKeySeed, err)
		}
		opts = append(opts, opt)
	}
	if o.CAFile != "" {
		opts = append(opts, nats.RootCAs(o.CAFile))
	}
	if o.CertFile != "" {
		opts = append(opts, nats.ClientCert(o.CertFile, o.KeyFile))
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.InProcess != nil {
		opts = append(opts, nats.InProcessServer(o.InProcess))
	}
	if log != nil {
		opts = append(opts,
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					log.Warn("nats disconnected", zap.Error(err))
				}
			}),
			nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected") }))
	}
	deadline := time.Now().Add(o.Wait)
	for {
		nc, err := nats.Connect(o.URL, opts...)
		if err == nil {
			// An ack that does not come (the server died) fails the publish
			// instead of waiting forever; the caller retries or reports.
			js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(30*time.Second), jetstream.WithPublishAsyncMaxPending(4096))
			if err != nil {
				nc.Close()
				return nil, err
			}
			return &Conn{nc: nc, js: js, log: log, ensureWait: o.EnsureWait}, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("nats connect %s: %w", wire.RedactURL(o.URL), err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Close drains and closes the connection (at once when it is down).
func (c *Conn) Close() {
	if !c.nc.IsConnected() {
		c.nc.Close()
		return
	}
	_ = c.nc.Drain()
}

// Connected reports whether the connection is up.
func (c *Conn) Connected() bool { return c.nc.IsConnected() }

// URL is the server connected to.
func (c *Conn) URL() string { return wire.RedactURL(c.nc.ConnectedUrl()) }

func streamConfig(s wire.StreamSpec) jetstream.StreamConfig {
	c := jetstream.StreamConfig{Name: s.Name, Subjects: s.Subjects, Storage: jetstream.FileStorage, Duplicates: s.Duplicates,
		MaxAge: s.MaxAge, Replicas: s.Replicas, MaxBytes: -1, Discard: jetstream.DiscardOld}
	if s.MaxBytes > 0 {
		c.MaxBytes = s.MaxBytes
	}
	if s.Storage == wire.MemoryStorage {
		c.Storage = jetstream.MemoryStorage
	}
	if s.Transform != nil {
		c.SubjectTransform = &jetstream.SubjectTransformConfig{Source: s.Transform.From, Destination: s.Transform.To}
	}
	return c
}

// JetStream API error codes of a cluster still meshing or electing
// (nats-server's errors.json): they clear by themselves.
const (
	jsClusterNoPeers    jetstream.ErrorCode = 10005 // JSClusterNoPeersErrF: no suitable peers for placement
	jsClusterNotAvail   jetstream.ErrorCode = 10008 // JSClusterNotAvailErr: JetStream system temporarily unavailable
	jsClusterNotLeader  jetstream.ErrorCode = 10009 // JSClusterNotLeaderErr: JetStream cluster can not handle request
	ensureRetryMaxPause                     = 2 * time.Second
)

// transient says whether a stream or bucket operation failed only because
// the cluster is not ready yet: a peer offline or still joining, no
// meta leader, or a request that timed out.
func transient(err error) bool {
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode {
		case jsClusterNoPeers, jsClusterNotAvail, jsClusterNotLeader:
			return true
		}
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// awaitLeader waits until the stream answers (its leader elected): on a
// cluster a stream or bucket just created may not take a request yet, and
// the first write would fail with "no response from stream".
func (c *Conn) awaitLeader(ctx context.Context, name string) error {
	return c.retryEnsure(ctx, "stream "+name+" leader", func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := c.js.Stream(rctx, name)
		return err
	})
}

// retryEnsure runs op until it succeeds, fails for a reason that will not
// clear, ctx ends, or EnsureWait has passed: a backend started while a
// cluster node is down or still joining waits for it rather than exiting.
func (c *Conn) retryEnsure(ctx context.Context, what string, op func(context.Context) error) error {
	deadline := time.Now().Add(c.ensureWait)
	pause := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil || !transient(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		if attempt == 1 {
			c.log.Warn("JetStream not ready, retrying", zap.String("what", what), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, ensureRetryMaxPause)
	}
}

// EnsureStream creates the stream or updates it to spec, waiting for a
// cluster that is not ready yet.
func (c *Conn) EnsureStream(ctx context.Context, spec wire.StreamSpec) error {
	var st jetstream.Stream
	err := c.retryEnsure(ctx, "stream "+spec.Name, func(ctx context.Context) error {
		var err error
		st, err = c.js.CreateOrUpdateStream(ctx, streamConfig(spec))
		return err
	})
	// A server before 2.10 does not apply subject transforms (nats.go says
	// so; a server would ignore what it does not know).
	if spec.Transform != nil && (errors.Is(err, jetstream.ErrStreamSubjectTransformNotSupported) ||
		err == nil && st.CachedInfo().Config.SubjectTransform == nil) {
		return fmt.Errorf("stream %s: the server (nats-server %s) does not apply subject transforms: "+
			"correlation.partitions above 1 needs nats-server 2.10 or later", spec.Name, c.nc.ConnectedServerVersion())
	}
	if err == nil {
		err = c.awaitLeader(ctx, spec.Name)
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", spec.Name, err)
	}
	return nil
}

// StreamState is a stream's size, for health and metrics.
type StreamState struct {
	Name     string `json:"name"`
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
}

// Stream reports a stream's state.
func (c *Conn) Stream(ctx context.Context, name string) (StreamState, error) {
	s, err := c.js.Stream(ctx, name)
	if err != nil {
		return StreamState{Name: name}, err
	}
	st := s.CachedInfo().State
	return StreamState{Name: name, Messages: st.Msgs, Bytes: st.Bytes, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq}, nil
}

// HasStream tells whether a stream exists (false, nil when it does not).
func (c *Conn) HasStream(ctx context.Context, name string) (bool, error) {
	_, err := c.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Msg is a message to publish, or one consumed.
type Msg struct {
	Subject string
	ID      string // Nats-Msg-Id: the dedup key
	Data    []byte
	// Items is how many items (records) the message carries, for a
	// publish's counts (0 counts as 1).
	Items int
	Time  time.Time // when it was stored (consumed messages)
	// Delivered counts deliveries of a consumed message (1 the first time).
	Delivered uint64
	// Pending is how many messages the consumer has left after this one
	// (0: caught up with the stream).
	Pending uint64
	// Seq is the stream sequence (a KV bucket's revision).
	Seq uint64
}

// PublishResult counts what a batch did, in items (Msg.Items).
type PublishResult struct {
	Published  int // stored
	Duplicates int // already stored under the same id
}

// Publish stores msgs with their ids, waiting for every ack. It stops at
// the first failure (what was acked before it is counted).
func (c *Conn) Publish(ctx context.Context, msgs []Msg) (PublishResult, error) {
	var res PublishResult
	// A sliding window of acks: the oldest is waited for when it is full,
	// so the pipe to the server never drains.
	const window = 1024
	futs := make([]jetstream.PubAckFuture, 0, len(msgs))
	next := 0 // the oldest ack not waited for
	wait := func() error {
		f := futs[next]
		n := max(msgs[next].Items, 1)
		next++
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				res.Duplicates += n
			} else {
				res.Published += n
			}
			return nil
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// drain waits for the acks still due, up to the first failure (what
	// was acked before it is counted; the rest is not, and is stored at
	// most once when sent again).
	drain := func() error {
		for next < len(futs) {
			if err := wait(); err != nil {
				return err
			}
		}
		return nil
	}
	for _, m := range msgs {
		nm := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{}}
		if m.ID != "" {
			nm.Header[jetstream.MsgIDHeader] = []string{m.ID}
		}
		f, err := c.js.PublishMsgAsync(nm)
		if err != nil {
			if ferr := drain(); ferr != nil {
				return res, fmt.Errorf("publish: %w", ferr)
			}
			return res, fmt.Errorf("publish %s: %w", m.Subject, err)
		}
		futs = append(futs, f)
		if len(futs)-next >= window {
			if err := wait(); err != nil {
				return res, fmt.Errorf("publish: %w", err)
			}
		}
	}
	if err := drain(); err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	return res, nil
}

// Retry is a Handler's answer that leaves all n messages of a batch for
// redelivery, for err.
func Retry(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// RetryAfter is a Handler's answer that leaves a message for redelivery
// after a delay of the handler's choosing (a backoff, a quiet period).
type RetryAfter struct {
	Delay time.Duration
	Err   error
}

func (e *RetryAfter) Error() string { return fmt.Sprintf("retry in %s: %v", e.Delay, e.Err) }
func (e *RetryAfter) Unwrap() error { return e.Err }

// Handler processes a consumed batch. It returns, per message, nil to ack
// it or an error to have it redelivered later (a transient failure: bad
// input is acked and counted by the handler, never redelivered forever).
type Handler func(ctx context.Context, msgs []Msg) []error

// ConsumerSpec is a durable pull consumer.
type ConsumerSpec struct {
	Stream  string
	Durable string
	Filter  string
	// Batch is the most messages handed to the handler at once.
	Batch int
	// DeliverNew: a consumer created now starts at the stream's end (an
	// output added later is not sent the past); by default it starts at
	// the beginning.
	DeliverNew bool
	// AckWait is how long a delivered message may stay unacked before it
	// is delivered again (default 60s).
	AckWait time.Duration
}

func consumerConfig(spec ConsumerSpec) jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{Durable: spec.Durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 60 * time.Second,
		MaxAckPending: 4096, DeliverPolicy: jetstream.DeliverAllPolicy, MaxDeliver: -1} // retried until stored: never dropped
	if spec.Filter != "" {
		cfg.FilterSubject = spec.Filter
	}
	if spec.DeliverNew {
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	if spec.AckWait > 0 {
		cfg.AckWait = spec.AckWait
	}
	return cfg
}

// EnsureConsumer creates the durable consumer (or updates it) without
// consuming: a DeliverNew consumer made at start sees everything after.
func (c *Conn) EnsureConsumer(ctx context.Context, spec ConsumerSpec) error {
	_, err := c.consumer(ctx, spec)
	return err
}

// consumer creates or updates a durable consumer, waiting for a cluster
// with a node down or a leader being elected, like the streams.
func (c *Conn) consumer(ctx context.Context, spec ConsumerSpec) (jetstream.Consumer, error) {
	var cons jetstream.Consumer
	err := c.retryEnsure(ctx, "consumer "+spec.Durable, func(ctx context.Context) error {
		var err error
		cons, err = c.js.CreateOrUpdateConsumer(ctx, spec.Stream, consumerConfig(spec))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", spec.Durable, spec.Stream, err)
	}
	return cons, nil
}

// Consume runs a durable consumer (created or updated idempotently) until
// ctx ends: messages are acked after the handler succeeds, so a crash or
// a stop mid-batch leaves them for redelivery and nothing is lost. Several
// backends share one durable: each message goes to one of them.
func (c *Conn) Consume(ctx context.Context, spec ConsumerSpec, h Handler) error {
	cons, err := c.consumer(ctx, spec)
	if err != nil {
		return err
	}
	batch := spec.Batch
	if batch <= 0 {
		batch = 1024
	}
	// Messages are pulled continuously (up to two batches ahead), so the
	// server delivers while the handler works; a batch is what has arrived,
	// up to Batch: large under load, one message when it trickles.
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * batch))
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", spec.Durable, spec.Stream, err)
	}
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	defer it.Stop()
	ch := make(chan jetstream.Msg, batch)
	go func() {
		defer close(ch)
		for {
			m, err := it.Next()
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			if err != nil { // missed heartbeats, a reconnection: it goes on
				if c.log != nil {
					c.log.Debug("consumer", zap.String("durable", spec.Durable), zap.Error(err))
				}
				continue
			}
			ch <- m
		}
	}()
	var raw []jetstream.Msg
	var msgs []Msg
	for {
		m, ok := <-ch
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("consumer %s on %s: stopped", spec.Durable, spec.Stream)
		}
		if ctx.Err() != nil {
			// Stopping: what was delivered and not started goes back at
			// once (not after the ack wait) to another instance or the
			// next start.
			_ = m.Nak()
			continue
		}
		raw, msgs = append(raw[:0], m), append(msgs[:0], toMsg(m))
	more:
		for len(raw) < batch {
			select {
			case m, ok := <-ch:
				if !ok {
					break more
				}
				raw, msgs = append(raw, m), append(msgs, toMsg(m))
			default:
				break more
			}
		}
		errs := h(context.WithoutCancel(ctx), msgs) // a started batch is finished and acked
		for i, m := range raw {
			if i < len(errs) && errs[i] != nil {
				delay := 2 * time.Second
				var ra *RetryAfter
				if errors.As(errs[i], &ra) {
					delay = ra.Delay
				}
				_ = m.NakWithDelay(delay)
				continue
			}
			// A plain ack (no round trip per message): one that is lost
			// means a redelivery, and detections are idempotent by id.
			if err := m.Ack(); err != nil && c.log != nil {
				c.log.Warn("ack failed: the message will be redelivered", zap.Error(err))
			}
		}
	}
}

func toMsg(m jetstream.Msg) Msg {
	out := Msg{Subject: m.Subject(), Data: m.Data(), ID: m.Headers().Get(jetstream.MsgIDHeader)}
	if md, err := m.Metadata(); err == nil {
		out.Time, out.Delivered, out.Pending, out.Seq = md.Timestamp, md.NumDelivered, md.NumPending, md.Sequence.Stream
	}
	return out
}

// FollowCheck is how long Follow waits without a message before it asks
// the stream whether it missed any.
const FollowCheck = 5 * time.Second

// Follow reads a stream from its start (or since) in order and then
// follows it live, until ctx ends: every backend instance builds its own
// view (the detection index) this way.
//
// An ordered consumer is an R1 ephemeral: when the server that holds it
// dies or stalls, nats.go re-creates it only if its heartbeats stop, and
// on a cluster they may not (the consumer lives on, no longer fed). So
// while no message comes, Follow asks the stream every FollowCheck for
// its last sequence (matching the filter); when that is past the last
// one seen, it re-creates the consumer from there.
func (c *Conn) Follow(ctx context.Context, stream, filter string, since time.Time, fn func(Msg)) error {
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	var last uint64 // the stream sequence of the last message seen
	var retry backoff
	for {
		cc := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy,
			// nats.go retries a reset forever inside Next, where no stall
			// can be seen: a few tries, then this loop starts over.
			MaxResetAttempts: 3}
		switch {
		case last > 0:
			cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
		case !since.IsZero():
			cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
		}
		if filter != "" {
			cc.FilterSubjects = []string{filter}
		}
		stalled, err := c.follow(ctx, s, cc, filter, since, &last, fn)
		if ctx.Err() != nil {
			return nil
		}
		c.followResets.Add(1)
		if err != nil {
			// The cluster may be electing leaders: try again, never give
			// the view up.
			if c.log != nil {
				c.log.Warn("follower failed: retrying", zap.String("stream", stream), zap.String("filter", filter),
					zap.Uint64("from_seq", last+1), zap.Duration("in", retry.delay()), zap.Error(err))
			}
			if !retry.wait(ctx) {
				return nil
			}
			continue
		}
		retry = backoff{}
		if c.log != nil {
			c.log.Warn("follower stalled: re-created", zap.String("stream", stream), zap.String("filter", filter),
				zap.Uint64("from_seq", last+1), zap.Uint64("stream_last_seq", stalled))
		}
	}
}

// backoff is the pause between a follower's (or a KV watcher's) failed
// tries: 1 s, doubling up to 10 s; the zero value starts over.
type backoff struct{ next time.Duration }

func (b *backoff) delay() time.Duration { return max(b.next, time.Second) }

// wait pauses for the delay and doubles it; false when ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.delay()
	b.next = min(2*d, 10*time.Second)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// follow runs one ordered consumer until ctx ends (0, nil) or it stalls:
// then it returns the stream's last sequence that it did not deliver.
func (c *Conn) follow(ctx context.Context, s jetstream.Stream, cc jetstream.OrderedConsumerConfig, filter string,
	since time.Time, last *uint64, fn func(Msg)) (uint64, error) {
	cons, err := s.OrderedConsumer(ctx, cc)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		return 0, fmt.Errorf("consumer on %s: %w", s.CachedInfo().Config.Name, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		m, err := it.Next(jetstream.NextMaxWait(FollowCheck))
		if ctx.Err() != nil {
			return 0, nil
		}
		if err != nil {
			switch {
			case errors.Is(err, jetstream.ErrMsgIteratorClosed):
				return *last, nil // re-created from the last one seen
			case !errors.Is(err, nats.ErrTimeout):
				return 0, err // a reset that failed
			}
			if seq := c.lastSeq(ctx, s, filter, since); seq > *last {
				return seq, nil
			}
			continue
		}
		if md, err := m.Metadata(); err == nil {
			*last = md.Sequence.Stream
		}
		fn(toMsg(m))
	}
}

// lastSeq is the sequence of the stream's last message matching filter
// that a follower since that time must see (0 if none or unknown): one
// older than since, or gone with the retention, is none.
func (c *Conn) lastSeq(ctx context.Context, s jetstream.Stream, filter string, since time.Time) uint64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if filter == "" {
		filter = ">"
	}
	m, err := s.GetLastMsgForSubject(ctx, filter)
	if err != nil || m.Time.Before(since) {
		return 0
	}
	return m.Sequence
}

// FollowResets counts followers re-created after a stall.
func (c *Conn) FollowResets() uint64 { return c.followResets.Load() }

// Notify publishes on a core NATS subject, for whoever listens (no
// stream, no ack): threat updates for other consumers.
func (c *Conn) Notify(subject string, data []byte) error { return c.nc.Publish(subject, data) }

// Serve answers requests on subject (core NATS, a queue group so that one
// instance of the backend answers each) with fn until ctx ends; ready is
// called once the subscription is in place. Requests are answered
// concurrently (at most 16 at once). fn's answer is the reply; nil sends
// none.
func (c *Conn) Serve(ctx context.Context, subject, queue string, fn func(ctx context.Context, data []byte) []byte, ready func()) error {
	sem := make(chan struct{}, 16)
	sub, err := c.nc.QueueSubscribe(subject, queue, func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if out := fn(rctx, m.Data); out != nil {
				_ = m.Respond(out)
			}
		}()
	})
	if err != nil {
		return fmt.Errorf("serve %s: %w", subject, err)
	}
	if err := c.nc.Flush(); err != nil {
		return fmt.Errorf("serve %s: %w", subject, err)
	}
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	_ = sub.Drain()
	return nil
}
