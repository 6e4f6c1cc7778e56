package route

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// StateKV keeps, per output and threat, what was sent (store.KV).
type StateKV interface {
	Get(ctx context.Context, key string) ([]byte, uint64, error)
	Put(ctx context.Context, key string, v []byte) error
}

// Publisher stores dead letters (store.Conn).
type Publisher interface {
	Publish(ctx context.Context, msgs []store.Msg) (store.PublishResult, error)
}

// Stats are an output's counters.
type Stats struct {
	Sent         atomic.Uint64 // accepted by the receiver
	Failed       atomic.Uint64 // attempts that failed and will be retried
	DeadLettered atomic.Uint64 // refused for good, kept in the dead-letter stream
	Deferred     atomic.Uint64 // updates held for the quiet period (sent later, as one)
	RateLimited  atomic.Uint64 // held by a route's rate limit (sent later)
	Unrouted     atomic.Uint64 // matched no route naming this output
	Unchanged    atomic.Uint64 // threat revisions with nothing new for the receiver
	Redelivered  atomic.Uint64 // revisions already sent (a redelivery): not sent again
	Malformed    atomic.Uint64 // messages that could not be decoded (acked, counted)
	StateErrors  atomic.Uint64 // state writes that failed (the message is retried)

	mu        sync.Mutex
	failing   bool // the last attempt failed
	lastError string
	lastErrAt time.Time
	lastSent  time.Time
}

