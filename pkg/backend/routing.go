package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend/lease"
	"github.com/vigil-sec/vigil/pkg/backend/route"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// routeStateTTL is how long what was sent of a threat is remembered.
const routeStateTTL = 90 * 24 * time.Hour

// routing is the delivery of threats and detections to the outputs: one
// dispatcher per output, consuming (while this instance holds the routing
// lease) its durable consumers.
type routing struct {
	dispatchers []*route.Dispatcher
	router      *route.Router
	// leading: this instance holds the routing lease.
	leading atomic.Bool
	dead    *deadLetters
}

// deadLetters keeps the latest dead letters (every instance follows the
// dead-letter stream) for the API and the UI.
type deadLetters struct {
	mu    sync.Mutex
	items []alert.DeadLetter
	total int
}

const maxDeadLetters = 200

func (d *deadLetters) add(m store.Msg) {
	var dl alert.DeadLetter
	if json.Unmarshal(m.Data, &dl) != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.total++
	d.items = append(d.items, dl)
	if len(d.items) > maxDeadLetters {
		d.items = append([]alert.DeadLetter(nil), d.items[len(d.items)-maxDeadLetters:]...)
	}
}

// count is how many dead letters were read.
func (d *deadLetters) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total
}

// recent is the latest dead letters, newest first.
func (d *deadLetters) recent(n int) ([]alert.DeadLetter, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]alert.DeadLetter, 0, min(n, len(d.items)))
	for i := len(d.items) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, d.items[i])
	}
	return out, d.total
}

// newRouting builds the outputs of the configuration; a file an output
// needs (a key, a certificate, an unwritable path) fails the start.
func (b *Backend) newRouting() error {
	r := &routing{router: route.NewRouter(b.cfg.Routes), dead: &deadLetters{}}
	ui := b.cfg.UIBase()
	lookup := b.lookupDetection
	if !r.router.NeedsDetections() {
		lookup = nil
	}
	for _, oc := range b.cfg.Outputs {
		out, err := route.New(oc)
		if err != nil {
			r.close()
			return err
		}
		r.dispatchers = append(r.dispatchers, &route.Dispatcher{Name: oc.Name, Type: oc.Type, Out: out, Router: r.router, Env: b.cfg.Env,
			UIURL: ui, Quiet: b.cfg.Routing.QuietPeriod, RetryMax: b.cfg.Routing.RetryMax, Lookup: lookup,
			Log: b.log.Named("route").With(zap.String("output", oc.Name))})
	}
	b.routing = r
	return nil
}

func (r *routing) close() {
	for _, d := range r.dispatchers {
		_ = d.Out.Close()
	}
}

// lookupDetection finds a detection in the index (for routes on tags and
// host tags).
func (b *Backend) lookupDetection(id string) (*alert.Detection, bool) {
	raw, ok := b.index.Get(id)
	if !ok {
		return nil, false
	}
	var d alert.Detection
	if json.Unmarshal(raw, &d) != nil {
		return nil, false
	}
	return &d, true
}

// consumers are the durable consumers of the outputs: the threats'
// revisions and the detections, as their routes need.
func (r *routing) consumers() []routeConsumer {
	var out []routeConsumer
	for _, d := range r.dispatchers {
		threats, detections := r.router.Kinds(d.Name)
		// Outputs are slow next to the streams (a receiver's round trip):
		// small batches, and a long ack wait for a receiver that answers
		// slowly, so nothing is redelivered while it is being sent.
		if threats {
			out = append(out, routeConsumer{d: d, h: d.Threats, spec: store.ConsumerSpec{Stream: wire.ThreatKVStream, Filter: wire.ThreatKVSubjects,
				Durable: wire.RouteConsumer(d.Name, route.KindThreats), DeliverNew: true, Batch: 32, AckWait: 5 * time.Minute}})
		}
		if detections {
			out = append(out, routeConsumer{d: d, h: d.Detections, spec: store.ConsumerSpec{Stream: wire.DetectionStream,
				Durable: wire.RouteConsumer(d.Name, route.KindDetections), DeliverNew: true, Batch: 32, AckWait: 5 * time.Minute}})
		}
	}
	return out
}

type routeConsumer struct {
	d    *route.Dispatcher
	h    store.Handler
	spec store.ConsumerSpec
}

// startRouting creates the outputs' consumers (now, so that what happens
// from this start on is delivered whoever routes), follows the dead
// letters, and routes while this instance holds the routing lease.
func (b *Backend) startRouting(ctx context.Context, leaseKV *store.KV, run func(string, func(context.Context) error)) error {
	r := b.routing
	run("dead-letters", func(c context.Context) error {
		return b.conn.Follow(c, wire.DeadLetterStream, "", time.Time{}, r.dead.add)
	})
	if len(r.dispatchers) == 0 {
		return nil
	}
	state, err := b.conn.EnsureKVTTL(ctx, wire.RouteBucket, b.cfg.Replicas(), routeStateTTL)
	if err != nil {
		return err
	}
	cons := r.consumers()
	for _, c := range cons {
		c.d.State, c.d.Dead = state, b.conn
		if err := b.conn.EnsureConsumer(ctx, c.spec); err != nil {
			return err
		}
	}
	host, _ := os.Hostname()
	g := &lease.Group{KV: leaseKV, Key: "routing", N: 1, Owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), b.natsURL),
		TTL: LeaseTTL, Log: b.log.Named("route")}
	run("routing", func(c context.Context) error {
		return g.Run(c, func(lc context.Context, _ int) error {
			r.leading.Store(true)
			defer r.leading.Store(false)
			b.log.Named("route").Info("routing", zap.Int("outputs", len(r.dispatchers)))
			var wg sync.WaitGroup
			errc := make(chan error, len(cons))
			for _, rc := range cons {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := b.conn.Consume(lc, rc.spec, rc.h); err != nil && lc.Err() == nil {
						errc <- fmt.Errorf("%s: %w", rc.spec.Durable, err)
					}
				}()
			}
			var err error
			select {
			case <-lc.Done():
			case err = <-errc:
			}
			wg.Wait()
			return err
		})
	})
	return nil
}

// Leading tells whether this instance routes.
func (r *routing) Leading() bool { return r.leading.Load() }

// snapshots are the outputs' counters.
func (r *routing) snapshots() []route.Snapshot {
	out := make([]route.Snapshot, 0, len(r.dispatchers))
	for _, d := range r.dispatchers {
		out = append(out, d.Snapshot())
	}
	return out
}

// OutputsStatus is GET /api/v1/outputs.
type OutputsStatus struct {
	// Leading: this instance routes (its counters are the live ones).
	Leading bool               `json:"leading"`
	Outputs []route.Snapshot   `json:"outputs"`
	Dead    []alert.DeadLetter `json:"dead_letters"`
	// DeadTotal counts the dead letters in the stream's retention.
	DeadTotal int `json:"dead_letters_total"`
}

func (b *Backend) outputs(context.Context) any {
	r := b.routing
	s := OutputsStatus{Leading: r.Leading(), Outputs: r.snapshots()}
	s.Dead, s.DeadTotal = r.dead.recent(50)
	return s
}
