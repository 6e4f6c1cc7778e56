package engine

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/host"
)

// FixtureHost is the host the fixtures assume: the agent's pid is 4242.
var FixtureHost = host.Host{Name: "fixture-host", AgentPID: 4242}

// Every enabled vendor rule has a positive and a negative fixture, and all pass.
func TestBuiltinFixtures(t *testing.T) {
	rs, err := host.LoadAndCompile(rules.Sources{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	all := runtimeFixtures(t)
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
// fixture event, for every rule of the event's type: it never rejects what
// the VM accepts, and where it is the whole condition it accepts exactly
// what the VM accepts (a prefilter that accepts too much would be an
// untested false positive).
func TestNativeAgreesWithVM(t *testing.T) {
	rs, err := host.LoadAndCompile(rules.Sources{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{Host: FixtureHost, MonitorOnly: true}, rs, nil)
	checked := 0
	for _, fe := range fixtureEvents(t) {
		checked += agree(t, e, rs, fe.ev, fe.where)
	}
	if checked < 500 {
		t.Errorf("only %d comparisons", checked)
	}
}

// The same on generated events: every fixture event mutated with the
// literals the vendor rules compare against (paths, names, arguments,
// ports), so both sides are tried at their boundaries, not only at the
// fixtures' values.
func TestNativeAgreesWithVMOnGeneratedEvents(t *testing.T) {
	set, err := rules.Load(rules.Sources{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := host.Compile(set)
	if err != nil {
		t.Fatal(err)
	}
	lits := literals(set)
	if len(lits) < 100 {
		t.Fatalf("only %d literals harvested", len(lits))
	}
	e := New(Config{Host: FixtureHost, MonitorOnly: true}, rs, nil)
	rnd := rand.New(rand.NewPCG(1, 2))
	checked, matched := 0, 0
	for _, fe := range fixtureEvents(t) {
		for v := 0; v < 40; v++ {
			ev := mutate(t, fe.ev, lits, rnd)
			checked += agree(t, e, rs, ev, fmt.Sprintf("%s variant %d", fe.where, v))
			e.env.Reset(ev, &e.cfg.Host)
			for _, r := range rs.ByType[ev.Type] {
				if r.Cond != nil && e.test(r.Cond) {
					matched++
				}
			}
		}
	}
	t.Logf("%d comparisons, %d condition matches", checked, matched)
	if checked < 20000 || matched < 500 {
		t.Errorf("too little exercised: %d comparisons, %d matches", checked, matched)
	}
}

type fixtureEvent struct {
	ev    *event.Event
	where string
}

func fixtureEvents(t *testing.T) []fixtureEvent {
	t.Helper()
	var out []fixtureEvent
	for _, f := range runtimeFixtures(t) {
		for _, c := range append(f.Match, f.NoMatch...) {
			evs, err := toEvents(c, time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				out = append(out, fixtureEvent{ev, f.Pos.File + " " + f.Rule})
			}
		}
	}
	return out
}

// runtimeFixtures are the vendor fixtures of runtime rules (the cloud
// rules' fixtures run in pkg/rules/cloud).
func runtimeFixtures(t *testing.T) []Fixture {
	t.Helper()
	set, err := rules.Load(rules.Sources{Builtin: true})
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
	runtime, other := rules.SplitFixtures(set, all)
	if len(other) == 0 {
		t.Fatal("no cloud fixtures among the vendor fixtures")
	}
	return runtime
}

// agree compares the native checks with the VM for every condition that
// applies to ev, and returns how many it compared.
func agree(t *testing.T, e *Engine, rs *host.Ruleset, ev *event.Event, where string) int {
	t.Helper()
	type cond struct {
		pre  host.Prefilter
		full bool
		vm   *vm.Program
	}
	e.env.Reset(ev, &e.cfg.Host)
	n := 0
	for _, r := range rs.ByType[ev.Type] {
		conds := []cond{{r.Pre, r.Full, r.Cond}}
		for _, st := range r.Steps {
			if typeIn(st.Events, ev.Type) {
				conds = append(conds, cond{st.Pre, st.Full, st.Cond})
			}
		}
		for _, c := range conds {
			if c.vm == nil {
				continue
			}
			vmSays, native := e.test(c.vm), c.pre.Pass(ev)
			if !native && vmSays {
				b, _ := json.Marshal(ev)
				t.Errorf("%s: rule %q: native checks reject what the VM accepts: %s", where, r.Name, b)
			}
			if c.full && native != vmSays {
				b, _ := json.Marshal(ev)
				t.Errorf("%s: rule %q: native %v, VM %v: %s", where, r.Name, native, vmSays, b)
			}
			n++
		}
	}
	return n
}

var quoted = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)

// literals are the strings the rules compare with: quoted in conditions and
// macros, and list items.
func literals(set *rules.Set) []string {
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && len(s) < 200 {
			seen[s] = true
		}
	}
	harvest := func(cond string) {
		for _, m := range quoted.FindAllStringSubmatch(cond, -1) {
			add(m[1])
		}
	}
	for _, r := range set.Rules {
		harvest(r.Condition)
		for _, st := range stepsOf(r) {
			harvest(st)
		}
		for _, ex := range r.Exceptions {
			for _, vs := range ex.Values {
				for _, v := range vs {
					add(v)
				}
			}
		}
	}
	for _, m := range set.Macros {
		harvest(m.Condition)
	}
	for _, l := range set.Lists {
		for _, it := range l.Items {
			add(it)
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func stepsOf(r *rules.Rule) []string {
	if r.Sequence == nil {
		return nil
	}
	var out []string
	for _, st := range r.Sequence.Steps {
		out = append(out, st.Condition)
	}
	return out
}

// mutate copies ev and sets one to three string, path or number fields to a
// rule literal, near variants of one (a suffix, a parent directory, a
// program path), or an unrelated value.
func mutate(t *testing.T, ev *event.Event, lits []string, rnd *rand.Rand) *event.Event {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var c event.Event
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	val := func() string {
		l := lits[rnd.IntN(len(lits))]
		switch rnd.IntN(6) {
		case 0:
			return l + "x"
		case 1:
			return "/usr/bin/" + l
		case 2:
			return l + "/sub"
		case 3:
			return "/opt/unrelated"
		}
		return l
	}
	for n := 1 + rnd.IntN(3); n > 0; n-- {
		switch rnd.IntN(9) {
		case 0:
			c.Process.Exe = val()
			c.Process.Name = ""
		case 1:
			c.Process.UID = []uint32{0, 1000, 33}[rnd.IntN(3)]
		case 2:
			if len(c.Process.Ancestors) > 0 {
				c.Process.Ancestors[0].Exe, c.Process.Ancestors[0].Name = val(), ""
			} else {
				c.Process.Ancestors = []event.Ancestor{{PID: 1, Exe: val()}}
			}
		case 3:
			if c.File != nil {
				c.File.Path = val()
			}
		case 4:
			if c.File != nil {
				c.File.Target = val()
			}
		case 5:
			if c.Exec != nil {
				c.Exec.Exe, c.Exec.Name, c.Exec.Cmdline = val(), "", ""
			}
		case 6:
			if c.Exec != nil {
				c.Exec.Args = append([]string{val()}, c.Exec.Args...)
				c.Exec.Cmdline = ""
			}
		case 7:
			if c.Net != nil {
				c.Net.DstPort = []uint16{22, 53, 443, 3333, 4444, 9050, 8080}[rnd.IntN(7)]
				c.Net.DstAddr = []string{"127.0.0.1", "169.254.169.254", "10.1.2.3", "::1"}[rnd.IntN(4)]
			}
		case 8:
			if c.Sys != nil {
				c.Sys.Target, c.Sys.ObjName = val(), val()
			}
		}
	}
	c.Derive()
	return &c
}
