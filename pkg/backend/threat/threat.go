// Package threat is the backend's correlation stage: detections from the
// detection stream and CloudTrail records from the cloud stream through
// the correlation engine (pkg/correlate), heartbeats into its entity
// graph, and threats stored in a JetStream KV bucket with compare-and-set
// revisions (analysts' status, resolution and notes are never overwritten
// by the engine). View serves the threats to the API from that bucket.
package threat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend/detect"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/correlate"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// KV is the threats' bucket (store.KV).
type KV interface {
	Get(ctx context.Context, key string) ([]byte, uint64, error)
	Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error)
}

// Bus publishes derived detections and threat updates (store.Conn).
type Bus interface {
	Publish(ctx context.Context, msgs []store.Msg) (store.PublishResult, error)
	Notify(subject string, data []byte) error
}

// Stats are the stage's counters.
type Stats struct {
	Detections atomic.Uint64 // detections correlated
	Records    atomic.Uint64 // cloud records looked at
	Heartbeats atomic.Uint64
	Derived    atomic.Uint64 // detections the graph raised (published)
	Saved      atomic.Uint64 // threat writes
	Conflicts  atomic.Uint64 // writes retried after an analyst's change
	SaveErrors atomic.Uint64 // batches left for redelivery
	Malformed  atomic.Uint64 // messages that could not be decoded (acked, counted)
}

// Stage correlates, in partitions: each Term is one partition's engine,
// run by the instance that holds the partition's lease. The entity graph
// and the sensor inventory are shared by every term and kept on every
// instance (from heartbeats).
type Stage struct {
	terms   []*Term
	graph   *correlate.Graph
	Sensors *correlate.Sensors
	// caughtUp: the heartbeats of the retention have been replayed, so a
	// sensor's last heartbeat is its real last one.
	caughtUp atomic.Bool
	kv       KV
	bus      Bus
	log      *zap.Logger
	Stats    Stats
}

// Term is one partition's correlation: a standby until Begin.
type Term struct {
	s      *Stage
	k      int
	engine atomic.Pointer[correlate.Engine]
	// leading: this instance holds the partition's lease (only then does
	// it consume, and raise sensor detections for partition 0).
	leading atomic.Bool
	mu      sync.Mutex
	dirty   map[string]*alert.Threat // changed, not stored yet (a failed write)
}

// New makes the stage with n partitions (at least 1); newEngine makes a
// term's engine, every one on the same graph.
func New(n int, newEngine func() *correlate.Engine, kv KV, bus Bus, log *zap.Logger) *Stage {
	s := &Stage{Sensors: correlate.NewSensors(), kv: kv, bus: bus, log: log}
	for k := range max(n, 1) {
		t := &Term{s: s, k: k, dirty: map[string]*alert.Threat{}}
		t.engine.Store(newEngine())
		if s.graph == nil {
			s.graph = t.engine.Load().Graph()
		}
		s.terms = append(s.terms, t)
	}
	return s
}

// Partitions is how many partitions the stage has.
func (s *Stage) Partitions() int { return len(s.terms) }

// Term is partition k's term.
func (s *Stage) Term(k int) *Term { return s.terms[k] }

// Partition is the partition that owns a threat (from its scope).
func (s *Stage) Partition(t *alert.Threat) int { return wire.PartitionOf(t.Scope, len(s.terms)) }

// EngineStats sums the terms' engines' counters.
func (s *Stage) EngineStats() correlate.Stats {
	var sum correlate.Stats
	for _, t := range s.terms {
		st := t.Engine().Stats()
		sum.Detections += st.Detections
		sum.Duplicates += st.Duplicates
		sum.Opened += st.Opened
		sum.Joined += st.Joined
		sum.Merged += st.Merged
		sum.Pending += st.Pending
		sum.Derived += st.Derived
		sum.Flows += st.Flows
	}
	return sum
}

// Graph is the entity graph every term shares.
func (s *Stage) Graph() *correlate.Graph { return s.graph }

// Held lists the partitions this instance correlates now.
func (s *Stage) Held() []int {
	var out []int
	for _, t := range s.terms {
		if t.Leading() {
			out = append(out, t.k)
		}
	}
	return out
}

