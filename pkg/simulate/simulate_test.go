package simulate

import (
	"testing"

	"github.com/vigil-sec/vigil/pkg/rules"
)

// Every enabled vendor rule is re-enacted by some scenario, and every
// scenario names only real rules.
func TestScenariosCoverEveryRule(t *testing.T) {
	rs, err := rules.LoadAndCompile(rules.Sources{Builtin: true})
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
