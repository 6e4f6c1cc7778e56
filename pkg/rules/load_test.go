package rules

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Inline documents load after the vendor rules and before the paths: they
// override the vendor lists, local files override them, and their errors
// carry their name.
func TestLoadInlineBetweenVendorAndPaths(t *testing.T) {
	local := filepath.Join(t.TempDir(), "50-local.yaml")
	if err := os.WriteFile(local, []byte("- list: imds_addresses\n  override: {items: append}\n  items: [192.0.2.9]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := Load(Sources{Builtin: true, Paths: []string{local},
		Inline: []Inline{{Name: "<inline>", Content: []byte("- list: imds_addresses\n  override: {items: append}\n  items: [127.0.0.254]\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	items := set.Lists["imds_addresses"].Items
	i, j := slices.Index(items, "127.0.0.254"), slices.Index(items, "192.0.2.9")
	if i < 1 || j != i+1 {
		t.Errorf("imds_addresses %v: want the vendor's, then the inline one, then the local file's", items)
	}
	_, err = Load(Sources{Inline: []Inline{{Name: "<inline>", Content: []byte("- list: x\n  items: 3\n")}}})
	if err == nil || !strings.Contains(err.Error(), "<inline>:") {
		t.Errorf("error %v: want it to name <inline>", err)
	}
}