// Leading tells whether this instance correlates any partition now.
func (s *Stage) Leading() bool { return len(s.Held()) > 0 }

// Engine is the term's current engine.
func (t *Term) Engine() *correlate.Engine { return t.engine.Load() }

// Leading tells whether this instance holds the term's partition.
func (t *Term) Leading() bool { return t.leading.Load() }

// Begin starts a term as the partition's owner: a fresh engine (on the
// shared graph) restored from the partition's stored threats, so it goes
// on where the last owner left off.
func (t *Term) Begin(e *correlate.Engine, stored []*alert.Threat) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dirty = map[string]*alert.Threat{}
	t.engine.Store(e)
	t.leading.Store(true) // from here on, changes to the bucket reach e too
	for _, th := range stored {
		if t.s.Partition(th) != t.k {
			continue
		}
		e.Restore(th)
		e.Triage(th)
	}
}

// End ends the term: another instance owns the partition now.
func (t *Term) End() { t.leading.Store(false) }

// Stored gives the owning term's engine a threat as stored (an analyst's
// triage); a standby keeps none (its term starts from the bucket).
func (s *Stage) Stored(th *alert.Threat) {
	t := s.terms[s.Partition(th)]
	if !t.Leading() {
		return
	}
	e := t.Engine()
	e.Restore(th)
	e.Triage(th)
}

// Heartbeat feeds the entity graph and the sensor inventory (a
// store.Follow callback).
func (s *Stage) Heartbeat(m store.Msg) {
	if m.Pending == 0 {
		s.caughtUp.Store(true)
	}
	var hb alert.Heartbeat
	if err := json.Unmarshal(m.Data, &hb); err != nil || hb.Host.ID == "" {
		s.Stats.Malformed.Add(1)
		return
	}
	s.Stats.Heartbeats.Add(1)
	s.graph.Observe(&hb.Host, hb.Time)
	at := m.Time
	if at.IsZero() {
		at = hb.Time
	}
	if back := s.Sensors.Heartbeat(&hb, at); back != nil && s.terms[0].Leading() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.publishDetections(ctx, []*alert.Detection{back}) // counted and logged
	}
}

// WatchSensors raises "Sensor silent" for sensors whose heartbeats stopped,
// checking every tick until ctx ends (once the heartbeats are replayed, or
// after wait with none to replay).
func (s *Stage) WatchSensors(ctx context.Context, tick, wait time.Duration) error {
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if !s.caughtUp.Load() && now.Sub(start) < wait {
				continue
			}
			// A failure is counted and logged; the silence is raised
			// again at the next start.
			_ = s.publishDetections(ctx, s.Sensors.Check(now))
		}
	}
}

// publishDetections stores detections the stage raised; they come back
// through Detections.
func (s *Stage) publishDetections(ctx context.Context, ds []*alert.Detection) error {
	if len(ds) == 0 {
		return nil
	}
	out := make([]store.Msg, 0, len(ds))
	for _, d := range ds {
		dm, err := detect.Message(d)
		if err != nil {
			s.Stats.Malformed.Add(1)
			continue
		}
		out = append(out, dm)
	}
	res, err := s.bus.Publish(ctx, out)
	s.Stats.Derived.Add(uint64(res.Published))
	if err != nil {
		s.Stats.SaveErrors.Add(1)
		s.log.Warn("raised detections not stored", zap.Error(err))
	}
	return err
}

// Detections correlates a batch of the partition's detections (a
// store.Handler).
func (t *Term) Detections(ctx context.Context, msgs []store.Msg) []error {
	s := t.s
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		var d alert.Detection
		if err := json.Unmarshal(m.Data, &d); err != nil || d.ID == "" {
			s.Stats.Malformed.Add(1)
			continue
		}
		s.Stats.Detections.Add(1)
		for _, th := range t.Engine().Add(&d) {
			t.dirty[th.ID] = th
		}
	}
	return t.flush(ctx, len(msgs))
}

