package engine

import (
	"testing"

	"github.com/vigil-sec/vigil/pkg/rules"
)

// FixtureHost is the host the fixtures assume: the agent's pid is 4242.
var FixtureHost = rules.Host{Name: "fixture-host", AgentPID: 4242}

// Every enabled vendor rule has a positive and a negative fixture, and all pass.
func TestBuiltinFixtures(t *testing.T) {
	rs, err := rules.LoadAndCompile(rules.Sources{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	names, content := rules.BuiltinFixtures()
	var all []Fixture
	for _, n := range names {
		fx, err := ParseFixtures(n, content[n])
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, fx...)
	}
	pos, neg := map[string]int{}, map[string]int{}
	for _, f := range all {
		pos[f.Rule] += len(f.Match)
		neg[f.Rule] += len(f.NoMatch)
	}
	for _, c := range rs.Rules {
		if pos[c.Name] == 0 || neg[c.Name] == 0 {
			t.Errorf("rule %q (%s) needs match and nomatch fixtures (has %d, %d)", c.Name, c.Pos, pos[c.Name], neg[c.Name])
		}
	}
	for _, r := range RunFixtures(rs, all, FixtureHost) {
		if !r.Passed {
			t.Errorf("%s %q %s: %s", r.Pos, r.Rule, r.Case, r.Detail)
		}
	}
}
