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

	"github.com/vigil-sec/vigil/pkg/alert"
)

// Snapshot is the agent's status (`vigil status --json`, heartbeats): the
// shared schema's alert.SensorStatus.
type Snapshot = alert.SensorStatus

// The parts of a snapshot.
type (
	RecentAlert    = alert.RecentAlert
	Health         = alert.Health
	SinkFailures   = alert.SinkFailures
	TransportStats = alert.TransportStats
	RuleStats      = alert.RuleStats
	ProgramSummary = alert.ProgramSummary
	SkippedProbe   = alert.SkippedProbe
	TypeCounters   = alert.TypeCounters
	Usage          = alert.Usage
)

// SpoolSeverityNames name the spool's priorities.
var SpoolSeverityNames = alert.SpoolPriorityNames

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
