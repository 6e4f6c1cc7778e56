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
	Spool       any       `json:"spool"`
}

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
	_ = os.Remove(path)
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
