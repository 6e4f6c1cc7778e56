package cloud

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
)

// Stats are a Detector's counters.
type Stats struct {
	Records    atomic.Uint64 // evaluated
	Matches    atomic.Uint64 // rule conditions that held
	Detections atomic.Uint64 // made
	EvalErrors atomic.Uint64 // conditions or keys that failed to evaluate (counted, never fatal)
	Evicted    atomic.Uint64 // threshold keys forgotten to stay within MaxKeys
}

// Detector evaluates cloud rules over records on event time. Not safe for
// concurrent use: one detector per consumer.
type Detector struct {
	rs    *Ruleset
	env   Env
	vm    vm.VM
	state map[int]map[string]*window // threshold rule index -> key -> window
	seen  map[int]*novelty           // first_seen rule index -> what it has seen
	// MaxKeys bounds the keys a threshold rule keeps (default 100,000).
	MaxKeys int
	Stats   Stats
}

// window is one threshold key's recent matches.
type window struct {
	hits   []hit             // the latest Count matches, by event time
	recs   []json.RawMessage // the latest few, as evidence
	latest time.Time
	fired  time.Time
}

// hit is a threshold match: its event time and its record.
type hit struct {
	at time.Time
	id string
}

// maxEvidence bounds the records a threshold detection carries.
const maxEvidence = 10

// NewDetector makes a detector over rs.
func NewDetector(rs *Ruleset) *Detector {
	return &Detector{rs: rs, state: map[int]map[string]*window{}, seen: map[int]*novelty{}, MaxKeys: 100000}
}

// Ruleset is the detector's rules.
func (d *Detector) Ruleset() *Ruleset { return d.rs }

// Detect evaluates r and returns its detections (usually none).
func (d *Detector) Detect(r *cloudevent.Record) []alert.Detection {
	d.Stats.Records.Add(1)
	cands := d.rs.Candidates(r)
	if len(cands) == 0 {
		return nil
	}
	d.env.Reset(r)
	var out []alert.Detection
	for _, c := range cands {
		if c.Parts != 0 && r.CloudTrail != nil {
			r.CloudTrail.Decode(c.Parts)
		}
		v, err := d.vm.Run(c.Cond, &d.env)
		if err != nil {
			d.Stats.EvalErrors.Add(1)
			continue
		}
		if ok, _ := v.(bool); !ok {
			continue
		}
		d.Stats.Matches.Add(1)
		if c.FirstSeen != nil {
			if det, ok := d.firstSeen(c, r); ok {
				out = append(out, det)
			}
			continue
		}
		if c.Threshold == nil {
			det := d.detection(c, r, []json.RawMessage{r.Raw})
			det.ID = id(c.Name, r.Source, r.EventKey())
			out = append(out, det)
			continue
		}
		if det, ok := d.threshold(c, r); ok {
			out = append(out, det)
		}
	}
	d.Stats.Detections.Add(uint64(len(out)))
	return out
}

// threshold counts a match of a threshold rule; it fires once per window
// when Count matches of one key fall within Within of each other (event
// time, so late and out-of-order records count where they belong).
func (d *Detector) threshold(c *Compiled, r *cloudevent.Record) (alert.Detection, bool) {
	kv, err := d.vm.Run(c.Key, &d.env)
	if err != nil {
		d.Stats.EvalErrors.Add(1)
		return alert.Detection{}, false
	}
	key := str(kv)
	m := d.state[c.Index]
	if m == nil {
		m = map[string]*window{}
		d.state[c.Index] = m
	}
	w := m[key]
	if w == nil {
		if len(m) >= d.MaxKeys {
			d.Stats.Evicted.Add(uint64(evictOldest(m, func(w *window) time.Time { return w.latest })))
		}
		w = &window{}
		m[key] = w
	}
	// The window keeps the Count latest matches, sorted by event time: the
	// rule holds when they span less than Within. Bounded by Count,
	// whatever the rate (a burst of 100,000 denied calls keeps 10). A
	// record counted already (sent in two batches, or its batch
	// redelivered) is not counted again.
	if slices.ContainsFunc(w.hits, func(h hit) bool { return h.id == r.ID }) {
		return alert.Detection{}, false
	}
	t := r.Time
	if t.After(w.latest) {
		w.latest = t
	}
	i := sort.Search(len(w.hits), func(i int) bool { return w.hits[i].at.After(t) })
	w.hits = slices.Insert(w.hits, i, hit{at: t, id: r.ID})
	if len(w.hits) > c.Threshold.Count {
		w.hits = w.hits[len(w.hits)-c.Threshold.Count:]
	}
	w.recs = append(w.recs, r.Raw)
	if len(w.recs) > maxEvidence {
		w.recs = w.recs[len(w.recs)-maxEvidence:]
	}
	if len(w.hits) < c.Threshold.Count {
		return alert.Detection{}, false
	}
	first := w.hits[0].at
	if w.hits[len(w.hits)-1].at.Sub(first) >= c.Threshold.Within {
		return alert.Detection{}, false
	}
	if !w.fired.IsZero() && w.latest.Sub(w.fired) < c.Threshold.Within {
		return alert.Detection{}, false // this burst already fired
	}
	w.fired = w.latest
	det := d.detection(c, r, append([]json.RawMessage(nil), w.recs...))
	det.ID = id(c.Name, r.Source, key, first.Truncate(c.Threshold.Within).Format(time.RFC3339))
	det.Message = fmt.Sprintf("%s (%d in %s)", det.Message, len(w.hits), c.Threshold.Within)
	return det, true
}