// flush stores the changed threats; if one cannot be, the batch is
// redelivered and the write retried with the next batch.
func (t *Term) flush(ctx context.Context, n int) []error {
	s := t.s
	ids := make([]string, 0, len(t.dirty))
	for id := range t.dirty {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := s.save(ctx, t.dirty[id]); err != nil {
			s.Stats.SaveErrors.Add(1)
			s.log.Warn("threat not stored: the batch will be redelivered", zap.String("threat", id), zap.Error(err))
			return store.Retry(n, err)
		}
		delete(t.dirty, id)
	}
	return nil
}

// save writes the engine's view of a threat, keeping what an analyst set
// (status, resolution, notes) in the stored one: compare-and-set, retried
// when the analyst changed it in between.
func (s *Stage) save(ctx context.Context, t *alert.Threat) error {
	for attempt := 0; attempt < 10; attempt++ {
		cur, rev, err := s.kv.Get(ctx, t.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		next := *t
		if rev != 0 {
			var stored alert.Threat
			if json.Unmarshal(cur, &stored) == nil {
				next.Status, next.Resolution = stored.Status, stored.Resolution
				next.Notes = mergeNotes(stored.Notes, t.Notes)
			}
		}
		b, err := json.Marshal(&next)
		if err != nil {
			return err
		}
		if _, err = s.kv.Update(ctx, t.ID, b, rev); errors.Is(err, store.ErrConflict) {
			s.Stats.Conflicts.Add(1)
			continue
		} else if err != nil {
			return err
		}
		s.Stats.Saved.Add(1)
		env := next.Env
		if env == "" {
			env = "default"
		}
		_ = s.bus.Notify(Subject(env, next.ID), b)
		return nil
	}
	return fmt.Errorf("threat %s: still changing after 10 attempts", t.ID)
}

// Subject is where a threat's updates are published: vigil.<env>.threat.<id>.
func Subject(env, id string) string {
	return wire.Subject(cloudevent.Token(env), wire.KindThreat, id)
}

func mergeNotes(stored, engine []alert.Note) []alert.Note {
	out := slices.Clone(stored)
	for _, n := range engine {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// CloudRecords looks at cloud records (one or a batch per message) for
// what the graph reveals: an instance's credentials used elsewhere
// (CloudTrail; the detections are published and come back through
// Detections), and the flows of a threat's host to its remotes (flow
// logs; the threat is updated). A store.Handler.
func (t *Term) CloudRecords(ctx context.Context, msgs []store.Msg) []error {
	s := t.s
	var derived []*alert.Detection
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		cloudevent.EachWire(m.Data, func(r cloudevent.Record, err error) {
			if err != nil {
				s.Stats.Malformed.Add(1)
				return
			}
			s.Stats.Records.Add(1)
			// Flow records: the bytes and duration of a threat's exchanges.
			for _, th := range t.Engine().Flow(&r) {
				t.dirty[th.ID] = th
			}
			if d := t.Engine().Cloud(&r); d != nil {
				derived = append(derived, d)
			}
		})
	}
	if errs := t.flush(ctx, len(msgs)); errs != nil {
		return errs
	}
	if err := s.publishDetections(ctx, derived); err != nil {
		return store.Retry(len(msgs), err)
	}
	return nil
}

// View is every instance's copy of the threats, from the bucket.
type View struct {
	mu      sync.RWMutex
	threats map[string]*alert.Threat
	// OnChange, when set, sees every stored threat (the engine learns an
	// analyst's triage from it).
	OnChange func(*alert.Threat)
	kv       KV
	subMu    sync.Mutex
	subs     map[chan string]struct{}
}

// NewView makes an empty view over kv.
func NewView(kv KV) *View {
	return &View{threats: map[string]*alert.Threat{}, kv: kv, subs: map[chan string]struct{}{}}
}

// Subscribe returns a channel of the ids of threats as they are stored
// (the UI's live updates) and its cancel. A reader that falls behind
// misses ids, never blocks the view: whoever reads one reloads.
func (v *View) Subscribe() (<-chan string, func()) {
	ch := make(chan string, 64)
	v.subMu.Lock()
	v.subs[ch] = struct{}{}
	v.subMu.Unlock()
	return ch, func() {
		v.subMu.Lock()
		delete(v.subs, ch)
		v.subMu.Unlock()
	}
}

func (v *View) notify(id string) {
	v.subMu.Lock()
	defer v.subMu.Unlock()
	for ch := range v.subs {
		select {
		case ch <- id:
		default:
		}
	}
}

// Put records a stored threat (a store.KV.Watch callback; nil: deleted).
func (v *View) Put(key string, data []byte, _ uint64) {
	v.mu.Lock()
	if data == nil {
		delete(v.threats, key)
		v.mu.Unlock()
		return
	}
	var t alert.Threat
	if json.Unmarshal(data, &t) != nil || t.ID == "" {
		v.mu.Unlock()
		return
	}
	v.threats[key] = &t
	v.mu.Unlock()
	if v.OnChange != nil {
		v.OnChange(&t)
	}
	v.notify(t.ID)
}

// Len is how many threats are stored (merged ones included).
func (v *View) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.threats)
}

