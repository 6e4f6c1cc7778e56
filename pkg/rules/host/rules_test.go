package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
)

func TestBuiltinRulesCompile(t *testing.T) {
	rs, err := LoadAndCompile(rules.Sources{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) < 45 {
		t.Errorf("%d builtin rules, want at least 45", len(rs.Rules))
	}
	for _, c := range rs.Rules {
		if c.Desc == "" || c.Technique == "" || c.Tactic == "" || c.Output == nil {
			t.Errorf("rule %q lacks metadata", c.Name)
		}
	}
	t.Logf("types %v", rs.Types)
	t.Logf("watched %v", rs.WatchedPrefixes)
	t.Logf("write-watched %v", rs.WriteWatchedPrefixes)
	for _, p := range rs.WatchedPrefixes {
		if p == "/" || p == "/proc/" || p == "/home/" {
			t.Errorf("builtin rules make the kernel send every read under %q", p)
		}
	}
	// Write-watched prefixes override noisy_prefixes: /dev/ or /proc/
	// would send every write to /dev/null or /proc/self.
	for _, p := range rs.WriteWatchedPrefixes {
		if p == "/" || p == "/dev/" || p == "/proc/" || p == "/sys/" {
			t.Errorf("builtin rules make the kernel send every write under %q", p)
		}
	}
}

func parseErr(t *testing.T, src string) string {
	t.Helper()
	set := rules.NewSet()
	err := set.Parse("admin.yaml", []byte(src))
	if err == nil {
		_, err = Compile(set)
	}
	if err == nil {
		t.Fatalf("no error for:\n%s", src)
	}
	var es rules.Errors
	if !errors.As(err, &es) {
		t.Fatalf("not positioned errors: %v", err)
	}
	return err.Error()
}

const okRule = `
- rule: R
  desc: d
  events: [exec]
  condition: exec.exe == "/x"
  output: "x %exec.exe"
  severity: high
  mitre: {tactic: execution, technique: T1059}
`

func TestErrorsNameFileAndLine(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"yaml", "- rule: [", "admin.yaml:1:"},
		{"unknown key", okRule + "  bogus: 1\n", `admin.yaml:9: unknown key "bogus"`},
		{"bad severity", strings.Replace(okRule, "high", "urgent", 1), `admin.yaml:7: unknown severity "urgent"`},
		{"bad event", strings.Replace(okRule, "[exec]", "[exec, teleport]", 1), `admin.yaml:4: unknown event type "teleport"`},
		{"bad condition", strings.Replace(okRule, `exec.exe == "/x"`, `exec.exe ==`, 1), `admin.yaml:2: rule "R": condition:`},
		{"unknown field", strings.Replace(okRule, `exec.exe == "/x"`, `exec.nope == "/x"`, 1), `admin.yaml:2: rule "R": condition:`},
		{"duplicate", okRule + okRule, `admin.yaml:10: rule "R" is already defined at admin.yaml:2`},
		{"override missing", "- rule: Nope\n  override: {condition: append}\n  condition: \"true\"\n", `admin.yaml:2: override of rule "Nope"`},
		{"macro loop", "- macro: a\n  condition: b\n- macro: b\n  condition: a\n" + strings.Replace(okRule, `exec.exe == "/x"`, "a", 1), `refers to itself`},
		{"bad action", okRule + "  action: explode\n", `admin.yaml:9: action must be alert or kill`},
		{"relative write_watch", okRule + "  write_watch: [dev/]\n", `admin.yaml:9: write_watch prefixes are absolute paths`},
		{"exception arity", okRule + "  exceptions:\n    - name: e\n      fields: [exec.exe, process.user]\n      values: [[/x]]\n", `a row has 1 values for 2 fields`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseErr(t, tc.src); !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOverridesAndDisable(t *testing.T) {
	set := rules.NewSet()
	vendor := okRule + `
- list: bins
  items: [a]
- rule: S
  desc: d
  events: [exec]
  condition: basename(exec.exe) in bins
  output: "s"
  severity: low
  tags: [noisy]
  mitre: {tactic: execution, technique: T1059}
`
	admin := `
- list: bins
  override: {items: append}
  items: [b]
- rule: R
  override: {condition: append, severity: replace}
  condition: process.user != "root"
  severity: critical
- rule: R
  override: {exceptions: append}
  exceptions:
    - name: trusted
      fields: [process.user]
      values: [[alice]]
- disable: {tags: [noisy]}
`
	if err := set.Parse("vendor.yaml", []byte(vendor)); err != nil {
		t.Fatal(err)
	}
	if err := set.Parse("admin.yaml", []byte(admin)); err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(set)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 1 || rs.Disabled != 1 || rs.Rules[0].Severity != rules.Critical {
		t.Fatalf("rules %d disabled %d", len(rs.Rules), rs.Disabled)
	}
	if got := set.Lists["bins"].Items; strings.Join(got, ",") != "a,b" {
		t.Errorf("list %v", got)
	}
	var env Env
	check := func(user string, want bool) {
		t.Helper()
		env.Reset(&event.Event{Type: event.TypeExec, Process: event.Process{User: user}, Exec: &event.ExecInfo{Exe: "/x"}}, nil)
		var m vmRunner
		if got := m.run(rs.Rules[0], &env); got != want {
			t.Errorf("user %q: %v, want %v", user, got, want)
		}
	}
	check("root", false)  // appended condition
	check("bob", true)    // matches
	check("alice", false) // appended exception
}

func TestKernelFilterDerivation(t *testing.T) {
	set := rules.NewSet()
	src := `
- rule: Reads
  desc: d
  events: [open]
  condition: not file.write and (file.path startsWith "/srv/keys/" or file.path == "/etc/token")
  output: o
  mitre: {tactic: t, technique: T1}
- rule: Writes
  desc: d
  events: [open]
  condition: file.write and file.path == "/proc/sys/kernel/core_pattern"
  output: o
  mitre: {tactic: t, technique: T1}
- rule: Writes of a list
  desc: d
  events: [open]
  condition: file.write and file.path in ["/proc/sys/kernel/modprobe", "/proc/sys/fs/suid_dumpable"]
  output: o
  mitre: {tactic: t, technique: T1}
- rule: Writes of an anchored pattern
  desc: d
  events: [open]
  condition: file.write and file.path matches "^/proc/sys/vm/overcommit_[a-z]+$"
  output: o
  mitre: {tactic: t, technique: T1}
- rule: Writes the kernel sends by itself
  desc: d
  events: [open]
  write_watch: []
  condition: file.write and file.path matches "^/dev/[a-z]+$"
  output: o
  mitre: {tactic: t, technique: T1}
- macro: built_here
  condition: exec.exe_writer.name == "ld"
- rule: Provenance through a macro
  desc: d
  events: [exec]
  condition: built_here
  output: o
  mitre: {tactic: t, technique: T1}
- rule: Net
  desc: d
  events: [connect]
  condition: net.dst_port == 4444
  output: o
  mitre: {tactic: t, technique: T1}
`
	if err := set.Parse("r.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(set)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rs.WatchedPrefixes, ",") != "/etc/token,/srv/keys/" {
		t.Errorf("watched %v", rs.WatchedPrefixes)
	}
	// An "in" list too, which expr's optimizer turns into a constant set.
	// An anchored pattern's literal start is a prefix; write_watch: []
	// replaces the derived /dev/.
	if strings.Join(rs.WriteWatchedPrefixes, ",") != "/proc/sys/fs/suid_dumpable,/proc/sys/kernel/core_pattern,/proc/sys/kernel/modprobe,/proc/sys/vm/overcommit_" {
		t.Errorf("write-watched %v", rs.WriteWatchedPrefixes)
	}
	// File provenance, named through a macro, has renames and unlinks collected.
	want := []event.Type{event.TypeExec, event.TypeFork, event.TypeExit, event.TypeOpen, event.TypeUnlink, event.TypeRename, event.TypeConnect}
	if len(rs.Types) != len(want) {
		t.Errorf("types %v", rs.Types)
	}
}

func TestVendorDirReplacesEmbeddedRules(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "10-only.yaml"), []byte(okRule), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, err := LoadAndCompile(rules.Sources{Builtin: true, VendorDir: dir})
	if err != nil || len(rs.Rules) != 1 {
		t.Fatalf("vendor dir: %v %d rules", err, len(rs.Rules))
	}
	rs, err = LoadAndCompile(rules.Sources{Builtin: true, VendorDir: filepath.Join(dir, "missing")})
	if err != nil || len(rs.Rules) < 45 {
		t.Fatalf("embedded fallback: %v", err)
	}
}

// A named rule path that does not exist is an error naming it (it used to
// be skipped, leaving the agent without the operator's rules); only the
// default local directory may be missing.
func TestMissingRulePathIsAnError(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{filepath.Join(dir, "typo.yaml"), filepath.Join(dir, "no-such-dir")} {
		_, err := LoadAndCompile(rules.Sources{Paths: []string{p}})
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := rules.Load(rules.Sources{Paths: []string{rules.DefaultLocalDir}}); err != nil && !strings.Contains(err.Error(), rules.DefaultLocalDir+"/") {
		t.Errorf("missing default local dir: %v", err)
	}
}

// Lint reports every error: a syntax error in one file does not hide a
// compile error in another.
func TestAllErrorsReported(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("- rule: [unclosed\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("- rule: Bad\n  desc: d\n  events: [exec]\n  condition: exec.nosuchfield == 1\n  output: o\n  mitre: {tactic: t, technique: T1}\n"), 0o644)
	_, err := LoadAndCompile(rules.Sources{Paths: []string{dir}})
	if err == nil || !strings.Contains(err.Error(), "a.yaml:") || !strings.Contains(err.Error(), "b.yaml:1") {
		t.Fatalf("errors: %v", err)
	}
}

// The embedded vendor rules and the same files installed by the package
// have one version (the hash used to include the file names).
func TestVersionIgnoresWhereRulesWereRead(t *testing.T) {
	dir := t.TempDir()
	names, content := rules.Builtin()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(n)), content[n], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	embedded, err := LoadAndCompile(rules.Sources{Builtin: true, VendorDir: filepath.Join(dir, "none")})
	if err != nil {
		t.Fatal(err)
	}
	packaged, err := LoadAndCompile(rules.Sources{Builtin: true, VendorDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if embedded.Version != packaged.Version {
		t.Errorf("embedded %s, packaged %s", embedded.Version, packaged.Version)
	}
	// A changed macro changes the version.
	os.WriteFile(filepath.Join(dir, "99-local.yaml"), []byte("- macro: build_running\n  override: {condition: replace}\n  condition: \"false\"\n"), 0o644)
	changed, err := LoadAndCompile(rules.Sources{Builtin: true, VendorDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if changed.Version == packaged.Version {
		t.Error("a replaced macro kept the version")
	}
}

// More read-watched prefixes than the kernel's trie holds is a lint error,
// not a refusal at start (it used to pass lint and config check).
func TestTooManyPrefixes(t *testing.T) {
	var b strings.Builder
	b.WriteString("- rule: Many\n  desc: d\n  events: [open]\n  condition: file.path startsWith \"/srv/\"\n  output: o\n  mitre: {tactic: t, technique: T1}\n  watch:\n")
	for i := 0; i < event.MaxPrefixes+1; i++ {
		fmt.Fprintf(&b, "    - /srv/p%d/\n", i)
	}
	set := rules.NewSet()
	if err := set.Parse("many.yaml", []byte(b.String())); err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(set); err == nil || !strings.Contains(err.Error(), "513, more than the kernel's 512") {
		t.Errorf("%v", err)
	}
}

// A rule names its source (default runtime); an unknown one is an error
// with its line; rules of another source are kept out of the runtime set.
func TestRuleSources(t *testing.T) {
	set := rules.NewSet()
	err := set.Parse("s.yaml", []byte("- rule: Bad source\n  source: syslog\n  desc: d\n  events: [exec]\n  condition: \"true\"\n  output: o\n  mitre: {tactic: t, technique: T1}\n"))
	if err == nil || !strings.Contains(err.Error(), `s.yaml:2: unknown source "syslog" (known: runtime, cloudtrail, vpcflow, k8saudit)`) {
		t.Errorf("%v", err)
	}
	set = rules.NewSet()
	if err := set.Parse("c.yaml", []byte(okRule+"- rule: Trail stopped\n  source: cloudtrail\n  desc: d\n  condition: eventName == \"StopLogging\"\n  output: o\n  mitre: {tactic: t, technique: T1}\n")); err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(set)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 1 || rs.Rules[0].Source != rules.SourceRuntime || rs.OtherSources["cloudtrail"] != 1 {
		t.Errorf("%d rules, other sources %v", len(rs.Rules), rs.OtherSources)
	}
}
