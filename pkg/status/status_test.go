package status

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// The status socket never deletes what is not a stale socket: a file in the
// way is an error and stays; a second agent cannot steal a live socket (it
// used to remove and re-create it silently).
func TestServeClaimsOnlyStaleSockets(t *testing.T) {
	dir := t.TempDir()
	src := func() Snapshot { return Snapshot{PID: 42} }

	file := filepath.Join(dir, "file.sock")
	os.WriteFile(file, []byte("important"), 0o600)
	if err := Serve(context.Background(), file, src, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "regular file is in the way") {
		t.Errorf("file in the way: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "important" {
		t.Error("the file was removed")
	}

	live := filepath.Join(dir, "live.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := Serve(ctx, live, src, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if err := Serve(context.Background(), live, func() Snapshot { return Snapshot{PID: 7} }, zap.NewNop()); !errors.Is(err, ErrSocketInUse) {
		t.Errorf("second agent: %v", err)
	}
	if s, err := Fetch(context.Background(), live); err != nil || s.PID != 42 {
		t.Errorf("first agent's socket: %+v %v", s, err)
	}

	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if err := Serve(ctx, stale, src, zap.NewNop()); err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	if s, err := Fetch(context.Background(), stale); err != nil || s.PID != 42 {
		t.Errorf("after reclaiming: %+v %v", s, err)
	}
}
