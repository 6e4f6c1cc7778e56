package sensor

import (
	"os"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/vigil-sec/vigil/pkg/event"
)

// requireRoot skips outside root; in CI (CI=true) a missing privilege fails.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("privileged test must run as root in CI")
		}
		t.Skip("needs root to load BPF programs")
	}
}

func TestLoadAttachAll(t *testing.T) {
	requireRoot(t)
	s, err := New(Config{Types: event.AllTypes(), DropFailed: true}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	defer s.Close()
	attached := 0
	for _, p := range s.Programs() {
		if p.Attached {
			attached++
			continue
		}
		if !optionalHooks[hookOf(p.Name)] {
			t.Errorf("program %s (%s) not attached: %s", p.Name, p.Section, p.Error)
		}
	}
	if attached < 80 {
		t.Errorf("only %d programs attached", attached)
	}
}
