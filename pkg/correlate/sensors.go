package correlate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
)

// Sensor states.
const (
	SensorOK       = "ok"
	SensorDegraded = "degraded" // the agent reports losses still growing
	SensorSilent   = "silent"   // no heartbeat for SilentAfter intervals
)

// Rules of the detections the sensor inventory raises.
const (
	RuleSensorSilent = "Sensor silent"
	RuleSensorBack   = "Sensor back"
)

// Sensor is one agent as its heartbeats describe it (GET /api/v1/sensors).
type Sensor struct {
	Host          string    `json:"host"`
	Hostname      string    `json:"hostname"`
	Env           string    `json:"env,omitempty"`
	Instance      string    `json:"instance,omitempty"`
	Version       string    `json:"version"`
	Status        string    `json:"status"`
	LastHeartbeat time.Time `json:"last_heartbeat"` // when the bus stored it
	// Interval is the agent's heartbeat interval in seconds.
	Interval        float64    `json:"interval_seconds"`
	SilentSince     *time.Time `json:"silent_since,omitempty"`
	EventsPerSecond float64    `json:"events_per_second"`
	// Drops are every event and record the agent lost (queues, ring
	// buffer, spool), as it counts them.
	Drops        uint64  `json:"drops"`
	SpoolBacklog uint64  `json:"spool_backlog"`
	CPUPercent   float64 `json:"cpu_percent"`
	RSSBytes     uint64  `json:"rss_bytes"`
	Rules        string  `json:"rules_version,omitempty"`
	// Bundle is the pushed rule bundle the agent runs; BundleError why the
	// latest one is not running (the agent kept its rules).
	Bundle      string `json:"rules_bundle,omitempty"`
	BundleError string `json:"rules_bundle_error,omitempty"`
}

// Sensors is the inventory of agents, from heartbeats. Safe for
// concurrent use.
type Sensors struct {
	mu sync.Mutex
	m  map[string]*Sensor
	// SilentAfter intervals without a heartbeat make a sensor silent
	// (default 3).
	SilentAfter int
	// DefaultInterval is assumed for agents that do not say theirs.
	DefaultInterval time.Duration
}

// NewSensors makes an empty inventory.
func NewSensors() *Sensors {
	return &Sensors{m: map[string]*Sensor{}, SilentAfter: 3, DefaultInterval: 30 * time.Second}
}

// Heartbeat records one, stored by the bus at `at`; a silent sensor that
// is back returns the "Sensor back" detection that closes the gap.
func (s *Sensors) Heartbeat(hb *alert.Heartbeat, at time.Time) *alert.Detection {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.m[hb.Host.ID]
	if se == nil {
		se = &Sensor{Host: hb.Host.ID}
		s.m[hb.Host.ID] = se
	}
	if at.Before(se.LastHeartbeat) {
		return nil // an older one, replayed
	}
	var back *alert.Detection
	if se.SilentSince != nil {
		back = sensorDetection(se, RuleSensorBack, alert.Info, at,
			fmt.Sprintf("the sensor on %s is back after %s without heartbeats (since %s)", se.Hostname,
				at.Sub(*se.SilentSince).Round(time.Second), se.SilentSince.UTC().Format(time.RFC3339)))
	}
	st := &hb.Status
	se.Hostname, se.Env, se.Version, se.LastHeartbeat, se.SilentSince = hb.Host.Hostname, hb.Host.Env, st.Version, at, nil
	if c := hb.Host.Cloud; c != nil {
		se.Instance = c.InstanceID
	}
	se.Interval = hb.Interval
	if se.Interval <= 0 {
		se.Interval = s.DefaultInterval.Seconds()
	}
	se.EventsPerSecond, se.CPUPercent, se.RSSBytes, se.Rules = st.EventsPerSecond, st.CPUPercent, st.RSSBytes, st.Rules.Version
	se.Bundle, se.BundleError = "", ""
	if b := st.Rules.Bundle; b != nil {
		se.Bundle, se.BundleError = b.Version, b.Error
	}
	se.Drops = st.Totals.QueueDrops + st.Totals.KernelDrops
	se.SpoolBacklog = 0
	if t := st.Transport; t != nil && t.Spool != nil {
		se.SpoolBacklog = uint64(t.Spool.Records)
		for _, n := range t.Spool.Dropped {
			se.Drops += n
		}
	}
	se.Status = SensorOK
	if st.Health.Degraded {
		se.Status = SensorDegraded
	}
	return back
}

// Check returns a "Sensor silent" detection for each sensor whose last
// heartbeat is older than SilentAfter intervals at now (once per silence).
func (s *Sensors) Check(now time.Time) []*alert.Detection {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*alert.Detection
	for _, se := range s.m {
		if se.SilentSince != nil {
			continue
		}
		limit := time.Duration(float64(s.SilentAfter) * se.Interval * float64(time.Second))
		if now.Sub(se.LastHeartbeat) <= limit {
			continue
		}
		since := se.LastHeartbeat
		se.SilentSince, se.Status = &since, SensorSilent
		out = append(out, sensorDetection(se, RuleSensorSilent, alert.Low, since,
			fmt.Sprintf("no heartbeat from the sensor on %s since %s (%d intervals of %gs): the agent, its host or the network is down, or the agent was stopped",
				se.Hostname, since.UTC().Format(time.RFC3339), s.SilentAfter, se.Interval)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// List is every sensor, by host id.
func (s *Sensors) List() []Sensor {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sensor, 0, len(s.m))
	for _, se := range s.m {
		out = append(out, *se)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

// sensorDetection is a detection about a sensor: low, so it opens no
// threat by itself (hosts scaled in go silent for good) but joins the open
// threat on its host (a sensor stopped during an attack).
func sensorDetection(se *Sensor, rule string, sev alert.Severity, at time.Time, msg string) *alert.Detection {
	sum := sha256.Sum256([]byte(rule + "\x00" + se.Host + "\x00" + at.UTC().Format(time.RFC3339Nano)))
	d := &alert.Detection{Schema: alert.DetectionSchema, ID: "det-" + hex.EncodeToString(sum[:12]), Source: alert.SourceRuntime,
		Rule: rule, Severity: sev, Tactic: "defense-evasion", Technique: "T1562.001", Time: at, Env: se.Env, Message: msg,
		Resources: []alert.Entity{{Kind: alert.KindHost, ID: se.Host, Name: se.Hostname}}}
	if rule == RuleSensorSilent {
		d.Description = "A sensor stopped sending heartbeats: an outage, or someone stopping or blinding the agent."
		d.Remediation = "Check the host (is it running, reachable) and the agent (systemctl status vigil-agent); a stop nobody planned during an open threat is tampering."
	}
	if se.Instance != "" {
		d.Resources = append(d.Resources, alert.Entity{Kind: alert.KindInstance, ID: se.Instance})
	}
	return d
}
