package correlate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
)

// Graph links a host to its instance id, its addresses and its tags, from
// heartbeats (and the identity on alerts). Safe for concurrent use.
type Graph struct {
	mu         sync.RWMutex
	hosts      map[string]*hostNode
	byInstance map[string]*hostNode
	byIP       map[string]*hostNode
}

type hostNode struct {
	id, name, instance, account string
	privateIP, publicIP         string
	tags                        map[string]string
	seen                        time.Time // last heartbeat (event time)
}

// NewGraph makes an empty graph.
func NewGraph() *Graph {
	return &Graph{hosts: map[string]*hostNode{}, byInstance: map[string]*hostNode{}, byIP: map[string]*hostNode{}}
}

// Observe records a host's identity as a heartbeat or an alert carries it.
func (g *Graph) Observe(info *alert.HostInfo, at time.Time) {
	if info == nil || info.ID == "" {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.hosts[info.ID]
	if h == nil {
		h = &hostNode{id: info.ID}
		g.hosts[info.ID] = h
	}
	if at.Before(h.seen) {
		return // an older view of the host
	}
	h.seen, h.name = at, info.Hostname
	h.tags = map[string]string{}
	for k, v := range info.Tags {
		h.tags[k] = v
	}
	for _, ip := range []string{h.privateIP, h.publicIP} {
		if g.byIP[ip] == h {
			delete(g.byIP, ip)
		}
	}
	h.privateIP, h.publicIP = "", ""
	if c := info.Cloud; c != nil {
		if h.instance != "" && h.instance != c.InstanceID && g.byInstance[h.instance] == h {
			delete(g.byInstance, h.instance)
		}
		h.instance, h.account, h.privateIP, h.publicIP = c.InstanceID, c.AccountID, c.PrivateIP, c.PublicIP
		for k, v := range c.Tags {
			h.tags[k] = v
		}
	}
	if h.instance != "" {
		g.byInstance[h.instance] = h
	}
	for _, ip := range []string{h.privateIP, h.publicIP} {
		if ip != "" {
			g.byIP[ip] = h
		}
	}
}

func (g *Graph) host(kind, id string) *hostNode {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if kind == alert.KindInstance {
		return g.byInstance[id]
	}
	return g.hosts[id]
}

// HostOfInstance is the host id of an instance ("" when unknown).
func (g *Graph) HostOfInstance(instance string) string {
	if h := g.host(alert.KindInstance, instance); h != nil {
		return h.id
	}
	return ""
}

// InstanceOfHost is a host's instance id ("" when unknown).
func (g *Graph) InstanceOfHost(host string) string {
	if h := g.host(alert.KindHost, host); h != nil {
		return h.instance
	}
	return ""
}

// HostOfIP is the host that has an address ("" when none known).
func (g *Graph) HostOfIP(ip string) string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if h := g.byIP[ip]; h != nil {
		return h.id
	}
	return ""
}

// Hosts is how many hosts the graph knows.
func (g *Graph) Hosts() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.hosts)
}

// RuleInstanceCredentialsOutside is the detection the engine derives from
// CloudTrail: an instance role's session used from an address that is not
// its instance's.
const RuleInstanceCredentialsOutside = "Instance credentials used outside the instance"

// InstanceSession is the instance id of an instance role's session ARN
// (arn:aws:sts::ACCOUNT:assumed-role/ROLE/i-0abc), or "".
func InstanceSession(arn string) string {
	parts := strings.Split(arn, "/")
	if len(parts) != 3 || !strings.Contains(parts[0], ":assumed-role") {
		return ""
	}
	if s := parts[2]; strings.HasPrefix(s, "i-") && len(s) > 2 {
		return s
	}
	return ""
}

// Cloud looks at a cloud record for what only the graph can tell: a call
// by an instance role's session from an address that is not one of that
// instance's (its credentials were taken off it). It returns that
// detection, or nil: not an instance session, an instance no heartbeat
// described, a call an AWS service made, or through a VPC endpoint (the
// address is then private and not the instance's).
func (e *Engine) Cloud(r *cloudevent.Record) *alert.Detection {
	ct := r.CloudTrail
	if ct == nil || ct.UserIdentity.Type != "AssumedRole" {
		return nil
	}
	inst := InstanceSession(ct.UserIdentity.ARN)
	ip := ct.SourceIPAddress
	if inst == "" || ct.FromService || ct.VPCEndpointID != "" || !cloudevent.IsIP(ip) {
		return nil
	}
	h := e.graph.host(alert.KindInstance, inst)
	if h == nil || ip == h.privateIP || ip == h.publicIP {
		return nil
	}
	// Another host of ours with that address is the credentials moved
	// inside the fleet: still outside the instance.
	key := inst + "|" + ip + "|" + ct.UserIdentity.AccessKeyID
	sum := sha256.Sum256([]byte(RuleInstanceCredentialsOutside + "\x00" + key))
	d := &alert.Detection{Schema: alert.DetectionSchema, ID: "det-" + hex.EncodeToString(sum[:12]), Source: alert.SourceCloudTrail,
		Rule: RuleInstanceCredentialsOutside, Severity: alert.High, Tactic: "credential-access", Technique: "T1552.005",
		Time: r.Time, Env: r.Env,
		Message: "the session " + ct.UserIdentity.ARN + " of instance " + inst + " called " + ct.EventSource + " " + ct.EventName +
			" from " + ip + ", which is not one of the instance's addresses (" + strings.Trim(h.privateIP+" "+h.publicIP, " ") + ")",
		Description: "Credentials of an instance role are used by a caller that is not the instance: they were read from the instance (IMDS, a file, a process) and taken elsewhere.",
		Remediation: "Revoke the role's active sessions (an inline deny on aws:TokenIssueTime), find how they left the instance (its IMDS and credential-file alerts), and require IMDSv2 with a hop limit of 1.",
		Actors:      []alert.Entity{{Kind: alert.KindPrincipal, ID: ct.UserIdentity.ARN}, {Kind: alert.KindIP, ID: ip}},
		Resources: []alert.Entity{{Kind: alert.KindInstance, ID: inst}, {Kind: alert.KindHost, ID: h.id, Name: h.name},
			{Kind: alert.KindAccount, ID: r.Key}},
		Evidence: alert.Evidence{Records: []json.RawMessage{r.Raw}}}
	if k := ct.UserIdentity.AccessKeyID; k != "" {
		d.Actors = append(d.Actors, alert.Entity{Kind: alert.KindAccessKey, ID: k})
	}
	if role := ct.UserIdentity.SessionContext.SessionIssuer.ARN; role != "" {
		d.Resources = append(d.Resources, alert.Entity{Kind: alert.KindRole, ID: role})
	}
	e.mu.Lock()
	e.stats.Derived++
	e.mu.Unlock()
	return d
}
