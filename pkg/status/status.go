package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/spool"
)

// Snapshot is the agent's status (`vigil status --json`).
type Snapshot struct {
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
	StreamNote string       `json:"stream_note,omitempty"`
	Spool      *spool.Stats `json:"spool"`
}

// SpoolSeverityNames name the spool's priorities: telemetry (events), then
// the alert severities.
var SpoolSeverityNames = [spool.NumSeverities]string{"telemetry", "info", "low", "medium", "high", "critical"}

// RuleStats are the detection engine's counters.
type RuleStats struct {
	Count      int    `json:"count"`
	Version    string `json:"version"`
	Reloads    uint64 `json:"reloads"`
	Evaluated  uint64 `json:"evaluated"`
	Alerts     uint64 `json:"alerts"`
	Suppressed uint64 `json:"suppressed"`
	EvalErrors uint64 `json:"eval_errors"`
	Kills      uint64 `json:"kills"`
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

// Source produces snapshots.
type Source func() Snapshot

// Serve answers GET /status with the snapshot as JSON on a unix socket until
// ctx ends. The socket is made 0600: status reveals host activity.
func Serve(ctx context.Context, path string, src Source, log *zap.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("status socket directory: %w", err)
	}
	if err := claim(path); err != nil {
		return err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("status socket mode: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(src())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = os.Remove(path)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("status server stopped", zap.Error(err))
		}
	}()
	return nil
}

// ErrSocketInUse is returned when another agent answers on the status
// socket: two agents on one host would double every alert.
var ErrSocketInUse = errors.New("another agent is running")

// Claim makes path free for the socket: a stale socket (nobody answers) is
// removed; a live one, or anything that is not a socket, is an error and is
// left alone. Serve claims the path itself; the agent also claims it before
// loading anything, so a second agent stops at once.
func Claim(path string) error { return claim(path) }

func claim(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("status socket: %w", err)
	}
	if st.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("status socket %s: a %s is in the way; remove it or choose another status_socket", path, kind(st.Mode()))
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("status socket %s: %w (it answers on this socket); stop it first", path, ErrSocketInUse)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("status socket: remove stale %s: %w", path, err)
	}
	return nil
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	case m.IsRegular():
		return "regular file"
	}
	return "file"
}

// Fetch reads a snapshot from the agent's socket.
func Fetch(ctx context.Context, path string) (Snapshot, error) {
	var s Snapshot
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}, Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://vigil/status", nil)
	if err != nil {
		return s, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return s, fmt.Errorf("agent not reachable at %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("agent status: %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}
