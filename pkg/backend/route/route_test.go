package route

import (
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/config"
)

// Every match key, alone, decides; a route with several keys needs them
// all; the default takes what nothing else did.
func TestRoutingTable(t *testing.T) {
	r := NewRouter([]config.Route{
		{Name: "sev", Match: config.RouteMatch{Severity: "high"}, Outputs: []string{"page"}},
		{Name: "rule", Match: config.RouteMatch{Rules: []string{"Reverse shell*"}}, Outputs: []string{"a"}},
		{Name: "tag", Match: config.RouteMatch{Tags: []string{"crypto"}}, Outputs: []string{"a"}},
		{Name: "tactic", Match: config.RouteMatch{Tactics: []string{"impact"}}, Outputs: []string{"a"}},
		{Name: "source", Match: config.RouteMatch{Sources: []string{"k8saudit"}}, Outputs: []string{"a"}},
		{Name: "env", Match: config.RouteMatch{Envs: []string{"prod"}}, Outputs: []string{"a"}},
		{Name: "hosttag", Match: config.RouteMatch{HostTags: []string{"team=payments"}}, Outputs: []string{"a"}},
		{Name: "hostkey", Match: config.RouteMatch{HostTags: []string{"pci"}}, Outputs: []string{"a"}},
		{Name: "both", Match: config.RouteMatch{Severity: "medium", Sources: []string{"cloudtrail"}}, Outputs: []string{"b"}},
		{Name: "fallback", Default: true, Outputs: []string{"archive"}},
		{Name: "siem", Kind: KindDetections, Match: config.RouteMatch{Severity: "low"}, Outputs: []string{"siem"}},
	})
	for _, tc := range []struct {
		name string
		s    Subject
		want []string
	}{
		{"severity at the bound", Subject{Severity: alert.High}, []string{"sev"}},
		{"severity above", Subject{Severity: alert.Critical}, []string{"sev"}},
		{"low never reaches a high-only route", Subject{Severity: alert.Low}, []string{"fallback"}},
		{"rule pattern", Subject{Rules: []string{"Reverse shell (bash)"}}, []string{"rule"}},
		{"rule not matching", Subject{Rules: []string{"Shell in container"}}, []string{"fallback"}},
		{"tag", Subject{Tags: []string{"CRYPTO"}}, []string{"tag"}},
		{"tactic", Subject{Tactics: []string{"execution", "impact"}}, []string{"tactic"}},
		{"source", Subject{Sources: []string{"k8saudit"}}, []string{"source"}},
		{"env", Subject{Env: "prod"}, []string{"env"}},
		{"other env", Subject{Env: "staging"}, []string{"fallback"}},
		{"host tag value", Subject{HostTags: []string{"team=payments"}}, []string{"hosttag"}},
		{"host tag other value", Subject{HostTags: []string{"team=web"}}, []string{"fallback"}},
		{"host tag key", Subject{HostTags: []string{"pci=true"}}, []string{"hostkey"}},
		{"both keys", Subject{Severity: alert.Medium, Sources: []string{"cloudtrail"}}, []string{"both"}},
		{"one of two keys", Subject{Severity: alert.Medium, Sources: []string{"runtime"}}, []string{"fallback"}},
		{"several routes", Subject{Severity: alert.Critical, Env: "prod"}, []string{"sev", "env"}},
	} {
		tc.s.Kind = KindThreats
		var got []string
		for _, rt := range r.Match(&tc.s) {
			got = append(got, rt.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// Detections have their own routes (and no default here).
	if got := r.For("siem", &Subject{Kind: KindDetections, Severity: alert.Info}); got != nil {
		t.Errorf("info detection routed to %v", got)
	}
	if got := r.For("siem", &Subject{Kind: KindDetections, Severity: alert.Low}); !slices.Equal(got, []string{"siem"}) {
		t.Errorf("low detection: %v", got)
	}
	if got := r.For("page", &Subject{Kind: KindThreats, Severity: alert.Medium}); got != nil {
		t.Errorf("medium threat paged: %v", got)
	}
	if th, det := r.Kinds("siem"); th || !det {
		t.Error("kinds of siem")
	}
	if !r.NeedsDetections() || NewRouter([]config.Route{{Name: "x", Match: config.RouteMatch{Severity: "high"}, Outputs: []string{"a"}}}).NeedsDetections() {
		t.Error("NeedsDetections")
	}
	// A low detection never reaches a high-only detection route.
	hi := NewRouter([]config.Route{{Name: "hi", Kind: KindDetections, Match: config.RouteMatch{Severity: "high"}, Outputs: []string{"pd"}}})
	for _, sev := range []alert.Severity{alert.Info, alert.Low, alert.Medium} {
		if got := hi.For("pd", DetectionSubject(&alert.Detection{Severity: sev, Source: alert.SourceRuntime})); got != nil {
			t.Errorf("%s detection routed to %v", sev, got)
		}
	}
	if got := hi.For("pd", DetectionSubject(&alert.Detection{Severity: alert.Critical})); len(got) != 1 {
		t.Errorf("critical detection: %v", got)
	}
}

// A threat is matched on its detections' rules, tags and host tags.
func TestThreatSubject(t *testing.T) {
	d1 := &alert.Detection{ID: "d1", Tags: []string{"shell"}, Evidence: alert.Evidence{Alert: &alert.Alert{
		Host: alert.Host{Info: &alert.HostInfo{Tags: map[string]string{"team": "payments"}, Cloud: &alert.Cloud{Tags: map[string]string{"env": "prod"}}}}}}}
	th := &alert.Threat{Severity: alert.High, Env: "prod", Tactics: []string{"execution"}, Sources: []alert.Source{alert.SourceRuntime},
		Timeline: []alert.TimelineEntry{{Detection: "d1", Rule: "Reverse shell"}, {Detection: "d2", Rule: "Reverse shell"}}}
	s := ThreatSubject(th, func(id string) (*alert.Detection, bool) { return d1, id == "d1" })
	if !slices.Equal(s.Rules, []string{"Reverse shell"}) || !slices.Equal(s.Tags, []string{"shell"}) ||
		!slices.Equal(s.HostTags, []string{"env=prod", "team=payments"}) || !slices.Equal(s.Sources, []string{"runtime"}) {
		t.Errorf("%+v", s)
	}
}

// What a threat's revision means to an output that was sent an earlier
// one: opened, updated (now or after the quiet period), acknowledged,
// resolved, reopened, or nothing.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	tl := func(n int) []alert.TimelineEntry { return make([]alert.TimelineEntry, n) }
	prev := &sent{At: now.Add(-time.Minute), Severity: alert.High, Status: alert.StatusOpen, Count: 2}
	for _, tc := range []struct {
		name  string
		prev  *sent
		t     alert.Threat
		event string
		wait  time.Duration
	}{
		{"new", nil, alert.Threat{Status: alert.StatusOpen, Timeline: tl(1)}, alert.EventThreatOpened, 0},
		{"new and already resolved", nil, alert.Threat{Status: alert.StatusResolved}, "", 0},
		{"new and merged", nil, alert.Threat{Status: alert.StatusOpen, MergedInto: "x"}, "", 0},
		{"gained detections in the quiet period", prev, alert.Threat{Status: alert.StatusOpen, Severity: alert.High, Timeline: tl(3)}, alert.EventThreatUpdated, 4 * time.Minute},
		{"gained detections and worse", prev, alert.Threat{Status: alert.StatusOpen, Severity: alert.Critical, Timeline: tl(3)}, alert.EventThreatUpdated, 0},
		{"a note only", prev, alert.Threat{Status: alert.StatusOpen, Severity: alert.High, Timeline: tl(2), Notes: []alert.Note{{Text: "x"}}}, "", 0},
		{"taken", prev, alert.Threat{Status: alert.StatusInProgress, Severity: alert.High, Timeline: tl(2)}, alert.EventThreatAcknowledged, 0},
		{"resolved", prev, alert.Threat{Status: alert.StatusResolved, Severity: alert.High, Timeline: tl(2)}, alert.EventThreatResolved, 0},
		{"rejected", prev, alert.Threat{Status: alert.StatusRejected, Timeline: tl(2)}, alert.EventThreatResolved, 0},
		{"merged", prev, alert.Threat{Status: alert.StatusOpen, MergedInto: "thr-0", Timeline: tl(2)}, alert.EventThreatResolved, 0},
		{"reopened", &sent{Closed: true, Status: alert.StatusResolved}, alert.Threat{Status: alert.StatusOpen}, alert.EventThreatReopened, 0},
		{"closed stays closed", &sent{Closed: true, Status: alert.StatusResolved}, alert.Threat{Status: alert.StatusRejected, Timeline: tl(5)}, "", 0},
	} {
		ev, wait := decide(tc.prev, &tc.t, now, 5*time.Minute)
		if ev != tc.event || wait != tc.wait {
			t.Errorf("%s: %q %s, want %q %s", tc.name, ev, wait, tc.event, tc.wait)
		}
	}
	// After the quiet period the update goes at once.
	if ev, wait := decide(prev, &alert.Threat{Status: alert.StatusOpen, Severity: alert.High, Timeline: tl(3)}, now.Add(10*time.Minute), 5*time.Minute); ev != alert.EventThreatUpdated || wait != 0 {
		t.Errorf("after quiet: %q %s", ev, wait)
	}
}

// Rate limits hold what is over them, per route and output.
func TestRateLimit(t *testing.T) {
	r := NewRouter([]config.Route{{Name: "r", Outputs: []string{"a", "b"}, RateLimit: &config.RateLimit{Count: 2, Per: time.Hour}}})
	var got []bool
	for range 3 {
		got = append(got, r.Allow("r", "a"))
	}
	if !got[0] || !got[1] || got[2] {
		t.Errorf("a: %v, want 2 then held", got)
	}
	if !r.Allow("r", "b") || !r.Allow("other", "a") {
		t.Error("limits are per route and output")
	}
}