// Snapshot is an output's counters and last error, for status and the UI.
type Snapshot struct {
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	Sent         uint64    `json:"sent"`
	Failed       uint64    `json:"failed"`
	DeadLettered uint64    `json:"dead_lettered"`
	Deferred     uint64    `json:"deferred"`
	RateLimited  uint64    `json:"rate_limited"`
	Unrouted     uint64    `json:"unrouted"`
	Unchanged    uint64    `json:"unchanged"`
	Redelivered  uint64    `json:"redelivered"`
	Malformed    uint64    `json:"malformed"`
	StateErrors  uint64    `json:"state_errors"`
	LastSent     time.Time `json:"last_sent,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
	// Healthy: the last attempt succeeded (or none failed yet).
	Healthy bool `json:"healthy"`
}

// Dispatcher delivers one output's notifications: the handler of its
// durable consumers (threat revisions from the threats' bucket, and
// detections).
type Dispatcher struct {
	Name   string
	Type   string
	Out    Output
	Router *Router
	State  StateKV
	Dead   Publisher
	Env    string
	// UIURL is the UI's base for links (no trailing slash).
	UIURL string
	// Quiet is the quiet period between updates of one threat.
	Quiet time.Duration
	// RetryMax bounds the backoff of failed deliveries.
	RetryMax time.Duration
	// Lookup finds a threat's detections (their tags and host tags).
	Lookup func(id string) (*alert.Detection, bool)
	Now    func() time.Time
	Log    *zap.Logger
	Stats  Stats
}

// sent is what an output was last sent of a threat.
type sent struct {
	Seq      uint64         `json:"seq"` // the threat's revision
	At       time.Time      `json:"at"`
	Severity alert.Severity `json:"severity"`
	Status   string         `json:"status"`
	Closed   bool           `json:"closed"`
	Count    int            `json:"detections"`
	Thread   string         `json:"thread,omitempty"`
	Routes   []string       `json:"routes"`
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Snapshot reads the counters.
func (d *Dispatcher) Snapshot() Snapshot {
	s := &d.Stats
	out := Snapshot{Name: d.Name, Type: d.Type, Sent: s.Sent.Load(), Failed: s.Failed.Load(), DeadLettered: s.DeadLettered.Load(),
		Deferred: s.Deferred.Load(), RateLimited: s.RateLimited.Load(), Unrouted: s.Unrouted.Load(), Unchanged: s.Unchanged.Load(),
		Redelivered: s.Redelivered.Load(), Malformed: s.Malformed.Load(), StateErrors: s.StateErrors.Load()}
	s.mu.Lock()
	out.LastSent, out.LastError, out.LastErrorAt, out.Healthy = s.lastSent, s.lastError, s.lastErrAt, !s.failing
	s.mu.Unlock()
	return out
}

func (d *Dispatcher) noteSent() {
	d.Stats.Sent.Add(1)
	d.Stats.mu.Lock()
	d.Stats.lastSent, d.Stats.failing = d.now(), false
	d.Stats.mu.Unlock()
}

func (d *Dispatcher) noteError(err error) {
	d.Stats.mu.Lock()
	d.Stats.lastError, d.Stats.lastErrAt, d.Stats.failing = err.Error(), d.now(), true
	d.Stats.mu.Unlock()
}

// backoff is the wait before the next attempt of a message delivered n
// times: 1s, 2s, 4s... up to RetryMax.
func (d *Dispatcher) backoff(n uint64) time.Duration {
	w := time.Second
	for i := uint64(1); i < n && w < d.RetryMax; i++ {
		w *= 2
	}
	return min(w, max(d.RetryMax, time.Second))
}

// URL is the UI page of a threat ("threat") or detection.
func (d *Dispatcher) URL(kind, id string) string {
	if d.UIURL == "" {
		return ""
	}
	return d.UIURL + "/#/" + kind + "/" + url.PathEscape(id)
}

// Threats handles revisions of the threats' bucket (a store.Handler).
func (d *Dispatcher) Threats(ctx context.Context, msgs []store.Msg) []error {
	return d.batch(ctx, msgs, d.threat)
}

// Detections handles detections (a store.Handler): each matching one is
// sent once.
func (d *Dispatcher) Detections(ctx context.Context, msgs []store.Msg) []error {
	return d.batch(ctx, msgs, d.detection)
}

// batch handles msgs one by one. Once a delivery fails for a reason that
// may clear, the rest of the batch waits with it (the receiver is likely
// down) instead of each timing out.
func (d *Dispatcher) batch(ctx context.Context, msgs []store.Msg, one func(context.Context, store.Msg) error) []error {
	errs := make([]error, len(msgs))
	var down error
	for i, m := range msgs {
		if down != nil {
			errs[i] = &store.RetryAfter{Delay: d.backoff(m.Delivered), Err: down}
			continue
		}
		errs[i] = one(ctx, m)
		var ra *store.RetryAfter
		if errors.As(errs[i], &ra) && ra.Err != nil && !errors.Is(ra.Err, errHeld) {
			down = ra.Err
		}
	}
	return errs
}

// errHeld marks a message held on purpose (quiet period, rate limit).
var errHeld = errors.New("held")

func (d *Dispatcher) threat(ctx context.Context, m store.Msg) error {
	if len(m.Data) == 0 { // a deleted key (a purge): nothing to say
		return nil
	}
	var t alert.Threat
	if err := json.Unmarshal(m.Data, &t); err != nil || t.ID == "" {
		d.Stats.Malformed.Add(1)
		return nil
	}
	key := d.Name + "." + t.ID
	var prev *sent
	raw, _, err := d.State.Get(ctx, key)
	switch {
	case err == nil:
		prev = &sent{}
		if json.Unmarshal(raw, prev) != nil {
			prev = nil
		}
	case !errors.Is(err, store.ErrNotFound):
		d.Stats.StateErrors.Add(1)
		return &store.RetryAfter{Delay: 2 * time.Second, Err: fmt.Errorf("state: %w", err)}
	}
	if prev != nil && m.Seq != 0 && m.Seq <= prev.Seq {
		d.Stats.Redelivered.Add(1)
		return nil
	}
	routes := d.Router.For(d.Name, ThreatSubject(&t, d.Lookup))
	if prev != nil && len(routes) == 0 {
		routes = prev.Routes // once sent, its updates and its close follow
	}
	if len(routes) == 0 {
		d.Stats.Unrouted.Add(1)
		return nil
	}
	now := d.now()
	event, wait := decide(prev, &t, now, d.Quiet)
	if event == "" {
		d.Stats.Unchanged.Add(1)
		return nil
	}
	if wait > 0 {
		d.Stats.Deferred.Add(1)
		return &store.RetryAfter{Delay: wait, Err: errHeld}
	}
	if event == alert.EventThreatOpened || event == alert.EventThreatUpdated {
		for _, r := range routes {
			if !d.Router.Allow(r, d.Name) {
				d.Stats.RateLimited.Add(1)
				return &store.RetryAfter{Delay: 5 * time.Second, Err: errHeld}
			}
		}
	}
	count := len(t.Timeline) + t.Omitted
	n := &alert.Notification{Schema: alert.NotificationSchema, ID: fmt.Sprintf("%s:%d", t.ID, m.Seq), Event: event, Time: now.UTC(),
		Key: t.ID, URL: d.URL("threat", t.ID), Routes: routes, Threat: &t}
	if prev != nil && count > prev.Count {
		n.NewDetections = count - prev.Count
	} else if prev == nil {
		n.NewDetections = count
	}
	del := &Delivery{N: n}
	if prev != nil {
		del.Thread = prev.Thread
	}
	rc, err := d.send(ctx, m, n, del)
	if errors.Is(err, errDeadLettered) {
		return nil
	}
	if err != nil {
		return err
	}
	next := sent{Seq: m.Seq, At: now, Severity: t.Severity, Status: t.Status, Closed: closed(&t), Count: count, Thread: rc.Thread, Routes: routes}
	if next.Thread == "" && prev != nil {
		next.Thread = prev.Thread
	}
	b, _ := json.Marshal(next)
	if err := d.State.Put(ctx, key, b); err != nil {
		// Sent, not remembered: a redelivery would send it again, which
		// receivers dedupe on the notification id.
		d.Stats.StateErrors.Add(1)
		d.Log.Warn("state write failed", zap.String("threat", t.ID), zap.Error(err))
	}
	return nil
}

// send delivers one notification: nil once the receiver accepted it or it
// is dead-lettered; a RetryAfter with the backoff otherwise.
func (d *Dispatcher) send(ctx context.Context, m store.Msg, n *alert.Notification, del *Delivery) (Receipt, error) {
	rc, err := d.Out.Send(ctx, del)
	if err == nil {
		d.noteSent()
		return rc, nil
	}
	d.noteError(err)
	var perm *PermanentError
	if !errors.As(err, &perm) {
		d.Stats.Failed.Add(1)
		if m.Delivered <= 1 {
			d.Log.Warn("delivery failed: retrying", zap.String("notification", n.ID), zap.Error(err))
		}
		return rc, &store.RetryAfter{Delay: d.backoff(m.Delivered), Err: err}
	}
	dl := alert.DeadLetter{Time: d.now().UTC(), Output: d.Name, Error: err.Error(), Status: perm.Status, Notification: n}
	b, _ := json.Marshal(dl)
	if _, perr := d.Dead.Publish(ctx, []store.Msg{{Subject: wire.Subject(d.Env, wire.KindDeadLetter, d.Name), ID: d.Name + ":" + n.ID, Data: b}}); perr != nil {
		return rc, &store.RetryAfter{Delay: d.backoff(m.Delivered), Err: fmt.Errorf("dead letter: %w", perr)}
	}
	d.Stats.DeadLettered.Add(1)
	d.Log.Warn("delivery refused: dead-lettered", zap.String("notification", n.ID), zap.Error(err))
	return rc, errDeadLettered
}

// errDeadLettered: the message is done (acked), nothing was delivered.
var errDeadLettered = errors.New("dead-lettered")

func closed(t *alert.Threat) bool {
	return t.MergedInto != "" || t.Status == alert.StatusResolved || t.Status == alert.StatusRejected
}

// decide says what a threat's new revision is to an output that was last
// sent prev (nil: never), and how long to wait for the quiet period.
func decide(prev *sent, t *alert.Threat, now time.Time, quiet time.Duration) (string, time.Duration) {
	count := len(t.Timeline) + t.Omitted
	switch {
	case prev == nil && closed(t):
		return "", 0 // never sent, already over: nothing to close
	case prev == nil:
		return alert.EventThreatOpened, 0
	case !prev.Closed && closed(t):
		return alert.EventThreatResolved, 0
	case prev.Closed && !closed(t):
		return alert.EventThreatReopened, 0
	case prev.Closed:
		return "", 0
	case t.Status == alert.StatusInProgress && prev.Status != alert.StatusInProgress:
		return alert.EventThreatAcknowledged, 0
	case t.Severity > prev.Severity:
		return alert.EventThreatUpdated, 0 // worse: at once
	case count > prev.Count || t.Severity != prev.Severity:
		if wait := quiet - now.Sub(prev.At); wait > 0 {
			return alert.EventThreatUpdated, wait
		}
		return alert.EventThreatUpdated, 0
	}
	return "", 0
}

func (d *Dispatcher) detection(ctx context.Context, m store.Msg) error {
	var det alert.Detection
	if err := json.Unmarshal(m.Data, &det); err != nil || det.ID == "" {
		d.Stats.Malformed.Add(1)
		return nil
	}
	routes := d.Router.For(d.Name, DetectionSubject(&det))
	if len(routes) == 0 {
		d.Stats.Unrouted.Add(1)
		return nil
	}
	for _, r := range routes {
		if !d.Router.Allow(r, d.Name) {
			d.Stats.RateLimited.Add(1)
			return &store.RetryAfter{Delay: 5 * time.Second, Err: errHeld}
		}
	}
	n := &alert.Notification{Schema: alert.NotificationSchema, ID: det.ID, Event: alert.EventDetection, Time: d.now().UTC(), Key: det.ID,
		URL: d.URL("detection", det.ID), Routes: routes, Detection: &det}
	_, err := d.send(ctx, m, n, &Delivery{N: n})
	if errors.Is(err, errDeadLettered) {
		return nil
	}
	return err
}
