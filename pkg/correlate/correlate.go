// Package correlate joins detections into threats: an entity graph fed by
// heartbeats, detections and cloud records links hosts, instances, their
// addresses and role sessions; detections that share an entity within a
// window of event time are one threat. Pure: no I/O, no clock but the one
// injected; the backend's stage persists what it returns.
package correlate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
)

// Config tunes the joins.
type Config struct {
	// Window: a detection joins a threat whose event-time span, widened by
	// Window on both sides, contains it (default 1h).
	Window time.Duration
	// Retention: entity state and threats are kept this long after their
	// last event (default 24h), whatever the order records arrive in.
	Retention time.Duration
	// CrownJewels are host tags (key=value, or key for any value) that
	// raise a threat's severity.
	CrownJewels []string
	// Graph is the entity graph to use (a new one when nil): engines of
	// successive terms share the one heartbeats feed.
	Graph *Graph
}

func (c *Config) defaults() {
	if c.Window <= 0 {
		c.Window = time.Hour
	}
	if c.Retention <= 0 {
		c.Retention = 24 * time.Hour
	}
}

// Stats are the engine's counters.
type Stats struct {
	Detections, Duplicates, Opened, Joined, Merged, Pending, Derived, Flows uint64
}

// Engine is the correlation state. Safe for concurrent use.
type Engine struct {
	mu    sync.Mutex
	cfg   Config
	now   func() time.Time
	graph *Graph
	// threats by id (open and recent, merged ones dropped), the member
	// detections' join keys, and which threat each detection is in.
	threats map[string]*state
	byKey   map[string]map[string]bool // join key -> threat ids
	member  map[string]string          // detection id -> threat id
	// pending: detections below the opening severity, kept in case a
	// threat on one of their entities opens later (any arrival order).
	pending      map[string]*pendingDet
	pendingByKey map[string]map[string]bool // join key -> pending detection ids
	adds         uint64
	// flows by host and remote address (flow logs), for the threats whose
	// detections name the pair.
	flows  map[pair]*pairFlows
	latest time.Time // the latest event time seen
	stats  Stats
}

type state struct {
	t       *alert.Threat
	keys    map[string]bool
	members map[string]*member
	pairs   map[pair]bool // hosts and remotes its detections name
}

type pendingDet struct {
	d    *alert.Detection
	keys map[string]bool
}

// MaxTimeline bounds the detections a threat lists (a host that keeps
// alerting for hours); the rest are counted in Omitted.
const MaxTimeline = 5000

// member is what a threat keeps of a detection.
type member struct {
	entry     alert.TimelineEntry
	actors    []alert.Entity
	resources []alert.Entity
}

// New makes an engine; now is the wall clock (for Updated).
func New(cfg Config, now func() time.Time) *Engine {
	cfg.defaults()
	if now == nil {
		now = time.Now
	}
	g := cfg.Graph
	if g == nil {
		g = NewGraph()
	}
	return &Engine{cfg: cfg, now: now, graph: g, threats: map[string]*state{}, byKey: map[string]map[string]bool{},
		member: map[string]string{}, pending: map[string]*pendingDet{}, pendingByKey: map[string]map[string]bool{}, flows: map[pair]*pairFlows{}}
}

// Graph is the engine's entity graph.
func (e *Engine) Graph() *Graph { return e.graph }

// Stats returns the counters.
// Len is how many threats the engine holds (open and recent).
func (e *Engine) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.threats)
}

func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Pending = uint64(len(e.pending))
	return s
}

// LargeTransfer is how many bytes sent to a threat's remote raise its
// severity (exfiltration).
const LargeTransfer = 10 << 20

// opens: a detection at or above this severity opens a threat; below it,
// it only joins one.
const opens = alert.Medium

