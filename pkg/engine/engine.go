package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/host"
)

// Config tunes the engine.
type Config struct {
	Host host.Host
	// MonitorOnly turns every kill into an alert that says so.
	MonitorOnly bool
	// Protect lists executables never killed.
	Protect []string
	// AgentPID is never killed.
	AgentPID int
	// DedupWindow: the same rule, process and target within it is counted,
	// not repeated. Zero disables deduplication.
	DedupWindow time.Duration
	// MaxState bounds the keys kept per sequence step and threshold.
	MaxState int
	// OnSinkError is told of every failed alert write, after it is counted
	// (it must not block: the agent rate-limits its log lines and raises a
	// "sensor degraded" alert from the counts).
	OnSinkError func(sink string, a *Alert, err error)
}

// NumSeverities is the number of alert severities.
const NumSeverities = alert.NumSeverities

// SinkFailures are one alert sink's failed writes by severity.
type SinkFailures struct {
	Sink       string                `json:"sink"`
	BySeverity [NumSeverities]uint64 `json:"by_severity"`
}

// Named sinks name themselves in counters and logs.
type Named interface {
	Name() string
}

type sinkSlot struct {
	Sink
	name   string
	failed [NumSeverities]atomic.Uint64
}

// Stats are the engine's counters.
type Stats struct {
	Evaluated  atomic.Uint64
	Alerts     atomic.Uint64
	Suppressed atomic.Uint64
	EvalErrors atomic.Uint64
	Kills      atomic.Uint64
}

// Engine evaluates rules. Write and Flush are called from one goroutine (the
// pipeline's consumer); Swap may be called from any.
type Engine struct {
	cfg     Config
	rs      atomic.Pointer[host.Ruleset]
	sinks   []*sinkSlot
	killer  Killer
	Stats   Stats
	env     host.Env
	machine vm.VM

	mu    sync.Mutex // guards state across Swap
	state *state
	now   func() time.Time
}

type window struct {
	at     time.Time
	events []*event.Event
	count  int
}

type state struct {
	seq   map[int][]map[string]*window // rule index -> step -> key
	thr   map[int]map[string]*window
	dedup map[string]time.Time
}

func newState() *state {
	return &state{seq: map[int][]map[string]*window{}, thr: map[int]map[string]*window{}, dedup: map[string]time.Time{}}
}

// New makes an engine over rs that sends alerts to sinks. killer carries
// out kill actions (the agent's response.ProcKiller); with none, a kill is
// reported as skipped.
func New(cfg Config, rs *host.Ruleset, killer Killer, sinks ...Sink) *Engine {
	if cfg.MaxState <= 0 {
		cfg.MaxState = 10000
	}
	e := &Engine{cfg: cfg, killer: killer, state: newState(), now: time.Now}
	for i, s := range sinks {
		slot := &sinkSlot{Sink: s, name: fmt.Sprintf("sink%d", i)}
		if n, ok := s.(Named); ok {
			slot.name = n.Name()
		}
		e.sinks = append(e.sinks, slot)
	}
	e.rs.Store(rs)
	return e
}

// SinkFailures reports every sink's failed writes by severity.
func (e *Engine) SinkFailures() []SinkFailures {
	out := make([]SinkFailures, len(e.sinks))
	for i, s := range e.sinks {
		out[i].Sink = s.name
		for v := range s.failed {
			out[i].BySeverity[v] = s.failed[v].Load()
		}
	}
	return out
}

// Emit sends an alert the agent raised itself (sensor health) to every
// sink, with the engine's host, schema, rules version and an id. It may be
// called from any goroutine.
func (e *Engine) Emit(a *Alert) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a.Schema, a.Host = AlertSchema, e.cfg.Host
	if rs := e.rs.Load(); rs != nil {
		a.RulesVersion = rs.Version
	}
	if a.ID == "" {
		h := sha256.Sum256([]byte(a.Rule + "\x00" + a.Time.Format(time.RFC3339Nano) + "\x00" + a.Message))
		a.ID = hex.EncodeToString(h[:])[:24]
	}
	if a.Action.Type == "" {
		a.Action.Type = string(rules.ActionAlert)
	}
	e.Stats.Alerts.Add(1)
	e.deliver(a)
}

