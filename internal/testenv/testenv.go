// Package testenv holds helpers shared by Vigil's privileged tests.
package testenv

import (
	"os"
	"testing"
)

// RequireRoot skips a test outside root, except in CI (CI set), where a
// privileged test that cannot run is a failure: CI runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("privileged test must run as root in CI")
	}
	t.Skip("needs root to load BPF programs")
}