// keys are the join keys of a detection: the entities that identify one
// attack's scope (a host, an instance, a role session, an access key, a
// pod, a container, a Kubernetes user), the graph's aliases included. An
// account, a region or a user agent is shared by too much to join on.
func (e *Engine) keys(d *alert.Detection) map[string]bool {
	out := map[string]bool{}
	add := func(kind, id string) {
		if id != "" {
			out[kind+":"+id] = true
		}
	}
	for _, l := range [][]alert.Entity{d.Actors, d.Resources} {
		for _, en := range l {
			switch en.Kind {
			case alert.KindHost, alert.KindInstance, alert.KindPod, alert.KindContainer, alert.KindAccessKey, alert.KindK8sUser,
				alert.KindSSMCommand, alert.KindSSMSession:
				add(en.Kind, en.ID)
			case alert.KindPrincipal:
				// A role's sessions are many callers: the session (its
				// instance, for an instance role) is the key, not the role.
				if !strings.Contains(en.ID, ":role/") {
					add(en.Kind, en.ID)
				}
			}
			if en.Kind == alert.KindInstance {
				add(alert.KindHost, e.graph.HostOfInstance(en.ID))
			}
			if en.Kind == alert.KindHost {
				add(alert.KindInstance, e.graph.InstanceOfHost(en.ID))
			}
		}
	}
	return out
}

// Add joins d into a threat and returns the threats that changed (the
// one it joined or opened, and those merged into it), or none: a
// duplicate, or a detection below the opening severity with no threat to
// join yet (kept pending).
func (e *Engine) Add(d *alert.Detection) []*alert.Threat {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats.Detections++
	if _, dup := e.member[d.ID]; dup {
		e.stats.Duplicates++
		return nil
	}
	if e.pending[d.ID] != nil {
		e.stats.Duplicates++
		return nil
	}
	if d.Time.After(e.latest) {
		e.latest = d.Time
	}
	if a := d.Evidence.Alert; a != nil {
		e.graph.Observe(a.Host.Info, time.Time{}) // an alert's identity, never newer than a heartbeat's
	}
	if e.adds++; e.adds%4096 == 0 {
		e.expire()
	}
	keys := e.keys(d)
	cands := e.candidates(keys, d.Time)
	if len(cands) == 0 {
		if d.Severity < opens {
			e.addPending(d, keys)
			return nil
		}
		st := e.open(d)
		e.stats.Opened++
		changed := map[string]*state{st.t.ID: st}
		e.absorbPending(st)
		return e.finish(changed)
	}
	// Join the earliest candidate; merge the others into it.
	sort.Slice(cands, func(i, j int) bool { return earlier(cands[i].t, cands[j].t) })
	st := cands[0]
	changed := map[string]*state{st.t.ID: st}
	for _, other := range cands[1:] {
		e.merge(st, other)
		changed[other.t.ID] = other
	}
	e.addMember(st, d, keys)
	e.stats.Joined++
	e.absorbPending(st)
	return e.finish(changed)
}

func earlier(a, b *alert.Threat) bool {
	if !a.FirstSeen.Equal(b.FirstSeen) {
		return a.FirstSeen.Before(b.FirstSeen)
	}
	return a.ID < b.ID
}

// candidates are the live threats sharing a key with a detection at t.
func (e *Engine) candidates(keys map[string]bool, t time.Time) []*state {
	seen := map[string]bool{}
	var out []*state
	for k := range keys {
		for id := range e.byKey[k] {
			st := e.threats[id]
			if seen[id] || st == nil || !e.live(st) || !e.within(st.t, t) {
				continue
			}
			seen[id] = true
			out = append(out, st)
		}
	}
	return out
}

// live: a resolved or rejected threat takes no more detections (a new one
// opens instead, so triaged work is not reopened silently).
func (e *Engine) live(st *state) bool {
	return st.t.MergedInto == "" && (st.t.Status == alert.StatusOpen || st.t.Status == alert.StatusInProgress)
}

func (e *Engine) within(t *alert.Threat, at time.Time) bool {
	return !at.Before(t.FirstSeen.Add(-e.cfg.Window)) && !at.After(t.LastSeen.Add(e.cfg.Window))
}

// ThreatID is the id of the threat a detection opens.
func ThreatID(detectionID string) string {
	h := sha256.Sum256([]byte("threat\x00" + detectionID))
	return "thr-" + hex.EncodeToString(h[:10])
}

