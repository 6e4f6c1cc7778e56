package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/engine"
	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/identity"
	"github.com/vigil-sec/vigil/pkg/spool"
	"github.com/vigil-sec/vigil/pkg/status"
	"github.com/vigil-sec/vigil/pkg/transport"
	"github.com/vigil-sec/vigil/pkg/version"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// delivery sends alerts (and, by telemetry level, events) to NATS through
// the spool, and heartbeats.
type delivery struct {
	a    *Agent
	host identity.Host
	sp   *spool.Spool
	// pub is nil while enrolling or when the credential is unusable.
	pub        atomic.Pointer[transport.Publisher]
	heartbeats atomic.Uint64
	credErr    error
	credErrAt  time.Time
	enroll     *enrollState // token enrollment (nil: a configured credential)
	// eventFailures counts events (telemetry context or full) not spooled.
	eventFailures atomic.Uint64
}

// Name names the sink in counters.
func (d *delivery) Name() string { return "nats" }

// describeHost builds the host's identity: cloud metadata first (its
// instance id feeds the host id), then the stable id.
func (a *Agent) describeHost(ctx context.Context) identity.Host {
	h := identity.Describe(a.cfg.HostRoot, version.Version, a.cfg.Env, a.cfg.Tags)
	instance := ""
	// Metadata only matters for delivery; without a NATS URL nothing leaves the host.
	if a.cfg.IMDS.Enabled && a.cfg.NATS.URL != "" {
		if c, err := identity.AWS(ctx, a.cfg.IMDS.Endpoint, a.cfg.IMDS.Timeout); err == nil {
			h.Cloud, instance = c, c.InstanceID
		} else {
			a.log.Debug("no cloud metadata", zap.Error(err))
		}
	}
	if h.Cloud == nil && a.cfg.AccountID != "" {
		h.Cloud = &identity.Cloud{AccountID: a.cfg.AccountID}
	}
	id, cloned, err := identity.HostID(a.cfg.HostRoot, a.cfg.StateDir, instance)
	if err != nil {
		a.log.Warn("host id unavailable, using the hostname", zap.Error(err))
		id = h.Hostname
	}
	if cloned {
		a.log.Warn("this machine is a clone: it has a new host id", zap.String("host_id", id))
	}
	h.ID, h.Cloned = id, cloned
	return h
}

func (a *Agent) startDelivery(ctx context.Context, host identity.Host) (*delivery, error) {
	sp, err := spool.Open(a.cfg.SpoolDir(), spool.Options{MaxBytes: a.cfg.Spool.MaxBytes, SyncAlways: a.cfg.Spool.Sync == "always"})
	if err != nil {
		return nil, err
	}
	d := &delivery{a: a, host: host, sp: sp}
	tlsOnly := transport.Auth{CA: a.cfg.NATS.CA, Cert: a.cfg.NATS.Cert, Key: a.cfg.NATS.Key}
	if a.cfg.NATS.EnrollToken != "" {
		// Token enrollment: the recorded credential, or enroll in the
		// background while alerts wait in the spool.
		d.enroll = &enrollState{}
		auth := tlsOnly
		auth.NKey = a.seedPath()
		if e, ok := a.enrolled(host); ok {
			d.enroll.set(func(s *alert.EnrollmentState) { s.State, s.Enrolled = "enrolled", e.Enrolled })
			if err := d.connect(ctx, auth, e.InboxPrefix); err != nil {
				_ = sp.Close()
				return nil, err
			}
			return d, nil
		}
		go func() {
			e, err := a.enroll(ctx, host, d.enroll)
			if err != nil {
				if ctx.Err() == nil {
					d.enroll.set(func(s *alert.EnrollmentState) { s.Error, s.ErrorAt = err.Error(), time.Now().UTC() })
					a.log.Error("enrollment stopped; alerts are kept in the spool", zap.Error(err))
				}
				return
			}
			if err := d.connect(ctx, auth, e.InboxPrefix); err != nil {
				d.enroll.set(func(s *alert.EnrollmentState) { s.Error, s.ErrorAt = err.Error(), time.Now().UTC() })
				a.log.Error("alert delivery failed to start after enrollment", zap.Error(err))
			}
		}()
		return d, nil
	}
	auth := tlsOnly
	auth.Creds, auth.NKey = a.cfg.NATS.Creds, a.cfg.NATS.NKey
	if _, err := auth.Options(); err != nil {
		// A credential that cannot be used stops delivery, not detection:
		// alerts are spooled and wait for a fixed credential and a restart;
		// vigil status and the journal say why.
		err = fmt.Errorf("nats credentials: %w", err)
		a.log.Error("alert delivery disabled until the credential is fixed; alerts are kept in the spool", zap.Error(err))
		d.credErr, d.credErrAt = err, time.Now()
		return d, nil
	}
	if err := d.connect(ctx, auth, ""); err != nil {
		_ = sp.Close()
		return nil, err
	}
	return d, nil
}

