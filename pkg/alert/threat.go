package alert

import (
	"fmt"
	"slices"
	"time"
)

// ThreatSchema versions the threat: connected detections as one attack
// chain, with its triage state.
const ThreatSchema = "vigil.threat/1"

// Threat statuses.
const (
	StatusOpen       = "open"
	StatusInProgress = "in_progress"
	StatusResolved   = "resolved"
	StatusRejected   = "rejected"
)

// ThreatStatuses lists the statuses, in triage order.
func ThreatStatuses() []string {
	return []string{StatusOpen, StatusInProgress, StatusResolved, StatusRejected}
}

// ThreatResolutions lists what a resolved or rejected threat was.
func ThreatResolutions() []string {
	return []string{"malicious", "not_malicious", "security_test", "planned_action", "inconclusive"}
}

// Threat is an attack chain: detections joined by the entities they share
// (host, instance, role session, access key, pod, remote address) within
// a window of event time.
type Threat struct {
	Schema     string   `json:"schema"`
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Severity   Severity `json:"severity"`
	Status     string   `json:"status"`
	Resolution string   `json:"resolution,omitempty"`
	Env        string   `json:"env,omitempty"`
	// Scope is the subject key of the detection that opened the threat
	// (its account, cluster or host, as a subject token): the correlation
	// partition that owns the threat is derived from it.
	Scope     string    `json:"scope,omitempty"`
	FirstSeen time.Time `json:"first_seen"` // event time of the earliest detection
	LastSeen  time.Time `json:"last_seen"`
	Updated   time.Time `json:"updated"` // when the threat last changed (wall clock)
	// Main is the detection the chain is named after: the most severe,
	// the earliest among equals.
	Main      string   `json:"main_detection"`
	Tactics   []string `json:"tactics"` // ATT&CK tactics, in kill-chain order
	Sources   []Source `json:"sources"`
	Actors    []Entity `json:"actors"`
	Resources []Entity `json:"resources"`
	// Reasons say why the severity is what it is (the join, the context).
	Reasons  []string        `json:"reasons,omitempty"`
	Timeline []TimelineEntry `json:"timeline"`
	// Omitted counts detections of the threat beyond the timeline's bound.
	Omitted int `json:"omitted_detections,omitempty"`
	// Network is what flow logs show between the threat's hosts and the
	// remote addresses its detections name (a C2, a reverse shell's peer):
	// how much left, and for how long.
	Network []Exchange `json:"network,omitempty"`
	Notes   []Note     `json:"notes,omitempty"`
	// MergedInto names the threat this one became part of, when a
	// detection joined two chains.
	MergedInto string `json:"merged_into,omitempty"`
}

// TimelineEntry is one detection of a threat, in event-time order.
type TimelineEntry struct {
	Time      time.Time `json:"time"`
	Detection string    `json:"detection"`
	Source    Source    `json:"source"`
	Rule      string    `json:"rule"`
	Severity  Severity  `json:"severity"`
	Tactic    string    `json:"mitre_tactic"`
	Technique string    `json:"mitre_technique"`
	Message   string    `json:"message"`
}

// Exchange sums the flow records between one host and one remote address.
type Exchange struct {
	Host     string    `json:"host"`
	Remote   string    `json:"remote"`
	BytesOut int64     `json:"bytes_out"` // host to remote
	BytesIn  int64     `json:"bytes_in"`
	Packets  int64     `json:"packets"`
	Flows    int       `json:"flows"`
	First    time.Time `json:"first"` // the earliest flow's start
	Last     time.Time `json:"last"`  // the latest flow's end
	// Seconds is Last - First: how long the exchange lasted.
	Seconds float64 `json:"duration_seconds"`
}

// Note is an analyst's note on a threat.
type Note struct {
	Time   time.Time `json:"time"`
	Author string    `json:"author"`
	Text   string    `json:"text"`
}

// ThreatUpdate is what an analyst changes (PATCH): each field optional.
type ThreatUpdate struct {
	Status     *string `json:"status,omitempty"`
	Resolution *string `json:"resolution,omitempty"`
	Note       string  `json:"note,omitempty"`
}

// Apply checks u and applies it to t; the error names the field.
func (u ThreatUpdate) Apply(t *Threat, author string, now time.Time) error {
	if u.Status != nil {
		if !slices.Contains(ThreatStatuses(), *u.Status) {
			return fmt.Errorf("status: %q is not one of %v", *u.Status, ThreatStatuses())
		}
	}
	if u.Resolution != nil && *u.Resolution != "" && !slices.Contains(ThreatResolutions(), *u.Resolution) {
		return fmt.Errorf("resolution: %q is not one of %v", *u.Resolution, ThreatResolutions())
	}
	if len(u.Note) > 10000 {
		return fmt.Errorf("note: %d characters, at most 10000", len(u.Note))
	}
	if u.Status == nil && u.Resolution == nil && u.Note == "" {
		return fmt.Errorf("nothing to change: give status, resolution or note")
	}
	if u.Status != nil {
		t.Status = *u.Status
	}
	if u.Resolution != nil {
		t.Resolution = *u.Resolution
	}
	if u.Note != "" {
		t.Notes = append(t.Notes, Note{Time: now.UTC(), Author: author, Text: u.Note})
	}
	t.Updated = now.UTC()
	return nil
}

// TacticOrder is the ATT&CK enterprise kill-chain order of tactics, as the
// rules name them.
var TacticOrder = []string{"reconnaissance", "resource-development", "initial-access", "execution", "persistence",
	"privilege-escalation", "defense-evasion", "credential-access", "discovery", "lateral-movement",
	"collection", "command-and-control", "exfiltration", "impact"}

// TacticRank is t's place in TacticOrder (unknown tactics last).
func TacticRank(t string) int {
	if i := slices.Index(TacticOrder, t); i >= 0 {
		return i
	}
	return len(TacticOrder)
}
