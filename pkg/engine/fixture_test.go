package engine

import (
	"testing"
	"time"

	"github.com/expr-lang/expr/vm"

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

// The native condition compiler must agree with the expr VM on every
// fixture event, for every rule of the event's type.
func TestNativeAgreesWithVM(t *testing.T) {
	rs, err := rules.LoadAndCompile(rules.Sources{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	names, content := rules.BuiltinFixtures()
	e := New(Config{Host: FixtureHost, MonitorOnly: true}, rs, nil)
	checked := 0
	for _, n := range names {
		fx, err := ParseFixtures(n, content[n])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fx {
			for _, c := range append(f.Match, f.NoMatch...) {
				evs, err := toEvents(c, time.Unix(0, 0))
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range evs {
					e.env.Reset(ev, &e.cfg.Host)
					for _, r := range rs.ByType[ev.Type] {
						conds := []struct {
							pre  rules.Prefilter
							full bool
							vm   *vm.Program
						}{{r.Pre, r.Full, r.Cond}}
						for _, st := range r.Steps {
							if typeIn(st.Events, ev.Type) {
								conds = append(conds, struct {
									pre  rules.Prefilter
									full bool
									vm   *vm.Program
								}{st.Pre, st.Full, st.Cond})
							}
						}
						for _, c := range conds {
							if c.vm == nil {
								continue
							}
							vmSays := e.test(c.vm)
							if c.pre.Pass(ev) == false && vmSays {
								t.Errorf("%s: rule %q: native checks reject what the VM accepts", n, r.Name)
							}
							if c.full && c.pre.Pass(ev) != vmSays {
								t.Errorf("%s: rule %q: native %v, VM %v", n, r.Name, c.pre.Pass(ev), vmSays)
							}
							checked++
						}
					}
				}
			}
		}
	}
	if checked < 500 {
		t.Errorf("only %d comparisons", checked)
	}
}