func (e *Engine) open(d *alert.Detection) *state {
	t := &alert.Threat{Schema: alert.ThreatSchema, ID: ThreatID(d.ID), Status: alert.StatusOpen, Env: d.Env,
		Scope: cloudevent.Token(d.Scope()), FirstSeen: d.Time, LastSeen: d.Time}
	st := &state{t: t, keys: map[string]bool{}, members: map[string]*member{}, pairs: map[pair]bool{}}
	e.threats[t.ID] = st
	e.addMember(st, d, e.keys(d))
	return st
}

func (e *Engine) addMember(st *state, d *alert.Detection, keys map[string]bool) {
	if st.t.FirstSeen.IsZero() || d.Time.Before(st.t.FirstSeen) {
		st.t.FirstSeen = d.Time
	}
	if d.Time.After(st.t.LastSeen) {
		st.t.LastSeen = d.Time
	}
	e.member[d.ID] = st.t.ID
	if len(st.members) >= MaxTimeline {
		st.t.Omitted++
		return
	}
	st.members[d.ID] = &member{
		entry: alert.TimelineEntry{Time: d.Time, Detection: d.ID, Source: d.Source, Rule: d.Rule, Severity: d.Severity,
			Tactic: d.Tactic, Technique: d.Technique, Message: d.Message},
		actors: d.Actors, resources: d.Resources,
	}
	e.member[d.ID] = st.t.ID
	for k := range keys {
		e.index(st, k)
	}
	e.takeFlows(st, d)
}

func (e *Engine) index(st *state, k string) {
	st.keys[k] = true
	m := e.byKey[k]
	if m == nil {
		m = map[string]bool{}
		e.byKey[k] = m
	}
	m[st.t.ID] = true
}

// merge moves other's members into st; other is marked merged.
func (e *Engine) merge(st, other *state) {
	for id, m := range other.members {
		st.members[id] = m
		e.member[id] = st.t.ID
	}
	for k := range other.keys {
		delete(e.byKey[k], other.t.ID)
		e.index(st, k)
	}
	for p := range other.pairs {
		st.pairs[p] = true
		if pf := e.flows[p]; pf != nil {
			pf.taken = st.t.ID
		}
	}
	if other.t.FirstSeen.Before(st.t.FirstSeen) {
		st.t.FirstSeen = other.t.FirstSeen
	}
	if other.t.LastSeen.After(st.t.LastSeen) {
		st.t.LastSeen = other.t.LastSeen
	}
	st.t.Omitted += other.t.Omitted
	other.members = map[string]*member{}
	other.t.MergedInto = st.t.ID
	other.t.Timeline = nil
	// A merged threat keeps the analyst's notes, carried to the survivor.
	st.t.Notes = append(st.t.Notes, other.t.Notes...)
	e.stats.Merged++
}

func (e *Engine) addPending(d *alert.Detection, keys map[string]bool) {
	e.pending[d.ID] = &pendingDet{d: d, keys: keys}
	for k := range keys {
		m := e.pendingByKey[k]
		if m == nil {
			m = map[string]bool{}
			e.pendingByKey[k] = m
		}
		m[d.ID] = true
	}
}

func (e *Engine) removePending(id string) {
	p := e.pending[id]
	if p == nil {
		return
	}
	for k := range p.keys {
		delete(e.pendingByKey[k], id)
		if len(e.pendingByKey[k]) == 0 {
			delete(e.pendingByKey, k)
		}
	}
	delete(e.pending, id)
}

// absorbPending moves pending detections that now join st into it, until
// none does (a pending one brings its own entities, and widens the span).
func (e *Engine) absorbPending(st *state) {
	for {
		moved := false
		queue := make([]string, 0, len(st.keys))
		for k := range st.keys {
			queue = append(queue, k)
		}
		for len(queue) > 0 {
			k := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			for id := range e.pendingByKey[k] {
				p := e.pending[id]
				if p == nil || !e.within(st.t, p.d.Time) {
					continue
				}
				e.removePending(id)
				for nk := range p.keys {
					if !st.keys[nk] {
						queue = append(queue, nk)
					}
				}
				e.addMember(st, p.d, p.keys)
				moved = true
			}
		}
		if !moved {
			return
		}
	}
}