// novelty is what a first_seen rule has seen: each key's first event time,
// and the earliest event time of all (where learning started).
type novelty struct {
	start time.Time
	keys  map[string]time.Time
}

// firstSeen fires when a key appears for the first time after the rule's
// learning period. Keys are bounded by MaxKeys (the oldest tenth is
// forgotten and counted: one of them may alert again).
func (d *Detector) firstSeen(c *Compiled, r *cloudevent.Record) (alert.Detection, bool) {
	kv, err := d.vm.Run(c.Seen, &d.env)
	if err != nil {
		d.Stats.EvalErrors.Add(1)
		return alert.Detection{}, false
	}
	key := str(kv)
	if key == "" {
		return alert.Detection{}, false
	}
	n := d.seen[c.Index]
	if n == nil {
		n = &novelty{start: r.Time, keys: map[string]time.Time{}}
		d.seen[c.Index] = n
	}
	if r.Time.Before(n.start) {
		n.start = r.Time
	}
	if first, ok := n.keys[key]; ok {
		if r.Time.Before(first) {
			n.keys[key] = r.Time
		}
		return alert.Detection{}, false
	}
	if len(n.keys) >= d.MaxKeys {
		d.Stats.Evicted.Add(uint64(evictOldest(n.keys, func(t time.Time) time.Time { return t })))
	}
	n.keys[key] = r.Time
	if r.Time.Sub(n.start) < c.FirstSeen.Learn {
		return alert.Detection{}, false // still learning what is usual
	}
	det := d.detection(c, r, []json.RawMessage{r.Raw})
	det.ID = id(c.Name, r.Source, "first", key)
	return det, true
}

// evictOldest forgets the tenth of m's keys whose time is oldest and
// returns how many it forgot.
func evictOldest[V any](m map[string]V, at func(V) time.Time) int {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return at(m[keys[i]]).Before(at(m[keys[j]])) })
	n := len(keys)/10 + 1
	for _, k := range keys[:n] {
		delete(m, k)
	}
	return n
}

// id is a detection id: the same records make the same id, so a record
// processed twice (redelivery, re-ingestion) is one detection.
func id(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:16])
}

func (d *Detector) detection(c *Compiled, r *cloudevent.Record, evidence []json.RawMessage) alert.Detection {
	det := alert.Detection{
		Schema: alert.DetectionSchema, Source: alert.Source(r.Source), Rule: c.Name, Severity: c.Severity,
		Tactic: c.Tactic, Technique: c.Technique, Tags: c.Tags, Time: r.Time, Message: c.Output.Render(&d.env),
		Description: c.Desc, Remediation: c.Remediation, Env: r.Env, Evidence: alert.Evidence{Records: evidence},
	}
	det.Actors, det.Resources = Entities(r)
	return det
}

