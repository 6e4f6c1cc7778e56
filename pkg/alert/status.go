package alert

import "time"

// HeartbeatSchema versions the heartbeat an agent publishes on
// vigil.<env>.hb.<host_id>.
const HeartbeatSchema = "vigil.heartbeat/1"

// Heartbeat is an agent's periodic report: who it is and how it is doing.
type Heartbeat struct {
	Schema string    `json:"schema"`
	Time   time.Time `json:"time"`
	// Interval is how often the agent sends one: the backend calls a
	// sensor silent after 3 intervals without.
	Interval float64      `json:"interval_seconds,omitempty"`
	Host     HostInfo     `json:"host"`
	Status   SensorStatus `json:"status"`
}

// SensorStatus is an agent's status (`vigil status --json`, heartbeats).
type SensorStatus struct {
	Version         string          `json:"version"`
	PID             int             `json:"pid"`
	StartedAt       time.Time       `json:"started_at"`
	UptimeSeconds   float64         `json:"uptime_seconds"`
	Programs        ProgramSummary  `json:"programs"`
	Types           []TypeCounters  `json:"event_types"`
	Totals          TypeCounters    `json:"totals"`
	DecodeErrors    uint64          `json:"decode_errors"`
	Emitted         uint64          `json:"emitted"`
	EventsPerSecond float64         `json:"events_per_second"`
	Queue           Usage           `json:"queue"`
	RingBuffer      Usage           `json:"ring_buffer"`
	Processes       int             `json:"processes"`
	CPUSeconds      float64         `json:"cpu_seconds"`
	CPUPercent      float64         `json:"cpu_percent"`
	RSSBytes        uint64          `json:"rss_bytes"`
	Skipped         []SkippedProbe  `json:"skipped_programs,omitempty"`
	Rules           RuleStats       `json:"rules"`
	Transport       *TransportStats `json:"transport,omitempty"`
	HostID          string          `json:"host_id,omitempty"`
	Health          Health          `json:"health"`
	// RecentAlerts are the last alerts raised (rule and time), newest
	// last, so `vigil simulate` can check that its scenarios fired.
	RecentAlerts []RecentAlert `json:"recent_alerts,omitempty"`
}

// RecentAlert is one alert raised by the running agent.
type RecentAlert struct {
	Rule     string    `json:"rule"`
	Severity string    `json:"severity"`
	Time     time.Time `json:"time"`
	PID      uint32    `json:"pid"`
	Exe      string    `json:"exe"`
}

// Health says what the agent lost: every drop and failed write, counted.
type Health struct {
	// Degraded is true while losses are still growing (the last check
	// found new ones).
	Degraded bool `json:"degraded"`
	// DegradedAlerts counts the "Sensor degraded" alerts raised.
	DegradedAlerts uint64 `json:"degraded_alerts"`
	// AlertWriteFailures are failed alert writes per output and severity.
	AlertWriteFailures []SinkFailures `json:"alert_write_failures,omitempty"`
	// EventWriteFailures are events the delivery could not spool
	// (telemetry context or full).
	EventWriteFailures uint64 `json:"event_write_failures"`
	// ShutdownDiscarded are queued records not evaluated because shutdown
	// ran out of time.
	ShutdownDiscarded uint64 `json:"shutdown_discarded"`
	// SelfDrops are the agent's own events the kernel let through.
	SelfDrops uint64 `json:"self_drops"`
}

// SinkFailures are one output's failed alert writes by severity name.
type SinkFailures struct {
	Sink       string            `json:"sink"`
	BySeverity map[string]uint64 `json:"by_severity"`
}

// TransportStats describe delivery to NATS.
type TransportStats struct {
	URL         string    `json:"url"`
	Connected   bool      `json:"connected"`
	Published   uint64    `json:"published"`
	Acked       uint64    `json:"acked"`
	Retries     uint64    `json:"retries"`
	Errors      uint64    `json:"errors"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitempty"`
	Heartbeats  uint64    `json:"heartbeats"`
	// StreamNote explains how the stream is used when it differs from the
	// configuration (create_stream refused by the server's permissions).
	StreamNote string      `json:"stream_note,omitempty"`
	Spool      *SpoolStats `json:"spool"`
	// Enrollment is the token enrollment's progress (agents configured
	// with nats.enroll_token).
	Enrollment *EnrollmentState `json:"enrollment,omitempty"`
}