// connect starts the publisher and the heartbeats.
func (d *delivery) connect(ctx context.Context, auth transport.Auth, inbox string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	opts, err := auth.Options()
	if err != nil {
		return fmt.Errorf("nats credentials: %w", err)
	}
	a := d.a
	pub, err := transport.Connect(transport.Config{URL: a.cfg.NATS.URL, Env: a.cfg.Env, HostID: d.host.ID, Options: opts,
		Stream: a.cfg.NATS.Stream, CreateStream: a.cfg.NATS.CreateStream, InboxPrefix: inbox}, d.sp, a.log)
	if err != nil {
		return err
	}
	d.pub.Store(pub)
	go pub.Run(ctx)
	go d.heartbeat(ctx, pub)
	return nil
}

func (d *delivery) subject(kind wire.Kind) string {
	return wire.Subject(d.a.cfg.Env, kind, d.host.ID)
}

// WriteAlert spools an alert (engine.Sink); severities map to spool
// priorities above telemetry.
func (d *delivery) WriteAlert(al *engine.Alert) error {
	b, err := json.Marshal(al)
	if err != nil {
		return err
	}
	if _, err := d.sp.Append(uint8(al.Severity)+1, wire.AlertMsgID(al.ID), d.subject(wire.KindAlert), b); err != nil {
		return err
	}
	if d.a.cfg.Telemetry == "context" {
		for _, e := range al.Events {
			if err := d.spoolEvent(e); err != nil {
				d.eventFailures.Add(1) // counted; the alert itself is spooled
			}
		}
	}
	d.notify()
	return nil
}

func (d *delivery) spoolEvent(e *event.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = d.sp.Append(0, wire.EventMsgID(d.host.ID, e.ID), d.subject(wire.KindEvent), b)
	return err
}

// Write spools every event (pipeline.Sink) with telemetry: full. A failure
// (a full spool refusing telemetry) is counted, not returned: the pipeline
// would report every one.
func (d *delivery) Write(e *event.Event) error {
	if d.a.cfg.Telemetry != "full" {
		return nil
	}
	if err := d.spoolEvent(e); err != nil {
		d.eventFailures.Add(1)
	}
	return nil
}

// Flush wakes the publisher after a batch.
func (d *delivery) Flush() error {
	d.notify()
	return nil
}

// heartbeat publishes the agent's status: every second until the first is
// acknowledged (so a fresh install's health gate passes quickly), then every
// interval.
func (d *delivery) heartbeat(ctx context.Context, pub *transport.Publisher) {
	send := func() {
		msg := alert.Heartbeat{Schema: alert.HeartbeatSchema, Time: time.Now(), Interval: d.a.cfg.HeartbeatInterval.Seconds(),
			Host: d.host, Status: d.a.Snapshot()}
		b, _ := json.Marshal(msg)
		if pub.Connected() {
			if err := pub.Publish(ctx, d.subject(wire.KindHeartbeat), b); err == nil {
				d.heartbeats.Add(1)
			}
		}
	}
	for d.heartbeats.Load() == 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
			send()
		}
	}
	t := time.NewTicker(d.a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			send()
		}
	}
}

// notify wakes the publisher, if there is one.
func (d *delivery) notify() {
	if pub := d.pub.Load(); pub != nil {
		pub.Notify()
	}
}

func (d *delivery) stats() *status.TransportStats {
	sp := d.sp.Stats()
	url := wire.RedactURL(d.a.cfg.NATS.URL)
	var enr *alert.EnrollmentState
	if d.enroll != nil {
		enr = d.enroll.get()
	}
	pub := d.pub.Load()
	if pub == nil {
		ts := &status.TransportStats{URL: url, Spool: &sp, Enrollment: enr}
		if d.credErr != nil {
			ts.LastError, ts.LastErrorAt = d.credErr.Error(), d.credErrAt
		} else if enr != nil && enr.Error != "" {
			ts.LastError, ts.LastErrorAt = "enrollment: "+enr.Error, enr.ErrorAt
		}
		return ts
	}
	st := &pub.Stats
	last, at := st.LastError()
	return &status.TransportStats{
		URL: url, Connected: pub.Connected(), Published: st.Published.Load(), Acked: st.Acked.Load(),
		Retries: st.Retries.Load(), Errors: st.Errors.Load(), LastError: last, LastErrorAt: at,
		Heartbeats: d.heartbeats.Load(), StreamNote: st.StreamNote(), Spool: &sp, Enrollment: enr,
	}
}

func (d *delivery) close() {
	if pub := d.pub.Load(); pub != nil {
		pub.Close()
	}
	if err := d.sp.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "spool close:", err)
	}
}
