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

// RequireFile skips a test that needs a built artefact (the BPF objects of
// `make bpf`) when path is missing, saying how to build it; in CI a missing
// artefact is a failure.
func RequireFile(t testing.TB, path, build string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing in CI: %s", path, build)
	}
	t.Skipf("%s not built (%s)", path, build)
}

// RequireObject skips a privileged test when the binary under test holds no
// BPF object (a clone where `make bpf` has not run), except in CI.
func RequireObject(t testing.TB, embedded []byte) {
	t.Helper()
	RequireRoot(t)
	if len(embedded) > 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no BPF object embedded in CI: make bpf runs before the tests")
	}
	t.Skip("no BPF object embedded (run make bpf, or make test)")
}
