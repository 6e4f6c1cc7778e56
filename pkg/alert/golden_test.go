package alert

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/testenv"
	"github.com/vigil-sec/vigil/pkg/event"
)

func golden(t *testing.T, name string, v any) { t.Helper(); testenv.GoldenJSON(t, name, v) }

func sampleAlert() *Alert {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ev := &event.Event{ID: "ev1", Type: event.TypeExec, Time: start.Add(time.Second),
		Process: event.Process{PID: 4242, PPID: 4000, UID: 0, User: "root", Comm: "bash", Exe: "/usr/bin/bash", Name: "bash",
			Args: []string{"bash", "-i"}, ExecID: "0123abcd:500:4242", StartTime: &start,
			Ancestors: []event.Ancestor{{PID: 4000, ExecID: "0123abcd:400:4000", Exe: "/usr/sbin/sshd", Name: "sshd"}}},
		Container: event.Container{Runtime: "host"},
		Exec:      &event.ExecInfo{Filename: "/bin/bash", Exe: "/usr/bin/bash", Name: "bash", Args: []string{"bash", "-i"}}}
	return &Alert{
		Schema: AlertSchema, ID: "a1b2c3", Time: ev.Time, Rule: "Reverse shell", Severity: Critical,
		Tactic: "execution", Technique: "T1059.004", Tags: []string{"shell"}, Message: "Reverse shell: /usr/bin/bash",
		Description: "A shell with its standard input and output on a network socket.",
		Host: Host{Name: "web-1", ID: "h-123", Env: "prod", AgentPID: 77, Info: &HostInfo{ID: "h-123", Hostname: "web-1",
			OS: "debian 12", Kernel: "6.18.0", AgentVersion: "0.1.60", Env: "prod",
			Cloud: &Cloud{Provider: "aws", InstanceID: "i-0abc", AccountID: "111122223333", Region: "eu-west-1"}}},
		Process: ev.Process, Container: ev.Container, Events: []*event.Event{ev},
		Action: ActionResult{Type: "alert"}, RulesVersion: "fa4022d90fa3",
	}
}

// The alert an agent publishes (vigil.alert/1).
func TestAlertGolden(t *testing.T) { golden(t, "alert", sampleAlert()) }

// Its detection (vigil.detection/1): actors, resources, the alert as
// evidence.
func TestDetectionGolden(t *testing.T) { golden(t, "detection", FromAlert(sampleAlert())) }

// The heartbeat (vigil.heartbeat/1).
func TestHeartbeatGolden(t *testing.T) {
	a := sampleAlert()
	golden(t, "heartbeat", Heartbeat{Schema: HeartbeatSchema, Time: a.Time, Interval: 30, Host: *a.Host.Info, Status: SensorStatus{
		Version: "0.1.60", PID: 77, StartedAt: a.Time.Add(-time.Hour), UptimeSeconds: 3600, Programs: ProgramSummary{Attached: 39, Skipped: 2},
		Types: []TypeCounters{{Type: "exec", Received: 10, QueueDrops: 1}}, Totals: TypeCounters{Received: 10, QueueDrops: 1},
		Queue: Usage{Used: 1, Capacity: 16384}, RingBuffer: Usage{Capacity: 8 << 20}, Rules: RuleStats{Count: 64, Version: "fa4022d90fa3"},
		Transport: &TransportStats{URL: "nats://REDACTED@nats:4222", Connected: true, Published: 5, Acked: 5,
			Spool: &SpoolStats{Records: 1, Dropped: [SpoolPriorities]uint64{0, 2}}},
		HostID: "h-123",
		Health: Health{Degraded: true, DegradedAlerts: 1, AlertWriteFailures: []SinkFailures{{Sink: "nats", BySeverity: map[string]uint64{"low": 1}}}},
	}})
}

// Severities read back what they write; the count matches the constants.
func TestSeverityText(t *testing.T) {
	if NumSeverities != int(Critical)+1 || SpoolPriorities != NumSeverities+1 {
		t.Fatal("severity counts")
	}
	for s := Info; s <= Critical; s++ {
		b, _ := s.MarshalText()
		var back Severity
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%s: %v %v", b, back, err)
		}
	}
	var s Severity
	if err := json.Unmarshal([]byte(`"bogus"`), &s); err == nil {
		t.Error("unknown severity accepted")
	}
}

// A detection's scope (its correlation partition's key) is its account,
// else its cluster, else its host: a host's alerts and its account's
// CloudTrail detections meet in one partition.
func TestDetectionScope(t *testing.T) {
	for _, tc := range []struct {
		res  []Entity
		want string
	}{
		{[]Entity{{Kind: KindHost, ID: "h-1"}, {Kind: KindInstance, ID: "i-1"}, {Kind: KindAccount, ID: "111122223333"}}, "111122223333"},
		{[]Entity{{Kind: KindHost, ID: "h-1"}, {Kind: KindCluster, ID: "prod"}}, "prod"},
		{[]Entity{{Kind: KindPod, ID: "shop/web"}, {Kind: KindHost, ID: "h-1"}}, "h-1"},
		{[]Entity{{Kind: KindAccount, ID: ""}, {Kind: KindHost, ID: "h-2"}}, "h-2"},
		{nil, ""},
	} {
		d := Detection{Resources: tc.res}
		if got := d.Scope(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.res, got, tc.want)
		}
	}
}

// SampleThreat is a threat of two detections, for the notification's
// golden file.
func sampleThreat() *Threat {
	a := sampleAlert()
	return &Threat{Schema: ThreatSchema, ID: "thr-1", Title: "Reverse shell on web-1", Severity: Critical, Status: StatusOpen,
		Env: "prod", Scope: "111122223333", FirstSeen: a.Time, LastSeen: a.Time.Add(time.Minute), Updated: a.Time.Add(2 * time.Minute),
		Main: "a1b2c3", Tactics: []string{"execution", "command-and-control"}, Sources: []Source{SourceRuntime},
		Actors:    []Entity{{Kind: KindProcess, ID: "0123abcd:500:4242", Name: "/usr/bin/bash"}},
		Resources: []Entity{{Kind: KindHost, ID: "h-123", Name: "web-1"}},
		Timeline: []TimelineEntry{{Time: a.Time, Detection: "a1b2c3", Source: SourceRuntime, Rule: "Reverse shell", Severity: Critical,
			Tactic: "execution", Technique: "T1059.004", Message: "Reverse shell: /usr/bin/bash"}}}
}

// A threat notification (vigil.notification/1), as a webhook receives it.
func TestNotificationGolden(t *testing.T) {
	th := sampleThreat()
	golden(t, "notification", Notification{Schema: NotificationSchema, ID: "thr-1:7", Event: EventThreatOpened, Time: th.Updated,
		Key: th.ID, URL: "https://vigil.example.com/#/threats/thr-1", Routes: []string{"page-critical"}, NewDetections: 1, Threat: th})
}