// finish recomputes the changed threats and returns copies.
func (e *Engine) finish(changed map[string]*state) []*alert.Threat {
	out := make([]*alert.Threat, 0, len(changed))
	for _, st := range changed {
		if st.t.MergedInto == "" {
			e.recompute(st)
		} else {
			delete(e.threats, st.t.ID)
		}
		st.t.Updated = e.now().UTC()
		c := *st.t
		c.Notes = slices.Clone(c.Notes)
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// expire drops what is older than the retention behind the latest event.
func (e *Engine) expire() {
	cut := e.latest.Add(-e.cfg.Retention)
	for id, p := range e.pending {
		if p.d.Time.Before(cut) {
			e.removePending(id)
		}
	}
	for id, st := range e.threats {
		if st.t.LastSeen.Before(cut) {
			e.drop(id, st)
		}
	}
	e.expireFlows(false)
}

func (e *Engine) drop(id string, st *state) {
	for k := range st.keys {
		delete(e.byKey[k], id)
		if len(e.byKey[k]) == 0 {
			delete(e.byKey, k)
		}
	}
	for d := range st.members {
		delete(e.member, d)
	}
	for p := range st.pairs {
		delete(e.flows, p)
	}
	delete(e.threats, id)
}

// Heartbeat records what a sensor's heartbeat says of its host.
func (e *Engine) Heartbeat(hb *alert.Heartbeat) { e.graph.Observe(&hb.Host, hb.Time) }

// Triage records an analyst's change to a threat (status, resolution,
// notes) so the engine's next update keeps it and a closed threat takes no
// more detections.
func (e *Engine) Triage(t *alert.Threat) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st := e.threats[t.ID]; st != nil {
		st.t.Status, st.t.Resolution, st.t.Notes = t.Status, t.Resolution, t.Notes
	}
}

// Restore loads a stored threat (at start): its timeline, entities and
// triage state, so joins go on where they were.
func (e *Engine) Restore(t *alert.Threat) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.MergedInto != "" || e.threats[t.ID] != nil {
		return
	}
	c := *t
	st := &state{t: &c, keys: map[string]bool{}, members: map[string]*member{}, pairs: map[pair]bool{}}
	// The flows summed so far stand for the pair's flows (their records
	// are not stored one by one).
	for _, x := range t.Network {
		p := pair{x.Host, x.Remote}
		st.pairs[p] = true
		e.flows[p] = &pairFlows{seen: map[string]bool{}, taken: t.ID, last: x.Last, flows: []flow{
			{out: true, bytes: x.BytesOut, pkts: x.Packets, start: x.First, end: x.Last}, {bytes: x.BytesIn, start: x.First, end: x.Last}}}
	}
	d := alert.Detection{Actors: t.Actors, Resources: t.Resources}
	keys := e.keys(&d)
	for _, en := range t.Timeline {
		st.members[en.Detection] = &member{entry: en}
		e.member[en.Detection] = t.ID
	}
	// Entities are the threat's, not per member: the union is what joins.
	if len(t.Timeline) > 0 {
		st.members[t.Timeline[0].Detection].actors, st.members[t.Timeline[0].Detection].resources = t.Actors, t.Resources
	}
	e.threats[t.ID] = st
	for k := range keys {
		e.index(st, k)
	}
	if t.LastSeen.After(e.latest) {
		e.latest = t.LastSeen
	}
}

