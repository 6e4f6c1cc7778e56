package simulate

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/host"
)

// Every enabled vendor rule is re-enacted by some scenario, and every
// scenario names only real rules.
func TestScenariosCoverEveryRule(t *testing.T) {
	rs, err := host.LoadAndCompile(rules.Sources{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, c := range rs.Rules {
		known[c.Name] = true
	}
	covered := map[string]bool{}
	names := map[string]bool{}
	for _, s := range Scenarios() {
		if names[s.Name] {
			t.Errorf("scenario %q defined twice", s.Name)
		}
		names[s.Name] = true
		for _, r := range s.Rules {
			if !known[r] {
				t.Errorf("scenario %q names unknown rule %q", s.Name, r)
			}
			covered[r] = true
		}
	}
	for r := range known {
		if !covered[r] {
			t.Errorf("rule %q has no scenario", r)
		}
	}
}

// A scenario passes only with an alert of each expected rule inside its own
// window; an alert raised during another scenario does not count.
func TestVerifyMatchesAlertsToScenarios(t *testing.T) {
	t0 := time.Unix(1000, 0)
	res := []Result{
		{Name: "a", Rules: []string{"R1", "R2"}, Start: t0, End: t0.Add(time.Second)},
		{Name: "b", Rules: []string{"R1"}, Start: t0.Add(2 * time.Second), End: t0.Add(3 * time.Second)},
		{Name: "c", Rules: []string{"R3"}, Skipped: "no tracepoint"},
	}
	raised := []Raised{{"R1", t0.Add(500 * time.Millisecond)}, {"R2", t0.Add(time.Second + 100*time.Millisecond)}}
	if Verify(res, raised) {
		t.Fatal("complete without b's alert")
	}
	if !res[0].Passed() || res[1].Passed() || fmt.Sprint(res[1].Missing) != "[R1]" || res[2].Passed() || res[2].Verified {
		t.Errorf("%+v", res)
	}
	raised = append(raised, Raised{"R1", t0.Add(2500 * time.Millisecond)})
	if !Verify(res, raised) || !res[1].Passed() {
		t.Errorf("after b's alert: %+v", res[1])
	}
}

// A helper made again over an existing one replaces it, and never writes
// through it: it may be a hard link to a system program (a second copy of
// bash named nginx once opened the first, a link to /bin/bash, for writing).
func TestLinkOrCopyNeverWritesThroughALink(t *testing.T) {
	dir := t.TempDir()
	sys, other := filepath.Join(dir, "bash"), filepath.Join(dir, "cp")
	os.WriteFile(sys, []byte("system program"), 0o755)
	os.WriteFile(other, []byte("another program"), 0o755)
	dst := filepath.Join(dir, "nginx")
	if _, err := linkOrCopy(sys, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := linkOrCopy(other, dst); err != nil {
		t.Fatal(err)
	}
	if err := copyNew(other, dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(sys); string(b) != "system program" {
		t.Fatalf("the system program was overwritten: %q", b)
	}
	if b, _ := os.ReadFile(dst); string(b) != "another program" {
		t.Errorf("dst %q", b)
	}
}
