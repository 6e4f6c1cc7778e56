package alert

import (
	"time"

	"github.com/vigil-sec/vigil/pkg/event"
)

// AlertSchema is the version of the alert JSON schema (docs/alerts.md).
const AlertSchema = "vigil.alert/1"

// Alert is one detection.
type Alert struct {
	Schema       string          `json:"schema"`
	ID           string          `json:"id"`
	Time         time.Time       `json:"time"`
	Rule         string          `json:"rule"`
	Severity     Severity        `json:"severity"`
	Tactic       string          `json:"mitre_tactic"`
	Technique    string          `json:"mitre_technique"`
	Tags         []string        `json:"tags,omitempty"`
	Message      string          `json:"message"`
	Description  string          `json:"description"`
	Remediation  string          `json:"remediation,omitempty"`
	Host         Host            `json:"host"`
	Process      event.Process   `json:"process"`
	Container    event.Container `json:"container"`
	Events       []*event.Event  `json:"events"`
	Action       ActionResult    `json:"action"`
	RulesVersion string          `json:"rules_version"`
	// Counts carry the numbers of an alert the agent raises about itself
	// ("Sensor degraded": what was lost, by counter).
	Counts map[string]uint64 `json:"counts,omitempty"`
}

// ActionResult records the response taken.
type ActionResult struct {
	Type string `json:"type"` // alert or kill
	// Killed is true when the process was sent SIGKILL.
	Killed bool   `json:"killed"`
	PID    uint32 `json:"pid,omitempty"`
	// Skipped says why a kill was not done (monitor-only, protected, ...).
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`
}
