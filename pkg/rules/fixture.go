package rules

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Fixture holds test cases for one rule: each case is a list of events (in
// the schema of the rule's source, written as YAML); in a match case the
// rule must fire, in a nomatch case it must not.
type Fixture struct {
	Rule    string             `yaml:"rule"`
	Match   [][]map[string]any `yaml:"match"`
	NoMatch [][]map[string]any `yaml:"nomatch"`
	Pos     Pos                `yaml:"-"`
}

// ParseFixtures reads a fixture file.
func ParseFixtures(file string, b []byte) ([]Fixture, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	var out []Fixture
	for _, n := range doc.Content[0].Content {
		var f Fixture
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, n.Line, err)
		}
		f.Pos = Pos{File: file, Line: n.Line}
		out = append(out, f)
	}
	return out, nil
}

// FixtureResult is the outcome of one case.
type FixtureResult struct {
	Rule   string `json:"rule"`
	Pos    Pos    `json:"source"`
	Case   string `json:"case"` // match[i] or nomatch[i]
	Passed bool   `json:"passed"`
	Detail string `json:"detail,omitempty"`
}

// A FixtureRunner is a Schema that can run its source's fixtures
// (`vigil rules test`).
type FixtureRunner interface {
	RunFixtures(set *Set, fixtures []Fixture) []FixtureResult
}

// SplitFixtures separates the fixtures of runtime rules (and of rules the
// set does not have: the runtime runner reports them) from those of other
// sources.
func SplitFixtures(set *Set, fixtures []Fixture) (runtime, other []Fixture) {
	source := map[string]string{}
	for _, r := range set.Rules {
		source[r.Name] = r.Source
	}
	for _, f := range fixtures {
		if s := source[f.Rule]; s != "" && s != SourceRuntime {
			other = append(other, f)
		} else {
			runtime = append(runtime, f)
		}
	}
	return runtime, other
}

// RunOtherFixtures runs fixtures of non-runtime rules with their source's
// registered schema; notRun counts, by source, those no schema here runs.
func RunOtherFixtures(set *Set, fixtures []Fixture) (results []FixtureResult, notRun map[string]int) {
	source := map[string]string{}
	for _, r := range set.Rules {
		source[r.Name] = r.Source
	}
	bySource := map[string][]Fixture{}
	for _, f := range fixtures {
		bySource[source[f.Rule]] = append(bySource[source[f.Rule]], f)
	}
	schemaMu.Lock()
	defer schemaMu.Unlock()
	for src, fx := range bySource {
		if fr, ok := schemas[src].(FixtureRunner); ok {
			results = append(results, fr.RunFixtures(set, fx)...)
			continue
		}
		if notRun == nil {
			notRun = map[string]int{}
		}
		notRun[src] += len(fx)
	}
	return results, notRun
}

// RunCases runs the match and nomatch cases of fixtures: known tells
// whether a rule is enabled in the set; fires runs one case's events and
// reports whether the fixture's rule fired, a note for a failed case (such
// as evaluation errors), or why the case could not run.
func RunCases(fixtures []Fixture, known func(rule string) bool,
	fires func(f Fixture, events []map[string]any) (fired bool, note string, err error)) []FixtureResult {
	var out []FixtureResult
	for _, f := range fixtures {
		run := func(kind string, i int, events []map[string]any, want bool) {
			r := FixtureResult{Rule: f.Rule, Pos: f.Pos, Case: fmt.Sprintf("%s[%d]", kind, i)}
			defer func() { out = append(out, r) }()
			if !known(f.Rule) {
				r.Detail = "no enabled rule with this name"
				return
			}
			fired, note, err := fires(f, events)
			if err != nil {
				r.Detail = err.Error()
				return
			}
			r.Passed = fired == want
			if !r.Passed {
				r.Detail = "rule fired"
				if want {
					r.Detail = "rule did not fire"
				}
				if note != "" {
					r.Detail += " (" + note + ")"
				}
			}
		}
		for i, c := range f.Match {
			run("match", i, c, true)
		}
		for i, c := range f.NoMatch {
			run("nomatch", i, c, false)
		}
	}
	return out
}