// EnrollmentState says where a token enrollment is.
type EnrollmentState struct {
	// State is enrolling, enrolled or refused (the backend said no: the
	// error says why).
	State    string    `json:"state"`
	Enrolled time.Time `json:"enrolled,omitzero"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	ErrorAt  time.Time `json:"error_at,omitzero"`
}

// BundleState is the centrally pushed rule bundle an agent runs.
type BundleState struct {
	// Version is the bundle running ("" when none has been pushed).
	Version string    `json:"version,omitempty"`
	Applied time.Time `json:"applied,omitzero"`
	// Error is why the latest pushed bundle is not running (the running
	// rules stay), or why it cannot be watched.
	Error   string    `json:"error,omitempty"`
	ErrorAt time.Time `json:"error_at,omitzero"`
	// Rejected is the version of the bundle refused.
	Rejected string `json:"rejected,omitempty"`
}

// SpoolPriorities are the spool's priorities: telemetry (events), then the
// alert severities; SpoolPriorityNames name them.
const SpoolPriorities = NumSeverities + 1

// SpoolPriorityNames name the spool's priorities.
var SpoolPriorityNames = [SpoolPriorities]string{"telemetry", "info", "low", "medium", "high", "critical"}

// RuleStats are the detection engine's counters.
type RuleStats struct {
	Count   int    `json:"count"`
	Version string `json:"version"`
	Reloads uint64 `json:"reloads"`
	// Bundle is the pushed bundle (vigil rules push), when watched.
	Bundle     *BundleState `json:"bundle,omitempty"`
	Evaluated  uint64       `json:"evaluated"`
	Alerts     uint64       `json:"alerts"`
	Suppressed uint64       `json:"suppressed"`
	EvalErrors uint64       `json:"eval_errors"`
	Kills      uint64       `json:"kills"`
}

// ProgramSummary counts the BPF programs.
type ProgramSummary struct {
	Attached int `json:"attached"`
	Skipped  int `json:"skipped"`
}

// SkippedProbe is a program the kernel refused or could not attach.
type SkippedProbe struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// TypeCounters are the counters of one event type.
type TypeCounters struct {
	Type        string `json:"type,omitempty"`
	Received    uint64 `json:"received"`
	Filtered    uint64 `json:"filtered_in_kernel"`
	KernelDrops uint64 `json:"ring_buffer_drops"`
	QueueDrops  uint64 `json:"queue_drops"`
}

// Usage is a buffer's fill level.
type Usage struct {
	Used     uint64 `json:"used"`
	Capacity uint64 `json:"capacity"`
}

// SpoolStats report the agent's spool (the durable outbox).
type SpoolStats struct {
	Records   int           `json:"records"`
	LiveBytes int64         `json:"live_bytes"`
	DiskBytes int64         `json:"disk_bytes"`
	Segments  int           `json:"segments"`
	OldestAge time.Duration `json:"oldest_age_ns"`
	// Dropped counts records shed to stay within budget or to make room
	// on a full filesystem, and records refused because only higher
	// severities were left to shed.
	Dropped     [SpoolPriorities]uint64 `json:"dropped_by_severity"`
	Corruptions uint64                  `json:"corruptions"`
	// DiskFull is true while appends find the filesystem full (the last
	// one did); DiskFullEvents counts the appends that found it full.
	DiskFull       bool   `json:"disk_full"`
	DiskFullEvents uint64 `json:"disk_full_events"`
	// WriteErrors counts failed writes of any kind (records, acks).
	WriteErrors uint64 `json:"write_errors"`
	// ReserveBytes is the space held back so a full filesystem can still
	// be compacted.
	ReserveBytes int64 `json:"reserve_bytes"`
	// FreeBytes is the space left on the spool's filesystem.
	FreeBytes uint64 `json:"fs_free_bytes"`
}
