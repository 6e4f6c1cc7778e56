// Package testenv holds helpers shared by Vigil's privileged tests.
package testenv

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
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

// update rewrites golden files: go test ./pkg/... -update.
var update = flag.Bool("update", false, "rewrite the golden files")

// Golden compares got with the golden file at path (rewriting it with
// -update); a difference fails the test with the new content.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed; if on purpose (bump the schema version when consumers break), rerun with -update:\n%s", path, got)
	}
}

// GoldenJSON compares v, as indented JSON with a final newline, with the
// golden file testdata/<name>.golden.json.
func GoldenJSON(t testing.TB, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	Golden(t, filepath.Join("testdata", name+".golden.json"), append(got, '\n'))
}
