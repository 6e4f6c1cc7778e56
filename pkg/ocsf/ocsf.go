// Package ocsf maps Vigil's threats and detections to the Open
// Cybersecurity Schema Framework's Detection Finding (class 2004, category
// 2 Findings, schema 1.3.0), so Security Lake, Splunk and other OCSF
// consumers take them unmodified. A threat is one finding whose uid is the
// threat's id: it is created (activity 1), updated as it gains detections
// or is triaged (2), and closed when resolved (3). A detection sent on its
// own is a finding created once. Pure: no I/O, golden-tested.
package ocsf

import (
	"strings"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
)

// Version is the OCSF schema version the findings follow.
const Version = "1.3.0"

// Class, category and their names.
const (
	ClassUID     = 2004
	ClassName    = "Detection Finding"
	CategoryUID  = 2
	CategoryName = "Findings"
)

// Activities of a finding.
const (
	ActivityCreate = 1
	ActivityUpdate = 2
	ActivityClose  = 3
)

var activityNames = map[int]string{ActivityCreate: "Create", ActivityUpdate: "Update", ActivityClose: "Close"}

// Finding is an OCSF Detection Finding, with the attributes Vigil fills.
type Finding struct {
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	TypeUID      int    `json:"type_uid"`
	TypeName     string `json:"type_name"`
	SeverityID   int    `json:"severity_id"`
	Severity     string `json:"severity"`
	StatusID     int    `json:"status_id"`
	Status       string `json:"status"`
	// Time is when the finding was created or changed (milliseconds since
	// the epoch); StartTime and EndTime span its events (event time).
	Time        int64          `json:"time"`
	StartTime   int64          `json:"start_time,omitempty"`
	EndTime     int64          `json:"end_time,omitempty"`
	Message     string         `json:"message"`
	IsAlert     bool           `json:"is_alert"`
	Metadata    Metadata       `json:"metadata"`
	FindingInfo FindingInfo    `json:"finding_info"`
	Resources   []Resource     `json:"resources,omitempty"`
	Observables []Observable   `json:"observables,omitempty"`
	Remediation *Remediation   `json:"remediation,omitempty"`
	Unmapped    *VigilUnmapped `json:"unmapped,omitempty"`
}

// Metadata names the product and the schema version.
type Metadata struct {
	Version string   `json:"version"`
	Product Product  `json:"product"`
	UID     string   `json:"uid,omitempty"` // the notification's id
	Labels  []string `json:"labels,omitempty"`
}

// Product is Vigil.
type Product struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

// FindingInfo describes the finding: its uid (the threat's or the
// detection's id), title, ATT&CK mapping and related detections.
type FindingInfo struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	Desc          string         `json:"desc,omitempty"`
	Types         []string       `json:"types,omitempty"`
	CreatedTime   int64          `json:"created_time,omitempty"`
	ModifiedTime  int64          `json:"modified_time,omitempty"`
	FirstSeenTime int64          `json:"first_seen_time,omitempty"`
	LastSeenTime  int64          `json:"last_seen_time,omitempty"`
	SrcURL        string         `json:"src_url,omitempty"`
	DataSources   []string       `json:"data_sources,omitempty"`
	Analytic      *Analytic      `json:"analytic,omitempty"`
	Attacks       []Attack       `json:"attacks,omitempty"`
	RelatedEvents []RelatedEvent `json:"related_events,omitempty"`
}

// Analytic is the rule that matched.
type Analytic struct {
	Name   string `json:"name"`
	TypeID int    `json:"type_id"` // 1: Rule
	Type   string `json:"type"`
}

// Attack is one ATT&CK tactic and technique.
type Attack struct {
	Tactic    *Tactic    `json:"tactic,omitempty"`
	Technique *Technique `json:"technique,omitempty"`
	Version   string     `json:"version,omitempty"`
}

// Tactic is an ATT&CK tactic.
type Tactic struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Technique is an ATT&CK technique (or sub-technique).
type Technique struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid"`
}

// RelatedEvent is one of a threat's detections.
type RelatedEvent struct {
	UID     string   `json:"uid"`
	Type    string   `json:"type,omitempty"`
	Attacks []Attack `json:"attacks,omitempty"`
}

// Resource is an affected resource (a host, an instance, a role...).
type Resource struct {
	UID  string `json:"uid"`
	Name string `json:"name,omitempty"`
	Type string `json:"type"`
}