// All returns every stored threat (merged ones included).
func (v *View) All() []*alert.Threat {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]*alert.Threat, 0, len(v.threats))
	for _, t := range v.threats {
		out = append(out, t)
	}
	return out
}

// Query filters threats; zero values match all.
type Query struct {
	Status   string
	Severity alert.Severity // at least
	Host     string         // a host resource, by id or name
	Rule     string         // a detection's rule
	Tactic   string
	Since    time.Time // last seen at or after
	Limit    int
}

// Find returns the matching threats (merged ones never), most severe
// first, then the most recent.
func (v *View) Find(q Query) []*alert.Threat {
	var out []*alert.Threat
	for _, t := range v.All() {
		if t.MergedInto != "" || (q.Status != "" && t.Status != q.Status) || t.Severity < q.Severity ||
			(!q.Since.IsZero() && t.LastSeen.Before(q.Since)) || (q.Tactic != "" && !slices.Contains(t.Tactics, q.Tactic)) {
			continue
		}
		if q.Host != "" && !slices.ContainsFunc(t.Resources, func(e alert.Entity) bool {
			return e.Kind == alert.KindHost && (e.ID == q.Host || e.Name == q.Host)
		}) {
			continue
		}
		if q.Rule != "" && !slices.ContainsFunc(t.Timeline, func(e alert.TimelineEntry) bool { return e.Rule == q.Rule }) {
			continue
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity > out[j].Severity
		}
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.After(out[j].LastSeen)
		}
		return out[i].ID < out[j].ID
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// Get is one threat; a merged one leads to the threat it became part of.
func (v *View) Get(id string) (*alert.Threat, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	t, ok := v.threats[id]
	for hops := 0; ok && t.MergedInto != "" && hops < 8; hops++ {
		if next, found := v.threats[t.MergedInto]; found {
			t = next
		} else {
			break
		}
	}
	return t, ok
}

// ErrNoThreat is an unknown threat id.
var ErrNoThreat = errors.New("no such threat")

// Update applies an analyst's change (compare-and-set on the stored
// threat, retried on a conflict with the engine) and returns the result;
// a bad field is a *FieldError.
func (v *View) Update(ctx context.Context, id string, u alert.ThreatUpdate, author string, now time.Time) (*alert.Threat, error) {
	for attempt := 0; attempt < 10; attempt++ {
		cur, rev, err := v.kv.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNoThreat
		}
		if err != nil {
			return nil, err
		}
		var t alert.Threat
		if err := json.Unmarshal(cur, &t); err != nil {
			return nil, fmt.Errorf("stored threat %s: %w", id, err)
		}
		if err := u.Apply(&t, author, now); err != nil {
			return nil, &FieldError{Err: err}
		}
		b, _ := json.Marshal(&t)
		if _, err := v.kv.Update(ctx, id, b, rev); errors.Is(err, store.ErrConflict) {
			continue
		} else if err != nil {
			return nil, err
		}
		v.Put(id, b, rev)
		return &t, nil
	}
	return nil, fmt.Errorf("threat %s: still changing after 10 attempts", id)
}

// FieldError is a bad update: its message names the field.
type FieldError struct{ Err error }

func (e *FieldError) Error() string { return e.Err.Error() }
