// Package index keeps the backend's queryable view of detections: every
// instance follows the detection stream (the system of record) from its
// retained start and indexes what it reads in memory, newest last, bounded
// and deduplicated by detection id. Queries filter by source, severity and
// event time.
package index

import (
	"encoding/json"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
)

// Index is the detection view. Safe for concurrent use.
type Index struct {
	mu    sync.RWMutex
	max   int
	items []entry // in stream order
	ids   map[string]struct{}
	// Counters.
	Indexed   atomic.Uint64
	Dropped   atomic.Uint64 // oldest forgotten to stay within the bound (still in the stream)
	Malformed atomic.Uint64
	Dups      atomic.Uint64
}

type entry struct {
	d   alert.Detection
	raw json.RawMessage
}

// New makes an index of at most max detections.
func New(max int) *Index {
	if max <= 0 {
		max = 200000
	}
	return &Index{max: max, ids: map[string]struct{}{}}
}

// Add indexes a detection message.
func (x *Index) Add(data []byte) {
	var d alert.Detection
	if err := json.Unmarshal(data, &d); err != nil || d.ID == "" {
		x.Malformed.Add(1)
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, dup := x.ids[d.ID]; dup {
		x.Dups.Add(1)
		return
	}
	x.ids[d.ID] = struct{}{}
	x.items = append(x.items, entry{d: d, raw: append(json.RawMessage(nil), data...)})
	x.Indexed.Add(1)
	if over := len(x.items) - x.max; over > 0 {
		n := over + x.max/10
		for _, e := range x.items[:n] {
			delete(x.ids, e.d.ID)
		}
		x.items = append([]entry(nil), x.items[n:]...)
		x.Dropped.Add(uint64(n))
	}
}

// Len is how many detections are indexed.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.items)
}

// Query selects detections.
type Query struct {
	Source      string
	MinSeverity alert.Severity
	Since       time.Time // event time, inclusive
	Until       time.Time // event time, exclusive
	Rule        string
	// EntityKind and EntityID select detections naming that entity (an
	// actor or a resource).
	EntityKind, EntityID string
	Limit                int
}

func names(d *alert.Detection, kind, id string) bool {
	for _, l := range [][]alert.Entity{d.Actors, d.Resources} {
		for _, e := range l {
			if e.Kind == kind && (e.ID == id || e.Name == id) {
				return true
			}
		}
	}
	return false
}

// Find returns matching detections, newest event time first, as stored.
func (x *Index) Find(q Query) []json.RawMessage {
	x.mu.RLock()
	var hits []*entry
	for i := range x.items {
		e := &x.items[i]
		d := &e.d
		if q.Source != "" && string(d.Source) != q.Source || d.Severity < q.MinSeverity ||
			!q.Since.IsZero() && d.Time.Before(q.Since) || !q.Until.IsZero() && !d.Time.Before(q.Until) ||
			q.Rule != "" && d.Rule != q.Rule || q.EntityKind != "" && !names(d, q.EntityKind, q.EntityID) {
			continue
		}
		hits = append(hits, e)
	}
	x.mu.RUnlock()
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].d.Time.After(hits[j].d.Time) })
	if q.Limit > 0 && len(hits) > q.Limit {
		hits = hits[:q.Limit]
	}
	out := make([]json.RawMessage, len(hits))
	for i, e := range hits {
		out[i] = e.raw
	}
	return out
}

// RuleCounts counts the detections of each rule with an event time at or
// after since.
func (x *Index) RuleCounts(since time.Time) map[string]int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := map[string]int{}
	for i := range x.items {
		if d := &x.items[i].d; !d.Time.Before(since) {
			out[d.Rule]++
		}
	}
	return out
}

// Get is one detection as stored, by id (newest first: a threat's are
// recent).
func (x *Index) Get(id string) (json.RawMessage, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if _, ok := x.ids[id]; !ok {
		return nil, false
	}
	for i := len(x.items) - 1; i >= 0; i-- {
		if x.items[i].d.ID == id {
			return x.items[i].raw, true
		}
	}
	return nil, false
}