// Observable is a value worth searching for (a host name, an address, a
// user, a process, a user agent).
type Observable struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	TypeID int    `json:"type_id"`
	Value  string `json:"value"`
}

// Remediation says what to do.
type Remediation struct {
	Desc string `json:"desc"`
}

// VigilUnmapped holds what OCSF has no attribute for.
type VigilUnmapped struct {
	Event      string   `json:"vigil_event"`
	Env        string   `json:"vigil_env,omitempty"`
	Resolution string   `json:"vigil_resolution,omitempty"`
	MergedInto string   `json:"vigil_merged_into,omitempty"`
	Reasons    []string `json:"vigil_reasons,omitempty"`
	Routes     []string `json:"vigil_routes,omitempty"`
}

// Activity is the activity of a notification event.
func Activity(event string) int {
	switch event {
	case alert.EventThreatOpened, alert.EventDetection:
		return ActivityCreate
	case alert.EventThreatResolved:
		return ActivityClose
	}
	return ActivityUpdate
}

// FromNotification maps a notification (a threat or a detection).
func FromNotification(n *alert.Notification, version string) Finding {
	act := Activity(n.Event)
	f := Finding{ActivityID: act, ActivityName: activityNames[act], CategoryUID: CategoryUID, CategoryName: CategoryName,
		ClassUID: ClassUID, ClassName: ClassName, TypeUID: ClassUID*100 + act, TypeName: ClassName + ": " + activityNames[act],
		Time: ms(n.Time), IsAlert: act != ActivityClose,
		Metadata: Metadata{Version: Version, UID: n.ID, Product: Product{Name: "Vigil", VendorName: "Vigil", Version: version}},
		Unmapped: &VigilUnmapped{Event: n.Event, Routes: n.Routes}}
	f.FindingInfo.SrcURL = n.URL
	switch {
	case n.Threat != nil:
		fromThreat(&f, n.Threat)
	case n.Detection != nil:
		fromDetection(&f, n.Detection)
	}
	f.SeverityID, f.Severity = severity(n.Severity())
	return f
}

func fromThreat(f *Finding, t *alert.Threat) {
	fi := &f.FindingInfo
	fi.UID, fi.Title, fi.Types = t.ID, t.Title, []string{"Vigil Threat"}
	fi.FirstSeenTime, fi.LastSeenTime, fi.ModifiedTime = ms(t.FirstSeen), ms(t.LastSeen), ms(t.Updated)
	f.StartTime, f.EndTime = ms(t.FirstSeen), ms(t.LastSeen)
	f.Message = t.Title
	for _, s := range t.Sources {
		fi.DataSources = append(fi.DataSources, string(s))
	}
	seen := map[string]bool{}
	for _, e := range t.Timeline {
		a := attack(e.Tactic, e.Technique)
		fi.RelatedEvents = append(fi.RelatedEvents, RelatedEvent{UID: e.Detection, Type: "Vigil Detection: " + e.Rule, Attacks: a})
		k := e.Tactic + "/" + e.Technique
		if len(a) > 0 && !seen[k] {
			seen[k] = true
			fi.Attacks = append(fi.Attacks, a...)
		}
		if e.Detection == t.Main {
			fi.Analytic = &Analytic{Name: e.Rule, TypeID: 1, Type: "Rule"}
		}
	}
	if len(t.Reasons) > 0 {
		fi.Desc = strings.Join(t.Reasons, "; ")
	}
	f.StatusID, f.Status = status(t)
	f.Resources = resources(t.Resources)
	f.Observables = observables(append(append([]alert.Entity(nil), t.Actors...), t.Resources...))
	u := f.Unmapped
	u.Env, u.Resolution, u.MergedInto, u.Reasons = t.Env, t.Resolution, t.MergedInto, t.Reasons
}