// deliver writes an alert to every sink; a failure is counted per sink and
// severity and reported, and the other sinks still get the alert.
func (e *Engine) deliver(a *Alert) {
	for _, s := range e.sinks {
		if err := s.WriteAlert(a); err != nil {
			sev := int(a.Severity)
			if sev < 0 || sev >= NumSeverities {
				sev = NumSeverities - 1
			}
			s.failed[sev].Add(1)
			if e.cfg.OnSinkError != nil {
				e.cfg.OnSinkError(s.name, a, err)
			}
		}
	}
}

// Swap installs a new rule set; sequence and threshold state starts afresh.
func (e *Engine) Swap(rs *host.Ruleset) {
	e.mu.Lock()
	e.rs.Store(rs)
	e.state = newState()
	e.mu.Unlock()
}

// Ruleset is the rule set in use.
func (e *Engine) Ruleset() *host.Ruleset { return e.rs.Load() }

// Flush does nothing: alerts are written as they happen.
func (e *Engine) Flush() error { return nil }

// Write evaluates one event (pipeline.Sink).
func (e *Engine) Write(ev *event.Event) error {
	rs := e.rs.Load()
	if rs == nil || ev.Type >= event.TypeMax {
		return nil
	}
	list := rs.ByType[ev.Type]
	if len(list) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.env.Reset(ev, &e.cfg.Host)
	// One atomic add per event, not one per rule.
	e.Stats.Evaluated.Add(uint64(len(list)))
	for _, c := range list {
		if c.Sequence != nil {
			e.sequence(rs, c, ev)
			continue
		}
		if !c.Pre.Pass(ev) || (!c.Full && !e.test(c.Cond)) {
			continue
		}
		if c.Threshold != nil {
			e.threshold(rs, c, ev)
			continue
		}
		e.fire(rs, c, []*event.Event{ev})
	}
	return nil
}

func (e *Engine) test(p *vm.Program) bool {
	v, err := e.machine.Run(p, &e.env)
	if err != nil {
		e.Stats.EvalErrors.Add(1)
		return false
	}
	b, _ := v.(bool)
	return b
}

