package rules

import (
	"strings"
	"testing"
)

const trailRule = "- rule: Trail stopped\n  source: cloudtrail\n  desc: d\n  events: [AwsApiCall]\n  condition: eventName == \"StopLogging\"\n  output: o\n  severity: high\n  mitre: {tactic: defense-evasion, technique: T1562.008}\n"

// The core parses any source's rules without knowing its schema: event
// names are kept for the schema to resolve, with their line.
func TestParseIsSourceAgnostic(t *testing.T) {
	set := NewSet()
	if err := set.Parse("trail.yaml", []byte(trailRule+"- rule: Trail stopped\n  override: {condition: append}\n  condition: and userIdentity.type != \"Root\"\n")); err != nil {
		t.Fatal(err)
	}
	r := set.Rules[0]
	if r.Source != "cloudtrail" || len(r.Events) != 1 || r.Events[0] != "AwsApiCall" || r.EventsPos.Line != 4 ||
		!strings.Contains(r.Condition, "Root") || r.Severity != High {
		t.Errorf("%+v", r)
	}
	if err := NewSet().Parse("x.yaml", []byte("- rule: X\n  events: [\"\"]\n")); err == nil || !strings.Contains(err.Error(), "x.yaml:2: an empty event type name") {
		t.Errorf("%v", err)
	}
}

// Rule files are untrusted input: the parser never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(trailRule))
	f.Add([]byte("- list: l\n  items: [a]\n- macro: m\n  condition: x in l\n- disable: {rules: [Nope]}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = NewSet().Parse("f.yaml", b)
	})
}

type fakeSchema struct{ checked int }

func (f *fakeSchema) Source() string { return "cloudtrail" }
func (f *fakeSchema) Check(set *Set) error {
	for _, r := range set.Rules {
		if r.Source == "cloudtrail" {
			f.checked++
			if r.Events[0] != "AwsApiCall" {
				return Errors{{Pos: r.EventsPos, Msg: "unknown"}}
			}
		}
	}
	return nil
}

// CheckAll hands each source's rules to its registered schema and counts
// those of sources no schema knows here.
func TestCheckAllUsesRegisteredSchemas(t *testing.T) {
	set := NewSet()
	if err := set.Parse("trail.yaml", []byte(trailRule+
		"- rule: Pod exec\n  source: k8saudit\n  desc: d\n  events: [Event]\n  condition: verb == \"create\"\n  output: o\n  mitre: {tactic: t, technique: T1}\n")); err != nil {
		t.Fatal(err)
	}
	unchecked, err := CheckAll(set)
	if err != nil || unchecked["cloudtrail"] != 1 || unchecked["k8saudit"] != 1 {
		t.Fatalf("before registering: %v %v", unchecked, err)
	}
	f := &fakeSchema{}
	Register(f)
	defer func() { schemaMu.Lock(); delete(schemas, "cloudtrail"); schemaMu.Unlock() }()
	unchecked, err = CheckAll(set)
	if err != nil || f.checked != 1 || unchecked["cloudtrail"] != 0 || unchecked["k8saudit"] != 1 {
		t.Errorf("after: %v %v checked %d", unchecked, err, f.checked)
	}
}

type fixtureSchema struct{ fakeSchema }

func (fixtureSchema) RunFixtures(set *Set, fx []Fixture) []FixtureResult {
	var out []FixtureResult
	for _, f := range fx {
		out = append(out, FixtureResult{Rule: f.Rule, Pos: f.Pos, Case: "match[0]", Passed: len(f.Match) == 1})
	}
	return out
}

// Fixtures go to the schema of their rule's source; those of a source
// without a schema here are counted, not failed.
func TestFixturesBySource(t *testing.T) {
	set := NewSet()
	if err := set.Parse("trail.yaml", []byte(trailRule+"- rule: Local\n  desc: d\n  events: [exec]\n  condition: \"true\"\n  output: o\n  mitre: {tactic: t, technique: T1}\n")); err != nil {
		t.Fatal(err)
	}
	fx, err := ParseFixtures("f.yaml", []byte("- rule: Trail stopped\n  match:\n    - - {eventName: StopLogging}\n- rule: Local\n  match:\n    - - {type: exec}\n"))
	if err != nil || len(fx) != 2 || fx[1].Pos.Line != 4 {
		t.Fatalf("%v %+v", err, fx)
	}
	runtime, other := SplitFixtures(set, fx)
	if len(runtime) != 1 || runtime[0].Rule != "Local" || len(other) != 1 {
		t.Fatalf("split %v %v", runtime, other)
	}
	if res, notRun := RunOtherFixtures(set, other); len(res) != 0 || notRun["cloudtrail"] != 1 {
		t.Errorf("without a schema: %v %v", res, notRun)
	}
	Register(&fixtureSchema{})
	defer func() { schemaMu.Lock(); delete(schemas, "cloudtrail"); schemaMu.Unlock() }()
	if res, notRun := RunOtherFixtures(set, other); len(res) != 1 || !res[0].Passed || len(notRun) != 0 {
		t.Errorf("with a schema: %v %v", res, notRun)
	}
}