func fromDetection(f *Finding, d *alert.Detection) {
	fi := &f.FindingInfo
	fi.UID, fi.Title, fi.Desc, fi.Types = d.ID, d.Rule, d.Description, []string{"Vigil Detection"}
	fi.FirstSeenTime, fi.LastSeenTime = ms(d.Time), ms(d.Time)
	fi.DataSources = []string{string(d.Source)}
	fi.Analytic = &Analytic{Name: d.Rule, TypeID: 1, Type: "Rule"}
	fi.Attacks = attack(d.Tactic, d.Technique)
	f.StartTime, f.EndTime = ms(d.Time), ms(d.Time)
	f.Message = d.Message
	if f.Message == "" {
		f.Message = d.Rule
	}
	f.StatusID, f.Status = 1, "New"
	if d.Remediation != "" {
		f.Remediation = &Remediation{Desc: d.Remediation}
	}
	f.Resources = resources(d.Resources)
	f.Observables = observables(append(append([]alert.Entity(nil), d.Actors...), d.Resources...))
	f.Metadata.Labels = d.Tags
	f.Unmapped.Env = d.Env
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// severity maps info..critical to OCSF's 1 Informational..5 Critical.
func severity(s alert.Severity) (int, string) {
	names := []string{"Informational", "Low", "Medium", "High", "Critical"}
	if s < alert.Info || s > alert.Critical {
		return 0, "Unknown"
	}
	return int(s) + 1, names[s]
}

// status maps a threat's triage status: open 1 New, in_progress 2 In
// Progress, rejected 3 Suppressed, resolved 4 Resolved; merged into
// another threat is 99 Other ("Merged").
func status(t *alert.Threat) (int, string) {
	switch {
	case t.MergedInto != "":
		return 99, "Merged"
	case t.Status == alert.StatusInProgress:
		return 2, "In Progress"
	case t.Status == alert.StatusRejected:
		return 3, "Suppressed"
	case t.Status == alert.StatusResolved:
		return 4, "Resolved"
	}
	return 1, "New"
}

// tactics are ATT&CK's enterprise tactics by the rules' names.
var tactics = map[string]Tactic{
	"reconnaissance": {"Reconnaissance", "TA0043"}, "resource-development": {"Resource Development", "TA0042"},
	"initial-access": {"Initial Access", "TA0001"}, "execution": {"Execution", "TA0002"},
	"persistence": {"Persistence", "TA0003"}, "privilege-escalation": {"Privilege Escalation", "TA0004"},
	"defense-evasion": {"Defense Evasion", "TA0005"}, "credential-access": {"Credential Access", "TA0006"},
	"discovery": {"Discovery", "TA0007"}, "lateral-movement": {"Lateral Movement", "TA0008"},
	"collection": {"Collection", "TA0009"}, "command-and-control": {"Command and Control", "TA0011"},
	"exfiltration": {"Exfiltration", "TA0010"}, "impact": {"Impact", "TA0040"},
}

func attack(tactic, technique string) []Attack {
	var a Attack
	if t, ok := tactics[tactic]; ok {
		a.Tactic = &t
	}
	if technique != "" {
		a.Technique = &Technique{UID: technique}
	}
	if a.Tactic == nil && a.Technique == nil {
		return nil
	}
	return []Attack{a}
}

func resources(es []alert.Entity) []Resource {
	var out []Resource
	for _, e := range es {
		if e.ID == "" {
			continue
		}
		out = append(out, Resource{UID: e.ID, Name: e.Name, Type: e.Kind})
	}
	return out
}

// observables: the entities with an OCSF observable type; the rest as
// Resource UID (10) when they are resources' ids.
func observables(es []alert.Entity) []Observable {
	var out []Observable
	seen := map[string]bool{}
	add := func(name, typ string, id int, v string) {
		if v == "" || seen[typ+v] {
			return
		}
		seen[typ+v] = true
		out = append(out, Observable{Name: name, Type: typ, TypeID: id, Value: v})
	}
	for _, e := range es {
		switch e.Kind {
		case alert.KindHost:
			add("device.hostname", "Hostname", 1, e.Name)
			add("device.uid", "Resource UID", 10, e.ID)
		case alert.KindIP:
			add("src_endpoint.ip", "IP Address", 2, e.ID)
		case alert.KindUser, alert.KindIAMUser, alert.KindK8sUser:
			add("actor.user.name", "User Name", 4, e.ID)
		case alert.KindProcess:
			add("actor.process.name", "Process Name", 9, e.Name)
		case alert.KindUserAgent:
			add("http_request.user_agent", "HTTP User-Agent", 16, e.ID)
		case alert.KindInstance, alert.KindRole, alert.KindPrincipal, alert.KindBucket, alert.KindPod, alert.KindARN:
			add("resources.uid", "Resource UID", 10, e.ID)
		}
	}
	return out
}
