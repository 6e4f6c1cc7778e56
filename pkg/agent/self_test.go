package agent

import (
	"os"
	"testing"
)

func TestSelfIsThisProcess(t *testing.T) {
	s := self()
	if s.PidNS == 0 {
		t.Fatal("own pid namespace inode not found")
	}
	if s.NsPID != uint32(os.Getpid()) {
		t.Errorf("ns pid %d, want %d", s.NsPID, os.Getpid())
	}
}