func (e *Engine) key(fn func(*event.Event) string, p *vm.Program, ev *event.Event) string {
	if fn != nil {
		return fn(ev)
	}
	v, err := e.machine.Run(p, &e.env)
	if err != nil || v == nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// sequence advances rule c's steps with ev. Steps are tried last first so an
// event never chains onto itself.
func (e *Engine) sequence(rs *host.Ruleset, c *host.Compiled, ev *event.Event) {
	steps := e.state.seq[c.Index]
	if steps == nil {
		steps = make([]map[string]*window, len(c.Steps))
		for i := range steps {
			steps[i] = map[string]*window{}
		}
		e.state.seq[c.Index] = steps
	}
	now := e.now()
	for i := len(c.Steps) - 1; i >= 0; i-- {
		st := c.Steps[i]
		if !typeIn(st.Events, ev.Type) || !st.Pre.Pass(ev) || (!st.Full && !e.test(st.Cond)) {
			continue
		}
		k := e.key(st.KeyFn, st.Key, ev)
		if k == "" {
			continue
		}
		if i == 0 {
			if w, ok := steps[0][k]; ok { // the same key again: restart its window in place
				w.at, w.events = now, append(w.events[:0], ev)
				continue
			}
			e.put(steps[0], k, &window{at: now, events: []*event.Event{ev}})
			continue
		}
		prev, ok := steps[i-1][k]
		if !ok || now.Sub(prev.at) > c.Sequence.Within {
			continue
		}
		chain := append(append([]*event.Event(nil), prev.events...), ev)
		if i == len(c.Steps)-1 {
			delete(steps[i-1], k)
			e.fire(rs, c, chain)
			continue
		}
		e.put(steps[i], k, &window{at: prev.at, events: chain})
	}
}

func (e *Engine) threshold(rs *host.Ruleset, c *host.Compiled, ev *event.Event) {
	k := e.key(c.KeyFn, c.Key, ev)
	if k == "" {
		return
	}
	m := e.state.thr[c.Index]
	if m == nil {
		m = map[string]*window{}
		e.state.thr[c.Index] = m
	}
	now := e.now()
	w, ok := m[k]
	if !ok || now.Sub(w.at) > c.Threshold.Within {
		w = &window{at: now}
		e.put(m, k, w)
	}
	w.count++
	if len(w.events) < 10 {
		w.events = append(w.events, ev)
	}
	if w.count >= c.Threshold.Count {
		delete(m, k)
		e.fire(rs, c, w.events)
	}
}

// put bounds a state map: past MaxState keys, expired windows go first,
// then the oldest.
func (e *Engine) put(m map[string]*window, k string, w *window) {
	if len(m) >= e.cfg.MaxState {
		var oldestK string
		var oldest time.Time
		for key, x := range m {
			if oldestK == "" || x.at.Before(oldest) {
				oldestK, oldest = key, x.at
			}
		}
		delete(m, oldestK)
	}
	m[k] = w
}

func typeIn(ts []event.Type, t event.Type) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// target names what an event acted on, for deduplication.
func target(ev *event.Event) string {
	switch {
	case ev.File != nil:
		return ev.File.Path + "\x00" + ev.File.Target
	case ev.Net != nil:
		return ev.Net.DstAddr + ":" + fmt.Sprint(ev.Net.DstPort)
	case ev.Sys != nil:
		return fmt.Sprint(ev.Sys.TargetPID, ev.Sys.Target, ev.Sys.ObjName)
	case ev.Exec != nil:
		return ev.Exec.Exe
	}
	return ""
}

func (e *Engine) fire(rs *host.Ruleset, c *host.Compiled, evs []*event.Event) {
	last := evs[len(evs)-1]
	now := e.now()
	if e.cfg.DedupWindow > 0 {
		k := fmt.Sprint(c.Index, "\x00", last.Process.ExecID, "\x00", last.Process.PID, "\x00", target(last))
		if t, ok := e.state.dedup[k]; ok && now.Sub(t) < e.cfg.DedupWindow {
			e.Stats.Suppressed.Add(1)
			return
		}
		if len(e.state.dedup) >= e.cfg.MaxState {
			for key, t := range e.state.dedup {
				if now.Sub(t) >= e.cfg.DedupWindow {
					delete(e.state.dedup, key)
				}
			}
			if len(e.state.dedup) >= e.cfg.MaxState {
				clear(e.state.dedup)
			}
		}
		e.state.dedup[k] = now
	}
	h := sha256.New()
	h.Write([]byte(c.Name))
	for _, ev := range evs {
		h.Write([]byte{0})
		h.Write([]byte(ev.ID))
	}
	a := &Alert{
		Schema:       AlertSchema,
		ID:           hex.EncodeToString(h.Sum(nil))[:24],
		Time:         last.Time,
		Rule:         c.Name,
		Severity:     c.Severity,
		Tactic:       c.Tactic,
		Technique:    c.Technique,
		Tags:         c.Tags,
		Message:      c.Output.Render(&e.env),
		Description:  c.Desc,
		Remediation:  c.Remediation,
		Host:         e.cfg.Host,
		Process:      last.Process,
		Container:    last.Container,
		Events:       evs,
		Action:       ActionResult{Type: string(c.Action)},
		RulesVersion: rs.Version,
	}
	if c.Action == rules.ActionKill {
		a.Action = e.respond(last)
	}
	e.Stats.Alerts.Add(1)
	e.deliver(a)
}
