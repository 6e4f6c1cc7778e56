package alert

import "time"

// NotificationSchema versions what outputs receive as JSON (webhook, file,
// syslog's message): a threat as it opens, changes and closes, or a
// detection.
const NotificationSchema = "vigil.notification/1"

// Notification events.
const (
	EventThreatOpened       = "threat.opened"
	EventThreatUpdated      = "threat.updated"      // it gained detections, or its severity changed
	EventThreatAcknowledged = "threat.acknowledged" // an analyst took it (in_progress)
	EventThreatResolved     = "threat.resolved"     // resolved, rejected, or merged into another
	EventThreatReopened     = "threat.reopened"
	EventDetection          = "detection"
)

// Notification is one delivery to an output.
type Notification struct {
	Schema string `json:"schema"`
	// ID is unique per delivered content (the threat and its revision, or
	// the detection): a receiver that sees it twice may drop the second.
	ID    string    `json:"id"`
	Event string    `json:"event"`
	Time  time.Time `json:"time"` // when it was sent
	// Key is the threat (or detection) id: what an update or a resolve
	// refers to (PagerDuty's dedup_key).
	Key string `json:"key"`
	// URL is the threat's (or detection's) page in the UI.
	URL string `json:"url,omitempty"`
	// Routes that matched, sending it to this output.
	Routes []string `json:"routes"`
	// NewDetections is how many detections the threat gained since the
	// last notification to this output.
	NewDetections int        `json:"new_detections,omitempty"`
	Threat        *Threat    `json:"threat,omitempty"`
	Detection     *Detection `json:"detection,omitempty"`
}

// Title is a one-line summary: the threat's title or the detection's
// message.
func (n *Notification) Title() string {
	switch {
	case n.Threat != nil:
		return n.Threat.Title
	case n.Detection != nil:
		if n.Detection.Message != "" {
			return n.Detection.Message
		}
		return n.Detection.Rule
	}
	return ""
}

// Severity is the threat's or the detection's.
func (n *Notification) Severity() Severity {
	switch {
	case n.Threat != nil:
		return n.Threat.Severity
	case n.Detection != nil:
		return n.Detection.Severity
	}
	return Info
}

// DeadLetter is a notification an output's receiver refused for good (a
// 4xx answer), kept in the dead-letter stream for an operator to see and
// send again.
type DeadLetter struct {
	Time   time.Time `json:"time"`
	Output string    `json:"output"`
	Error  string    `json:"error"`
	// Status is the receiver's HTTP status, when it answered over HTTP.
	Status       int           `json:"status,omitempty"`
	Notification *Notification `json:"notification"`
}
