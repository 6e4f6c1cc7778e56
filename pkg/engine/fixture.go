package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/host"
)

// Fixture, ParseFixtures and FixtureResult are the core's
// (source-agnostic) fixture format; RunFixtures runs runtime fixtures.
type (
	Fixture       = rules.Fixture
	FixtureResult = rules.FixtureResult
)

// ParseFixtures reads a fixture file.
func ParseFixtures(file string, b []byte) ([]Fixture, error) { return rules.ParseFixtures(file, b) }

type collectSink struct{ alerts []*Alert }

func (c *collectSink) WriteAlert(a *Alert) error { c.alerts = append(c.alerts, a); return nil }

// toEvents converts a case's YAML events to events, with ids and times.
func toEvents(raw []map[string]any, base time.Time) ([]*event.Event, error) {
	var out []*event.Event
	for i, m := range raw {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		// Strict: a misspelt or misplaced field (ancestors beside process
		// rather than in it) would leave the event without it, and a
		// nomatch case would pass for the wrong reason.
		e := &event.Event{}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(e); err != nil {
			return nil, fmt.Errorf("event %d: %v", i+1, err)
		}
		if e.Type == event.TypeNone {
			return nil, fmt.Errorf("event %d has no type", i+1)
		}
		e.Schema = event.SchemaVersion
		if e.ID == "" {
			e.ID = "fixture-" + strconv.Itoa(i)
		}
		if e.Time.IsZero() {
			e.Time = base.Add(time.Duration(i) * 10 * time.Millisecond)
		}
		if e.Container.Runtime == "" {
			e.Container.Runtime = "host"
		}
		e.Derive()
		out = append(out, e)
	}
	return out, nil
}

// RunFixtures runs every case against the rule set, each case in a fresh
// monitor-only engine (no kills, no deduplication).
func RunFixtures(rs *host.Ruleset, fixtures []Fixture, h host.Host) []FixtureResult {
	byName := map[string]bool{}
	for _, c := range rs.Rules {
		byName[c.Name] = true
	}
	known := func(rule string) bool { return byName[rule] }
	return rules.RunCases(fixtures, known, func(f Fixture, raw []map[string]any) (bool, string, error) {
		evs, err := toEvents(raw, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			return false, "", err
		}
		sink := &collectSink{}
		e := New(Config{Host: h, MonitorOnly: true}, rs, nil, sink)
		clock := evs[0].Time
		e.now = func() time.Time { return clock }
		for _, ev := range evs {
			clock = ev.Time
			_ = e.Write(ev)
		}
		fired := false
		for _, a := range sink.alerts {
			fired = fired || a.Rule == f.Rule
		}
		note := ""
		if n := e.Stats.EvalErrors.Load(); n > 0 {
			note = fmt.Sprintf("%d evaluation errors", n)
		}
		return fired, note, nil
	})
}
