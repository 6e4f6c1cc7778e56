package rules

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBundle(t *testing.T) {
	rule := "- rule: Pushed\n  desc: d\n  events: [exec]\n  condition: exec.exe == \"/x\"\n  output: o\n  severity: low\n"
	b, err := NewBundle("prod", []BundleFile{{Name: "b.yaml", Content: rule}, {Name: "a.yml", Content: "[]\n"}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Files[0].Name != "a.yml" || !strings.HasPrefix(b.Version, "b-") {
		t.Fatalf("%+v", b)
	}
	// The same files give the same version; any change another.
	b2, _ := NewBundle("staging", []BundleFile{{Name: "a.yml", Content: "[]\n"}, {Name: "b.yaml", Content: rule}})
	b3, _ := NewBundle("prod", []BundleFile{{Name: "a.yml", Content: "[]\n"}, {Name: "b.yaml", Content: rule + "\n"}})
	if b2.Version != b.Version || b3.Version == b.Version {
		t.Errorf("versions %s %s %s", b.Version, b2.Version, b3.Version)
	}
	raw, _ := json.Marshal(b)
	got, err := ParseBundle(raw)
	if err != nil || got.Version != b.Version || len(got.Inline()) != 2 || got.Inline()[1].Name != "bundle:"+b.Version+"/b.yaml" {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for name, tc := range map[string]struct {
		mutate func(*Bundle)
		want   string
	}{
		"schema":      {func(b *Bundle) { b.Schema = "x" }, "bundle schema"},
		"no files":    {func(b *Bundle) { b.Files = nil }, "no rule files"},
		"path":        {func(b *Bundle) { b.Files[0].Name = "../etc/passwd.yaml" }, "files.0.name"},
		"not yaml":    {func(b *Bundle) { b.Files[0].Name = "a.txt" }, "files.0.name"},
		"twice":       {func(b *Bundle) { b.Files[1].Name = b.Files[0].Name }, "given twice"},
		"tampered":    {func(b *Bundle) { b.Files[1].Content += "#" }, "does not match"},
		"hidden file": {func(b *Bundle) { b.Files[0].Name = ".a.yaml" }, "files.0.name"},
	} {
		c := *b
		c.Files = append([]BundleFile(nil), b.Files...)
		tc.mutate(&c)
		raw, _ := json.Marshal(c)
		if _, err := ParseBundle(raw); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if _, err := ParseBundle([]byte(`{"schema":"vigil.rules-bundle/1","extra":1}`)); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := ParseBundle(make([]byte, MaxBundleBytes+1)); err == nil {
		t.Error("an oversized bundle was read")
	}
}

// The load order: vendor rules, then inline documents (a bundle), then
// local paths, each overriding what came before.
func TestLoadOrderInlineBetweenVendorAndPaths(t *testing.T) {
	dir := t.TempDir()
	vendor := dir + "/vendor"
	local := dir + "/local.yaml"
	mustWrite(t, vendor+"/v.yaml", "- rule: R\n  desc: vendor\n  events: [exec]\n  condition: exec.exe == \"/v\"\n  output: o\n  severity: low\n")
	mustWrite(t, local, "- rule: R\n  desc: local\n  override: {desc: replace}\n")
	set, err := Load(Sources{Builtin: true, VendorDir: vendor, Inline: []Inline{{Name: "bundle", Content: []byte("- rule: R\n  desc: bundle\n  override: {desc: replace}\n")}}})
	if err != nil || set.Rules[0].Desc != "bundle" {
		t.Fatalf("bundle over vendor: %v %+v", err, set.Rules)
	}
	set, err = Load(Sources{Builtin: true, VendorDir: vendor, Paths: []string{local},
		Inline: []Inline{{Name: "bundle", Content: []byte("- rule: R\n  desc: bundle\n  override: {desc: replace}\n")}}})
	if err != nil || set.Rules[0].Desc != "local" {
		t.Fatalf("local over bundle: %v %+v", err, set.Rules)
	}
}

func FuzzParseBundle(f *testing.F) {
	b, _ := NewBundle("prod", []BundleFile{{Name: "a.yaml", Content: "[]\n"}})
	raw, _ := json.Marshal(b)
	f.Add(raw)
	f.Add([]byte(`{"schema":"vigil.rules-bundle/1","files":[{"name":"x.yaml","content":"- rule: a"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data)
		if err != nil {
			return
		}
		if b.Version != b.digest() || len(b.Inline()) != len(b.Files) {
			t.Fatalf("accepted an inconsistent bundle: %+v", b)
		}
	})
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
