package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/rules/host"
)

// "~/" prefixes are watched under every login user's home directory.
func TestKernelFiltersExpandHomes(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := "root:x:0:0::/root:/bin/bash\nsync:x:4:65534::/bin:/bin/sync\nalice:x:1000:1000::/home/alice:/bin/bash\n"
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.HostRoot = root
	cfg.WatchedPrefixes = []string{"/etc/shadow", "~/.netrc"}
	f, err := KernelFilters(cfg, &host.Ruleset{WatchedPrefixes: []string{"~/.aws/", "/root/.netrc"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/etc/shadow", "/root/.netrc", "/home/alice/.netrc", "/root/.aws/", "/home/alice/.aws/"} {
		if !slices.Contains(f.Watched, want) {
			t.Errorf("%s not watched: %v", want, f.Watched)
		}
	}
	for _, p := range f.Watched {
		if p[0] != '/' || filepath.Dir(p) == "/bin" {
			t.Errorf("watched %q", p)
		}
	}
	if len(f.Watched) != 5 {
		t.Errorf("watched %v: want 5, each once", f.Watched)
	}
}
