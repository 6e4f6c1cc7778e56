package ocsf

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vigil-sec/vigil/internal/testenv"
	"github.com/vigil-sec/vigil/pkg/alert"
)

func sample() *alert.Threat {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	return &alert.Threat{Schema: alert.ThreatSchema, ID: "thr-1", Title: "Reverse shell on web-1, then credentials used from it",
		Severity: alert.Critical, Status: alert.StatusOpen, Env: "prod", FirstSeen: at, LastSeen: at.Add(5 * time.Minute), Updated: at.Add(6 * time.Minute),
		Main: "d1", Tactics: []string{"execution", "credential-access"}, Sources: []alert.Source{alert.SourceRuntime, alert.SourceCloudTrail},
		Actors: []alert.Entity{{Kind: alert.KindProcess, ID: "x:1:2", Name: "/usr/bin/bash"}, {Kind: alert.KindIP, ID: "203.0.113.7"},
			{Kind: alert.KindUserAgent, ID: "aws-cli/2.15"}, {Kind: alert.KindAccessKey, ID: "ASIAEXAMPLE"}},
		Resources: []alert.Entity{{Kind: alert.KindHost, ID: "h-123", Name: "web-1"}, {Kind: alert.KindInstance, ID: "i-0abc"},
			{Kind: alert.KindAccount, ID: "111122223333"}},
		Reasons: []string{"the instance's role credentials were used from outside it"},
		Timeline: []alert.TimelineEntry{
			{Time: at, Detection: "d1", Source: alert.SourceRuntime, Rule: "Reverse shell", Severity: alert.Critical, Tactic: "execution", Technique: "T1059.004"},
			{Time: at.Add(5 * time.Minute), Detection: "d2", Source: alert.SourceCloudTrail, Rule: "Instance credentials used outside the instance",
				Severity: alert.High, Tactic: "credential-access", Technique: "T1552.005"}}}
}

func sampleDetection() *alert.Detection {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	return &alert.Detection{Schema: alert.DetectionSchema, ID: "d9", Source: alert.SourceK8sAudit, Rule: "Exec into a pod", Severity: alert.Medium,
		Tactic: "execution", Technique: "T1609", Tags: []string{"k8s"}, Time: at, Message: "kubectl exec into shop/web", Remediation: "Check who ran it.",
		Env: "prod", Actors: []alert.Entity{{Kind: alert.KindK8sUser, ID: "alice"}}, Resources: []alert.Entity{{Kind: alert.KindPod, ID: "shop/web"}}}
}

func notifications() map[string]*alert.Notification {
	th := sample()
	resolved := *th
	resolved.Status, resolved.Resolution = alert.StatusResolved, "malicious"
	merged := *th
	merged.MergedInto = "thr-0"
	now := th.Updated
	return map[string]*alert.Notification{
		"opened":   {Schema: alert.NotificationSchema, ID: "thr-1:1", Event: alert.EventThreatOpened, Time: now, Key: th.ID, URL: "https://vigil.example.com/#/threats/thr-1", Routes: []string{"siem"}, Threat: th},
		"resolved": {Schema: alert.NotificationSchema, ID: "thr-1:9", Event: alert.EventThreatResolved, Time: now, Key: th.ID, Routes: []string{"siem"}, Threat: &resolved},
		"merged":   {Schema: alert.NotificationSchema, ID: "thr-1:10", Event: alert.EventThreatResolved, Time: now, Key: th.ID, Threat: &merged},
		"detection": {Schema: alert.NotificationSchema, ID: "d9", Event: alert.EventDetection, Time: now, Key: "d9", Routes: []string{"all"},
			Detection: sampleDetection()},
	}
}

// The mapping is pinned by golden files (go test -update rewrites them).
func TestFindingGolden(t *testing.T) {
	for name, n := range notifications() {
		t.Run(name, func(t *testing.T) { testenv.GoldenJSON(t, "finding-"+name, FromNotification(n, "0.2.0")) })
	}
}

func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/detection_finding-1.3.0.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("detection_finding.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("detection_finding.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(s *jsonschema.Schema, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// Every finding Vigil writes validates against OCSF 1.3.0's Detection
// Finding; the schema catches what it should (a wrong class, a missing
// uid, an attribute OCSF does not have).
func TestFindingsValidateAgainstOCSF(t *testing.T) {
	s := compile(t)
	for name, n := range notifications() {
		if err := validate(s, FromNotification(n, "0.2.0")); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	f := FromNotification(notifications()["opened"], "0.2.0")
	for name, mutate := range map[string]func(m map[string]any){
		"class":          func(m map[string]any) { m["class_uid"] = 2001 },
		"no finding uid": func(m map[string]any) { delete(m["finding_info"].(map[string]any), "uid") },
		"invented field": func(m map[string]any) { m["vigil_event"] = "x" },
		"time as string": func(m map[string]any) { m["time"] = "2026-12-01T09:00:00Z" },
		"no product":     func(m map[string]any) { delete(m["metadata"].(map[string]any), "product") },
	} {
		b, _ := json.Marshal(f)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mutate(m)
		if err := validate(s, m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Activities follow the threat's life: created, updated, closed.
func TestActivities(t *testing.T) {
	for ev, want := range map[string]int{alert.EventThreatOpened: 1, alert.EventThreatUpdated: 2, alert.EventThreatAcknowledged: 2,
		alert.EventThreatReopened: 2, alert.EventThreatResolved: 3, alert.EventDetection: 1} {
		f := FromNotification(&alert.Notification{Event: ev, Threat: sample()}, "")
		if f.ActivityID != want || f.TypeUID != 200400+want {
			t.Errorf("%s: activity %d type %d", ev, f.ActivityID, f.TypeUID)
		}
	}
}
