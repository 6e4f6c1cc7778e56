// Package route sends threats and detections to the tools a security team
// already uses: webhooks (JSON or OCSF, HMAC-signed), Slack, syslog (RFC
// 5424 over UDP, TCP or TLS), JSON-lines files and PagerDuty. Routes match
// on severity, rules, tags, tactics, sources, environment and host tags,
// and name their outputs.
//
// Delivery is durable: each output has its own JetStream consumer, and a
// message is acked only once the receiver accepted it (or, for a receiver
// that refuses it for good, once it is dead-lettered). A threat is sent
// once, then updated in place (the same dedup key, a reply in its Slack
// thread) as it gains detections, at most once per quiet period, and
// acknowledged, resolved or reopened as analysts triage it.
package route

import (
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/config"
)

// Kinds of routes.
const (
	KindThreats    = "threats"
	KindDetections = "detections"
)

// Subject is what routes match on.
type Subject struct {
	Kind     string
	Severity alert.Severity
	Env      string
	Rules    []string
	Tags     []string
	Tactics  []string
	Sources  []string
	// HostTags are key=value.
	HostTags []string
}

// Route is a compiled route.
type Route struct {
	Name     string
	Kind     string
	Default  bool
	Outputs  []string
	match    config.RouteMatch
	severity alert.Severity
	limit    *config.RateLimit
}

// Router decides which routes, and so which outputs, a subject goes to.
type Router struct {
	routes []*Route
	// limiters per route and output.
	limiters map[string]*rate.Limiter
}

// NewRouter compiles validated routes (config.Backend.Validate).
func NewRouter(rs []config.Route) *Router {
	r := &Router{limiters: map[string]*rate.Limiter{}}
	for _, c := range rs {
		rt := &Route{Name: c.Name, Kind: c.Kind, Default: c.Default, Outputs: c.Outputs, match: c.Match, limit: c.RateLimit}
		if rt.Kind == "" {
			rt.Kind = KindThreats
		}
		if c.Match.Severity != "" {
			rt.severity, _ = alert.ParseSeverity(c.Match.Severity)
		}
		if l := c.RateLimit; l != nil {
			for _, o := range c.Outputs {
				r.limiters[c.Name+"\x00"+o] = rate.NewLimiter(rate.Every(l.Per/time.Duration(l.Count)), l.Count)
			}
		}
		r.routes = append(r.routes, rt)
	}
	return r
}

// Kinds says which kinds of routes name the output.
func (r *Router) Kinds(output string) (threats, detections bool) {
	for _, rt := range r.routes {
		if slices.Contains(rt.Outputs, output) {
			switch rt.Kind {
			case KindThreats:
				threats = true
			case KindDetections:
				detections = true
			}
		}
	}
	return threats, detections
}

// Match returns the routes the subject matches, defaults included when no
// other route of its kind matched.
func (r *Router) Match(s *Subject) []*Route {
	var out []*Route
	for _, rt := range r.routes {
		if rt.Kind == s.Kind && !rt.Default && rt.matches(s) {
			out = append(out, rt)
		}
	}
	if len(out) == 0 {
		for _, rt := range r.routes {
			if rt.Kind == s.Kind && rt.Default && rt.matches(s) {
				out = append(out, rt)
			}
		}
	}
	return out
}

// For returns the names of the matching routes that send to output.
func (r *Router) For(output string, s *Subject) []string {
	var names []string
	for _, rt := range r.Match(s) {
		if slices.Contains(rt.Outputs, output) {
			names = append(names, rt.Name)
		}
	}
	return names
}

// NeedsDetections tells whether a route matches on what only a threat's
// detections know (their tags, their hosts' tags): the threat alone
// answers the others, with no lookup.
func (r *Router) NeedsDetections() bool {
	for _, rt := range r.routes {
		if len(rt.match.Tags) > 0 || len(rt.match.HostTags) > 0 {
			return true
		}
	}
	return false
}

// Allow takes one notification from the route's rate limit for output
// (always true without a limit).
func (r *Router) Allow(route, output string) bool {
	l := r.limiters[route+"\x00"+output]
	return l == nil || l.Allow()
}

func (rt *Route) matches(s *Subject) bool {
	m := rt.match
	if m.Severity != "" && s.Severity < rt.severity {
		return false
	}
	if len(m.Envs) > 0 && !slices.Contains(m.Envs, s.Env) {
		return false
	}
	if len(m.Rules) > 0 && !anyMatch(m.Rules, s.Rules, func(p, v string) bool { ok, _ := filepath.Match(p, v); return ok }) {
		return false
	}
	if len(m.Tags) > 0 && !anyMatch(m.Tags, s.Tags, strings.EqualFold) {
		return false
	}
	if len(m.Tactics) > 0 && !anyMatch(m.Tactics, s.Tactics, strings.EqualFold) {
		return false
	}
	if len(m.Sources) > 0 && !anyMatch(m.Sources, s.Sources, strings.EqualFold) {
		return false
	}
	if len(m.HostTags) > 0 && !anyMatch(m.HostTags, s.HostTags, tagMatch) {
		return false
	}
	return true
}

// tagMatch: "key" matches any value of key; "key=value" that value.
func tagMatch(want, have string) bool {
	if strings.Contains(want, "=") {
		return want == have
	}
	k, _, _ := strings.Cut(have, "=")
	return k == want
}

func anyMatch(wants, haves []string, eq func(want, have string) bool) bool {
	for _, w := range wants {
		for _, h := range haves {
			if eq(w, h) {
				return true
			}
		}
	}
	return false
}

// ThreatSubject is what routes see of a threat: its own severity,
// environment, tactics and sources, and the rules, tags and host tags of
// its detections (those lookup finds).
func ThreatSubject(t *alert.Threat, lookup func(id string) (*alert.Detection, bool)) *Subject {
	s := &Subject{Kind: KindThreats, Severity: t.Severity, Env: t.Env, Tactics: t.Tactics}
	for _, src := range t.Sources {
		s.Sources = append(s.Sources, string(src))
	}
	for _, e := range t.Timeline {
		s.Rules = appendNew(s.Rules, e.Rule)
		if lookup == nil {
			continue
		}
		if d, ok := lookup(e.Detection); ok {
			for _, tg := range d.Tags {
				s.Tags = appendNew(s.Tags, tg)
			}
			for _, ht := range hostTags(d) {
				s.HostTags = appendNew(s.HostTags, ht)
			}
		}
	}
	return s
}

// DetectionSubject is what routes see of a detection.
func DetectionSubject(d *alert.Detection) *Subject {
	return &Subject{Kind: KindDetections, Severity: d.Severity, Env: d.Env, Rules: []string{d.Rule}, Tags: d.Tags,
		Tactics: nonEmpty(d.Tactic), Sources: []string{string(d.Source)}, HostTags: hostTags(d)}
}

// hostTags are the runtime detection's host's tags (its agent's and its
// cloud instance's), as key=value.
func hostTags(d *alert.Detection) []string {
	a := d.Evidence.Alert
	if a == nil || a.Host.Info == nil {
		return nil
	}
	var out []string
	for k, v := range a.Host.Info.Tags {
		out = append(out, k+"="+v)
	}
	if c := a.Host.Info.Cloud; c != nil {
		for k, v := range c.Tags {
			out = append(out, k+"="+v)
		}
	}
	slices.Sort(out)
	return out
}

func appendNew(s []string, v string) []string {
	if v == "" || slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func nonEmpty(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}