// Entities are a record's actors and resources, with the ids the
// correlation joins on.
func Entities(r *cloudevent.Record) (actors, resources []alert.Entity) {
	add := func(l *[]alert.Entity, kind, id, name string) {
		if id == "" || id == "-" {
			return
		}
		for _, e := range *l {
			if e.Kind == kind && e.ID == id {
				return
			}
		}
		*l = append(*l, alert.Entity{Kind: kind, ID: id, Name: name})
	}
	switch {
	case r.CloudTrail != nil:
		ct := r.CloudTrail
		ct.Decode(cloudevent.PartRequest | cloudevent.PartResponse)
		u := ct.UserIdentity
		name := string(u.UserName)
		if name == "" {
			name = string(u.SessionContext.SessionIssuer.UserName)
		}
		add(&actors, alert.KindPrincipal, ct.Actor, name)
		add(&actors, alert.KindAccessKey, string(u.AccessKeyID), "")
		if !ct.FromService && cloudevent.IsIP(string(ct.SourceIPAddress)) {
			add(&actors, alert.KindIP, string(ct.SourceIPAddress), "")
		}
		add(&actors, alert.KindUserAgent, string(ct.UserAgent), "")
		add(&resources, alert.KindAccount, r.Key, "")
		add(&resources, alert.KindRegion, string(ct.AWSRegion), "")
		if u.Type == "AssumedRole" {
			// The session name of an instance role is the instance id.
			if parts := strings.Split(string(u.ARN), "/"); len(parts) == 3 && strings.HasPrefix(strings.ToLower(parts[2]), "i-") {
				add(&resources, alert.KindInstance, parts[2], "")
			}
		}
		for _, id := range instanceIDs(ct.RequestParameters) {
			add(&resources, alert.KindInstance, id, "")
		}
		for _, id := range instanceIDs(ct.ResponseElements) {
			add(&resources, alert.KindInstance, id, "")
		}
		if ct.EventSource == "ssm.amazonaws.com" {
			// What the command or session runs on the host names them in
			// its ancestry (alert.FromAlert): the correlation joins on them.
			if t := str(ct.RequestParameters["target"]); strings.HasPrefix(t, "i-") || strings.HasPrefix(t, "mi-") {
				add(&resources, alert.KindInstance, t, "")
			}
			if cmd, ok := ct.ResponseElements["command"].(map[string]any); ok {
				add(&resources, alert.KindSSMCommand, str(cmd["commandId"]), "")
			}
			add(&resources, alert.KindSSMSession, str(ct.ResponseElements["sessionId"]), "")
		}
		if v := str(ct.RequestParameters["roleName"]); v != "" {
			add(&resources, alert.KindRole, v, "")
		}
		if v := str(ct.RequestParameters["userName"]); v != "" {
			add(&resources, alert.KindIAMUser, v, "")
		}
		if v := str(ct.RequestParameters["bucketName"]); v != "" {
			add(&resources, alert.KindBucket, v, "")
		}
		for _, res := range ct.Resources {
			add(&resources, alert.KindARN, string(res.ARN), string(res.Type))
		}
	case r.Flow != nil:
		f := r.Flow
		add(&actors, alert.KindIP, f.SrcAddr, "")
		add(&resources, alert.KindIP, f.DstAddr, "")
		add(&resources, alert.KindInterface, f.InterfaceID, "")
		add(&resources, alert.KindInstance, f.InstanceID, "")
		add(&resources, alert.KindVPC, f.VPCID, "")
		add(&resources, alert.KindAccount, f.AccountID, "")
	case r.K8s != nil:
		k := r.K8s
		add(&actors, alert.KindK8sUser, string(k.User.Username), "")
		if k.ImpersonatedUser.Username != "" {
			add(&actors, alert.KindK8sUser, string(k.ImpersonatedUser.Username), "impersonated")
		}
		add(&actors, alert.KindIP, k.SourceIP, "")
		add(&actors, alert.KindUserAgent, string(k.UserAgent), "")
		add(&resources, alert.KindCluster, r.Key, "")
		o := k.ObjectRef
		add(&resources, alert.KindNamespace, string(o.Namespace), "")
		if name := k.ObjectName; o.Resource == "pods" && name != "" {
			add(&resources, alert.KindPod, o.Namespace+"/"+name, "")
		} else if o.Resource != "" && name != "" {
			add(&resources, alert.KindK8sObject, o.Resource+"/"+o.Namespace+"/"+name, "")
		}
	}
	return actors, resources
}

// instanceIDs finds EC2 instance ids in request parameters or response
// elements: instanceId, instanceIds, and instancesSet.items[].instanceId.
func instanceIDs(m map[string]any) []string {
	if m == nil {
		return nil
	}
	var out []string
	if v, ok := m["instanceId"].(string); ok {
		out = append(out, v)
	}
	out = append(out, list(m["instanceIds"])...)
	if set, ok := m["instancesSet"].(map[string]any); ok {
		items, _ := set["items"].([]any)
		for _, it := range items {
			im, _ := it.(map[string]any)
			if v, ok := im["instanceId"].(string); ok {
				out = append(out, v)
			}
		}
	}
	return out
}
