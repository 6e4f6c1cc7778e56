package correlate

import (
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
)

// A pair is a host and a remote address a runtime detection of it names.
type pair struct{ host, remote string }

// flow is one flow record's contribution to a pair.
type flow struct {
	out         bool
	bytes, pkts int64
	start, end  time.Time
}

// pairFlows are the flows seen for a pair, kept until a threat takes them
// (any order) or the retention passes.
type pairFlows struct {
	seen  map[string]bool // record ids
	flows []flow
	taken string // the threat that has them
	last  time.Time
}

// maxPendingPairs bounds the flows kept for pairs no threat has yet.
const maxPendingPairs = 100000

// remotes are the remote addresses a runtime detection names (the peers
// of its connect events), with its host.
func remotes(d *alert.Detection) []pair {
	a := d.Evidence.Alert
	if a == nil {
		return nil
	}
	var out []pair
	for _, ev := range a.Events {
		if ev == nil || ev.Net == nil || ev.Net.DstAddr == "" || ev.Net.Family == "unix" {
			continue
		}
		p := pair{host: a.Host.ID, remote: ev.Net.DstAddr}
		if !containsPair(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func containsPair(l []pair, p pair) bool {
	for _, x := range l {
		if x == p {
			return true
		}
	}
	return false
}

// Flow adds a flow record to the threat whose host talked to that remote
// (the bytes and the duration of the exchange), or keeps it for the threat
// that names the pair later. It returns the threats that changed.
func (e *Engine) Flow(r *cloudevent.Record) []*alert.Threat {
	f := r.Flow
	if f == nil || f.SrcAddr == "" || f.DstAddr == "" {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	fl := flow{bytes: f.Bytes, pkts: f.Packets, start: time.Unix(f.Start, 0).UTC(), end: time.Unix(f.End, 0).UTC()}
	var p pair
	if h := e.graph.HostOfIP(f.SrcAddr); h != "" {
		p, fl.out = pair{h, f.DstAddr}, true
	} else if h := e.graph.HostOfIP(f.DstAddr); h != "" {
		p = pair{h, f.SrcAddr}
	} else if h := e.graph.HostOfInstance(f.InstanceID); h != "" && f.InstanceID != "" {
		p, fl.out = pair{h, f.DstAddr}, true
	} else {
		return nil
	}
	pf := e.flows[p]
	if pf == nil {
		if len(e.flows) >= maxPendingPairs {
			e.expireFlows(true)
		}
		pf = &pairFlows{seen: map[string]bool{}}
		e.flows[p] = pf
	}
	if pf.seen[r.ID] {
		return nil
	}
	pf.seen[r.ID] = true
	pf.flows = append(pf.flows, fl)
	if fl.end.After(pf.last) {
		pf.last = fl.end
	}
	if r.Time.After(e.latest) {
		e.latest = r.Time
	}
	st := e.threats[pf.taken]
	if st == nil || st.t.MergedInto != "" {
		return nil
	}
	e.stats.Flows++
	return e.finish(map[string]*state{st.t.ID: st})
}

// takeFlows gives a threat the flows of the pairs its detection names.
func (e *Engine) takeFlows(st *state, d *alert.Detection) {
	for _, p := range remotes(d) {
		st.pairs[p] = true
		pf := e.flows[p]
		if pf == nil {
			pf = &pairFlows{seen: map[string]bool{}}
			e.flows[p] = pf
		}
		pf.taken = st.t.ID
	}
}

// network sums the flows of a threat's pairs.
func (e *Engine) network(st *state) []alert.Exchange {
	var out []alert.Exchange
	for p := range st.pairs {
		pf := e.flows[p]
		if pf == nil || len(pf.flows) == 0 {
			continue
		}
		x := alert.Exchange{Host: p.host, Remote: p.remote}
		for _, f := range pf.flows {
			if f.out {
				x.BytesOut += f.bytes
			} else {
				x.BytesIn += f.bytes
			}
			x.Packets += f.pkts
			x.Flows++
			if x.First.IsZero() || f.start.Before(x.First) {
				x.First = f.start
			}
			if f.end.After(x.Last) {
				x.Last = f.end
			}
		}
		x.Seconds = x.Last.Sub(x.First).Seconds()
		out = append(out, x)
	}
	return out
}

// expireFlows drops pairs no threat has whose flows are older than the
// retention (all such pairs when full).
func (e *Engine) expireFlows(full bool) {
	cut := e.latest.Add(-e.cfg.Retention)
	for p, pf := range e.flows {
		if pf.taken == "" && (full || pf.last.Before(cut)) {
			delete(e.flows, p)
		}
	}
}
