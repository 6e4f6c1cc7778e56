package response

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vigil-sec/vigil/pkg/proc"
)

// The kill checks that the pid is still the process that started then.
func TestProcKillerChecksStartTime(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := proc.ParseStat(b)
	if err != nil {
		t.Fatal(err)
	}
	k := ProcKiller{}
	if err := k.Kill(uint32(cmd.Process.Pid), st.StartTicks+1); !errors.Is(err, ErrPIDReused) {
		t.Fatalf("another start time: %v", err)
	}
	if err := k.Kill(uint32(cmd.Process.Pid), st.StartTicks); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || cmd.ProcessState.String() != "signal: killed" {
		t.Errorf("not killed: %v", err)
	}
}
