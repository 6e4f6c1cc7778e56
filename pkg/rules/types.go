package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
)

// Severity of a rule's alerts (alert.Severity, the shared schema's).
type Severity = alert.Severity

// Severities, lowest first.
const (
	Info     = alert.Info
	Low      = alert.Low
	Medium   = alert.Medium
	High     = alert.High
	Critical = alert.Critical
)

// ParseSeverity reads a severity name.
func ParseSeverity(v string) (Severity, error) { return alert.ParseSeverity(v) }

// Pos is a place in a rule file.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Error is a problem in a rule file.
type Error struct {
	Pos
	Msg string
}

func (e *Error) Error() string {
	if e.File == "" {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// Errors is every problem found in a rule set.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Action is what a rule does when it matches.
type Action string

// Actions.
const (
	ActionAlert Action = "alert"
	ActionKill  Action = "kill"
)

// Exception is a named tuple of fields; an event whose fields equal (or
// match with Comps) any row of Values is excepted from the rule.
type Exception struct {
	Name   string     `yaml:"name" json:"name"`
	Fields []string   `yaml:"fields" json:"fields"`
	Comps  []string   `yaml:"comps" json:"comps,omitempty"`
	Values [][]string `yaml:"values" json:"values"`
	Pos    Pos        `yaml:"-" json:"-"`
}

// Step is one step of a sequence rule.
type Step struct {
	Events    []string `json:"events"`
	Condition string   `json:"condition"`
	// Key is an expression giving the correlation key; consecutive steps
	// match when their keys are equal.
	Key string `json:"key"`
	// Pos is where the step's sequence was given.
	Pos Pos `json:"-"`
}

// Sequence makes a rule match when its steps happen in order, with equal
// keys, within Within.
type Sequence struct {
	Within time.Duration `json:"within"`
	Steps  []Step        `json:"steps"`
}

// Threshold makes a rule match when Count events with the same key match
// within Within.
type Threshold struct {
	Count  int           `json:"count"`
	Within time.Duration `json:"within"`
	Key    string        `json:"key"`
}

// FirstSeen makes a rule match only when Key's value was never seen by
// the rule before, once the rule has learned for Learn (event time) from
// the first record it matched: the first call of a principal, the first
// transfer to a destination.
type FirstSeen struct {
	Key   string        `json:"key"`
	Learn time.Duration `json:"learn"`
}

// SourceRuntime is the source of host rules: events from the agent's
// sensor (the default when a rule names none).
const SourceRuntime = "runtime"

// Sources a rule may name: runtime (host events), and the cloud logs the
// backend ingests (cloudtrail, vpcflow, k8saudit). Rules of a source are
// evaluated where that source's events are: runtime rules by the agent,
// cloud rules by the backend; a rule set compiled for one source skips the
// others' rules.
func KnownSources() []string {
	var out []string
	for _, s := range alert.Sources() {
		out = append(out, string(s))
	}
	return out
}

// Rule is one detection.
type Rule struct {
	Name   string `json:"rule"`
	Source string `json:"source"`
	Desc   string `json:"desc"`
	// Events names the event types the rule applies to, in its source's
	// schema (exec, open... for runtime); the schema resolves them.
	Events []string `json:"events"`
	// EventsPos is where events were given (for the schema's errors).
	EventsPos   Pos         `json:"-"`
	Condition   string      `json:"condition"`
	Output      string      `json:"output"`
	Severity    Severity    `json:"severity"`
	Tactic      string      `json:"mitre_tactic"`
	Technique   string      `json:"mitre_technique"`
	Tags        []string    `json:"tags,omitempty"`
	Enabled     bool        `json:"enabled"`
	Action      Action      `json:"action"`
	Remediation string      `json:"remediation,omitempty"`
	Exceptions  []Exception `json:"exceptions,omitempty"`
	Sequence    *Sequence   `json:"sequence,omitempty"`
	Threshold   *Threshold  `json:"threshold,omitempty"`
	FirstSeen   *FirstSeen  `json:"first_seen,omitempty"`
	// Watch, when set, replaces the read-open prefixes derived from the
	// condition (an empty list: the rule needs none); "~/" starts a prefix
	// under every login user's home directory, expanded by the agent.
	Watch []string `json:"watch,omitempty"`
	// WatchSet records that Watch was given.
	WatchSet bool `json:"-"`
	// WriteWatch, when set, replaces the write-watched prefixes derived
	// for a rule that concerns only writes (which override
	// noisy_prefixes); an empty list when the kernel sends the writes by
	// itself (regular files created below /dev).
	WriteWatch    []string `json:"write_watch,omitempty"`
	WriteWatchSet bool     `json:"-"`
	Pos           Pos      `json:"position"`
}

// Macro is a named condition fragment.
type Macro struct {
	Name      string
	Condition string
	Pos       Pos
}

// List is a named list of values.
type List struct {
	Name  string
	Items []string
	Pos   Pos
}

// Set is the merged content of every rule file, in load order.
type Set struct {
	Rules  []*Rule
	Macros map[string]*Macro
	Lists  map[string]*List
}
