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