// recompute derives a threat's chain from its members: timeline, span,
// tactics, sources, entities, main detection, severity and title.
func (e *Engine) recompute(st *state) {
	t := st.t
	ms := make([]*member, 0, len(st.members))
	for _, m := range st.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i].entry, ms[j].entry
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		if ra, rb := alert.TacticRank(a.Tactic), alert.TacticRank(b.Tactic); ra != rb {
			return ra < rb
		}
		return a.Detection < b.Detection
	})
	t.Timeline = make([]alert.TimelineEntry, 0, len(ms))
	t.Tactics, t.Sources, t.Actors, t.Resources, t.Reasons = nil, nil, nil, nil, nil
	var main *alert.TimelineEntry
	for _, m := range ms {
		en := m.entry
		t.Timeline = append(t.Timeline, en)
		if en.Tactic != "" && !slices.Contains(t.Tactics, en.Tactic) {
			t.Tactics = append(t.Tactics, en.Tactic)
		}
		if !slices.Contains(t.Sources, en.Source) {
			t.Sources = append(t.Sources, en.Source)
		}
		t.Actors = union(t.Actors, m.actors)
		t.Resources = union(t.Resources, m.resources)
	}
	for i := range t.Timeline {
		if main == nil || t.Timeline[i].Severity > main.Severity {
			main = &t.Timeline[i]
		}
	}
	sort.SliceStable(t.Tactics, func(i, j int) bool { return alert.TacticRank(t.Tactics[i]) < alert.TacticRank(t.Tactics[j]) })
	slices.Sort(t.Sources)
	if n := len(t.Timeline); n > 0 {
		if t.FirstSeen.IsZero() || t.Timeline[0].Time.Before(t.FirstSeen) {
			t.FirstSeen = t.Timeline[0].Time
		}
		if t.Timeline[n-1].Time.After(t.LastSeen) {
			t.LastSeen = t.Timeline[n-1].Time
		}
	}
	if main == nil {
		return
	}
	t.Main = main.Detection
	sev := main.Severity
	t.Reasons = append(t.Reasons, "main detection: "+main.Rule+" ("+main.Severity.String()+")")
	raise := func(why string) {
		if sev < alert.Critical {
			sev++
		}
		t.Reasons = append(t.Reasons, why)
	}
	if slices.Contains(t.Sources, alert.SourceRuntime) && len(t.Sources) > 1 {
		raise("joins what a host did with what the cloud logs show")
	}
	if e.exposed(t) {
		raise("exposed to the internet")
	}
	if j := e.crownJewel(t); j != "" {
		raise("crown jewel: " + j)
	}
	t.Network = e.network(st)
	sort.Slice(t.Network, func(i, j int) bool { return t.Network[i].BytesOut > t.Network[j].BytesOut })
	for _, x := range t.Network {
		if x.BytesOut >= LargeTransfer {
			raise(fmt.Sprintf("%d bytes sent from %s to %s in %.0f s", x.BytesOut, x.Host, x.Remote, x.Seconds))
			break
		}
	}
	t.Severity = sev
	t.Title = main.Rule + title(t)
}

// title names where the chain happened.
func title(t *alert.Threat) string {
	for _, kind := range []string{alert.KindHost, alert.KindInstance, alert.KindPod, alert.KindPrincipal, alert.KindK8sUser, alert.KindAccessKey} {
		for _, r := range append(append([]alert.Entity(nil), t.Resources...), t.Actors...) {
			if r.Kind == kind && r.ID != "" {
				name := r.Name
				if name == "" || kind == alert.KindPrincipal || kind == alert.KindInstance {
					name = r.ID
				}
				return " on " + name
			}
		}
	}
	return ""
}

func union(a, b []alert.Entity) []alert.Entity {
	for _, x := range b {
		found := false
		for _, y := range a {
			if x.Kind == y.Kind && x.ID == y.ID {
				found = true
				break
			}
		}
		if !found {
			a = append(a, x)
		}
	}
	return a
}

// exposed: a host of the threat has a public address.
func (e *Engine) exposed(t *alert.Threat) bool {
	for _, r := range t.Resources {
		if r.Kind == alert.KindHost || r.Kind == alert.KindInstance {
			if h := e.graph.host(r.Kind, r.ID); h != nil && h.publicIP != "" {
				return true
			}
		}
	}
	return false
}

// crownJewel is the first crown-jewel tag a threat's host carries.
func (e *Engine) crownJewel(t *alert.Threat) string {
	for _, r := range t.Resources {
		if r.Kind != alert.KindHost && r.Kind != alert.KindInstance {
			continue
		}
		h := e.graph.host(r.Kind, r.ID)
		if h == nil {
			continue
		}
		for _, j := range e.cfg.CrownJewels {
			k, v, hasValue := strings.Cut(j, "=")
			if got, ok := h.tags[k]; ok && (!hasValue || got == v) {
				return j
			}
		}
	}
	return ""
}
