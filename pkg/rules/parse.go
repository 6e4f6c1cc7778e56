package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// allowed keys per item kind; anything else is an error with its line.
var itemKeys = map[string]map[string]bool{
	"rule": set("rule", "source", "desc", "events", "condition", "output", "severity", "mitre", "tags", "enabled",
		"action", "remediation", "exceptions", "sequence", "threshold", "first_seen", "override", "watch", "write_watch"),
	"macro":   set("macro", "condition", "override"),
	"list":    set("list", "items", "override"),
	"disable": set("disable"),
}

func set(keys ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// NewSet returns an empty rule set.
func NewSet() *Set {
	return &Set{Macros: map[string]*Macro{}, Lists: map[string]*List{}}
}

// Parse reads one rule file into s, in order. Items that redefine an
// existing name must say how (override); vendor files are parsed first, so
// admin files can append to or replace their rules, macros and lists, and
// disable rules by name or tag. Every problem is returned, each naming the
// file and line; s keeps the items that were valid.
func (s *Set) Parse(file string, b []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return Errors{yamlErr(file, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.SequenceNode {
		return Errors{{Pos{file, root.Line}, "a rule file is a list of rule, macro, list and disable items"}}
	}
	var errs Errors
	for _, item := range root.Content {
		if err := s.parseItem(file, item); err != nil {
			errs = append(errs, err...)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func yamlErr(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			line, _ = strconv.Atoi(rest[:i])
			msg = strings.TrimSpace(rest[i+1:])
		}
	}
	return &Error{Pos{file, line}, msg}
}

// fields maps an item's keys to their value nodes.
type fields struct {
	file string
	kind string
	m    map[string]*yaml.Node
	keys map[string]*yaml.Node
	line int
}

func (f *fields) pos(key string) Pos {
	if k, ok := f.keys[key]; ok {
		return Pos{f.file, k.Line}
	}
	return Pos{f.file, f.line}
}

func (f *fields) errf(key, format string, a ...any) *Error {
	return &Error{f.pos(key), fmt.Sprintf(format, a...)}
}

func (f *fields) str(key string) (string, *Error) {
	n, ok := f.m[key]
	if !ok {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", f.errf(key, "%s must be a string", key)
	}
	return n.Value, nil
}

func (f *fields) strs(key string) ([]string, *Error) {
	n, ok := f.m[key]
	if !ok {
		return nil, nil
	}
	var out []string
	if err := n.Decode(&out); err != nil {
		return nil, f.errf(key, "%s must be a list of strings", key)
	}
	return out, nil
}

func (f *fields) decode(key string, v any) *Error {
	n, ok := f.m[key]
	if !ok {
		return nil
	}
	if err := n.Decode(v); err != nil {
		return f.errf(key, "%s: %v", key, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

func (s *Set) parseItem(file string, item *yaml.Node) Errors {
	if item.Kind != yaml.MappingNode {
		return Errors{{Pos{file, item.Line}, "each item must be a mapping with rule, macro, list or disable"}}
	}
	f := &fields{file: file, m: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}, line: item.Line}
	for i := 0; i+1 < len(item.Content); i += 2 {
		k := item.Content[i]
		f.m[k.Value] = item.Content[i+1]
		f.keys[k.Value] = k
		if f.kind == "" {
			if _, ok := itemKeys[k.Value]; ok {
				f.kind = k.Value
			}
		}
	}
	if f.kind == "" {
		return Errors{{Pos{file, item.Line}, "item has none of rule, macro, list or disable"}}
	}
	var errs Errors
	for key := range f.m {
		if !itemKeys[f.kind][key] {
			errs = append(errs, f.errf(key, "unknown key %q in a %s item", key, f.kind))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	over := map[string]string{}
	if e := f.decode("override", &over); e != nil {
		return Errors{e}
	}
	for k, v := range over {
		if v != "append" && v != "replace" {
			return Errors{f.errf("override", "override of %s must be append or replace, not %q", k, v)}
		}
	}
	switch f.kind {
	case "list":
		return s.parseList(f, over)
	case "macro":
		return s.parseMacro(f, over)
	case "disable":
		return s.parseDisable(f)
	}
	return s.parseRule(f, over)
}

func (s *Set) parseList(f *fields, over map[string]string) Errors {
	name, e := f.str("list")
	if e != nil || name == "" {
		return Errors{f.errf("list", "list needs a name")}
	}
	items, e := f.strs("items")
	if e != nil {
		return Errors{e}
	}
	old, exists := s.Lists[name]
	switch {
	case !exists && len(over) > 0:
		return Errors{f.errf("override", "override of list %q, which is not defined", name)}
	case exists && len(over) == 0:
		return Errors{f.errf("list", "list %q is already defined at %s; use override", name, old.Pos)}
	case exists && over["items"] == "append":
		old.Items = append(old.Items, items...)
	case exists:
		old.Items = items
	default:
		s.Lists[name] = &List{Name: name, Items: items, Pos: f.pos("list")}
	}
	return nil
}

func (s *Set) parseMacro(f *fields, over map[string]string) Errors {
	name, e := f.str("macro")
	if e != nil || name == "" {
		return Errors{f.errf("macro", "macro needs a name")}
	}
	cond, e := f.str("condition")
	if e != nil {
		return Errors{e}
	}
	if cond == "" {
		return Errors{f.errf("macro", "macro %q has no condition", name)}
	}
	old, exists := s.Macros[name]
	switch {
	case !exists && len(over) > 0:
		return Errors{f.errf("override", "override of macro %q, which is not defined", name)}
	case exists && len(over) == 0:
		return Errors{f.errf("macro", "macro %q is already defined at %s; use override", name, old.Pos)}
	case exists && over["condition"] == "append":
		old.Condition = "(" + old.Condition + ") and (" + cond + ")"
	case exists:
		old.Condition = cond
	default:
		s.Macros[name] = &Macro{Name: name, Condition: cond, Pos: f.pos("macro")}
	}
	return nil
}

func (s *Set) parseDisable(f *fields) Errors {
	var d struct {
		Rules []string `yaml:"rules"`
		Tags  []string `yaml:"tags"`
	}
	if e := f.decode("disable", &d); e != nil {
		return Errors{e}
	}
	var errs Errors
	for _, name := range d.Rules {
		r := s.rule(name)
		if r == nil {
			errs = append(errs, f.errf("disable", "disable: no rule named %q", name))
			continue
		}
		r.Enabled = false
	}
	for _, tag := range d.Tags {
		for _, r := range s.Rules {
			for _, t := range r.Tags {
				if t == tag {
					r.Enabled = false
				}
			}
		}
	}
	return errs
}

func (s *Set) rule(name string) *Rule {
	for _, r := range s.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// parseEvents keeps the event type names; the source's schema resolves
// them when it compiles the rule (an unknown name is its error, at this
// key's line).
func parseEvents(f *fields, key string, names []string) ([]string, *Error) {
	for _, n := range names {
		if strings.TrimSpace(n) == "" {
			return nil, f.errf(key, "an empty event type name")
		}
	}
	return names, nil
}

func (s *Set) parseRule(f *fields, over map[string]string) Errors {
	name, e := f.str("rule")
	if e != nil || name == "" {
		return Errors{f.errf("rule", "rule needs a name")}
	}
	old := s.rule(name)
	if old != nil && len(over) == 0 {
		// A bare enabled toggle is the one change allowed without override.
		if _, ok := f.m["enabled"]; ok && len(f.m) == 2 {
			var en bool
			if e := f.decode("enabled", &en); e != nil {
				return Errors{e}
			}
			old.Enabled = en
			return nil
		}
		return Errors{f.errf("rule", "rule %q is already defined at %s; use override, or only enabled", name, old.Pos)}
	}
	if old == nil && len(over) > 0 {
		return Errors{f.errf("override", "override of rule %q, which is not defined", name)}
	}
	r := &Rule{Name: name, Enabled: true, Action: ActionAlert, Pos: f.pos("rule")}
	var errs Errors
	add := func(e *Error) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	var str string
	str, e = f.str("desc")
	add(e)
	r.Desc = str
	str, e = f.str("condition")
	add(e)
	r.Condition = str
	str, e = f.str("output")
	add(e)
	r.Output = str
	str, e = f.str("remediation")
	add(e)
	r.Remediation = str
	str, e = f.str("source")
	add(e)
	switch r.Source = str; {
	case str == "":
		r.Source = SourceRuntime
	case !slices.Contains(KnownSources(), str):
		add(f.errf("source", "unknown source %q (known: %s)", str, strings.Join(KnownSources(), ", ")))
	}
	if sev, e := f.str("severity"); e != nil {
		add(e)
	} else if sev != "" {
		v, err := ParseSeverity(sev)
		if err != nil {
			add(f.errf("severity", "%v", err))
		}
		r.Severity = v
	}
	if act, e := f.str("action"); e != nil {
		add(e)
	} else if act != "" {
		if act != string(ActionAlert) && act != string(ActionKill) {
			add(f.errf("action", "action must be alert or kill, not %q", act))
		}
		r.Action = Action(act)
	}
	var names []string
	names, e = f.strs("events")
	add(e)
	r.Events, e = parseEvents(f, "events", names)
	r.EventsPos = f.pos("events")
	add(e)
	r.Tags, e = f.strs("tags")
	add(e)
	var mitre struct {
		Tactic    string `yaml:"tactic"`
		Technique string `yaml:"technique"`
	}
	add(f.decode("mitre", &mitre))
	r.Tactic, r.Technique = mitre.Tactic, mitre.Technique
	if _, ok := f.m["enabled"]; ok {
		add(f.decode("enabled", &r.Enabled))
	}
	add(f.decode("exceptions", &r.Exceptions))
	for i := range r.Exceptions {
		r.Exceptions[i].Pos = f.pos("exceptions")
	}
	if _, ok := f.m["watch"]; ok {
		r.Watch, e = f.strs("watch")
		add(e)
		r.WatchSet = true
		for _, w := range r.Watch {
			if !strings.HasPrefix(w, "/") && !strings.HasPrefix(w, "~/") {
				add(f.errf("watch", "watch prefixes are absolute paths, or ~/ for every user's home directory, not %q", w))
			}
		}
	}
	if _, ok := f.m["write_watch"]; ok {
		r.WriteWatch, e = f.strs("write_watch")
		add(e)
		r.WriteWatchSet = true
		for _, w := range r.WriteWatch {
			if !strings.HasPrefix(w, "/") {
				add(f.errf("write_watch", "write_watch prefixes are absolute paths, not %q", w))
			}
		}
	}
	if _, ok := f.m["sequence"]; ok {
		seq, e := parseSequence(f)
		add(e)
		r.Sequence = seq
	}
	if _, ok := f.m["threshold"]; ok {
		var th struct {
			Count  int    `yaml:"count"`
			Within string `yaml:"within"`
			Key    string `yaml:"key"`
		}
		add(f.decode("threshold", &th))
		d, err := time.ParseDuration(th.Within)
		if err != nil || d <= 0 || th.Count < 2 || th.Key == "" {
			add(f.errf("threshold", "threshold needs count >= 2, a positive within (e.g. 30s) and a key"))
		}
		r.Threshold = &Threshold{Count: th.Count, Within: d, Key: th.Key}
	}
	if _, ok := f.m["first_seen"]; ok {
		var fs struct {
			Key   string `yaml:"key"`
			Learn string `yaml:"learn"`
		}
		add(f.decode("first_seen", &fs))
		learn := 24 * time.Hour
		if fs.Learn != "" {
			d, err := time.ParseDuration(fs.Learn)
			if err != nil || d < 0 {
				add(f.errf("first_seen", "first_seen learn %q: a duration, e.g. 24h", fs.Learn))
			}
			learn = d
		}
		if fs.Key == "" {
			add(f.errf("first_seen", "first_seen needs a key (what must be new, e.g. ct.actor)"))
		}
		if r.Threshold != nil || r.Sequence != nil {
			add(f.errf("first_seen", "first_seen does not combine with threshold or sequence"))
		}
		r.FirstSeen = &FirstSeen{Key: fs.Key, Learn: learn}
	}
	if len(errs) > 0 {
		return errs
	}
	if old == nil {
		s.Rules = append(s.Rules, r)
		return nil
	}
	return mergeRule(f, old, r, over)
}

func parseSequence(f *fields) (*Sequence, *Error) {
	var raw struct {
		Within string `yaml:"within"`
		Steps  []struct {
			Events    []string `yaml:"events"`
			Condition string   `yaml:"condition"`
			Key       string   `yaml:"key"`
		} `yaml:"steps"`
	}
	if e := f.decode("sequence", &raw); e != nil {
		return nil, e
	}
	d, err := time.ParseDuration(raw.Within)
	if err != nil || d <= 0 {
		return nil, f.errf("sequence", "sequence needs a positive within, e.g. 60s")
	}
	if len(raw.Steps) < 2 {
		return nil, f.errf("sequence", "a sequence needs at least two steps")
	}
	seq := &Sequence{Within: d}
	for i, st := range raw.Steps {
		evs, e := parseEvents(f, "sequence", st.Events)
		if e != nil {
			return nil, e
		}
		if len(evs) == 0 || st.Condition == "" || st.Key == "" {
			return nil, f.errf("sequence", "sequence step %d needs events, a condition and a key", i+1)
		}
		seq.Steps = append(seq.Steps, Step{Events: evs, Condition: st.Condition, Key: st.Key, Pos: f.pos("sequence")})
	}
	return seq, nil
}

// mergeRule applies an override item to an existing rule.
func mergeRule(f *fields, old, r *Rule, over map[string]string) Errors {
	for key, how := range over {
		switch key {
		case "condition":
			if how == "append" {
				old.Condition = "(" + old.Condition + ") and (" + r.Condition + ")"
			} else {
				old.Condition = r.Condition
			}
		case "exceptions":
			if how == "append" {
				old.Exceptions = append(old.Exceptions, r.Exceptions...)
			} else {
				old.Exceptions = r.Exceptions
			}
		case "tags":
			if how == "append" {
				old.Tags = append(old.Tags, r.Tags...)
			} else {
				old.Tags = r.Tags
			}
		case "first_seen":
			if how != "replace" {
				return Errors{f.errf("override", "%s can only be replaced", key)}
			}
			old.FirstSeen = r.FirstSeen
		case "output", "desc", "severity", "action", "remediation", "enabled", "events":
			if how != "replace" {
				return Errors{f.errf("override", "%s can only be replaced", key)}
			}
			switch key {
			case "output":
				old.Output = r.Output
			case "desc":
				old.Desc = r.Desc
			case "severity":
				old.Severity = r.Severity
			case "action":
				old.Action = r.Action
			case "remediation":
				old.Remediation = r.Remediation
			case "enabled":
				old.Enabled = r.Enabled
			case "events":
				old.Events, old.EventsPos = r.Events, r.EventsPos
			}
		default:
			return Errors{f.errf("override", "override of %q is not supported", key)}
		}
	}
	if _, ok := f.m["enabled"]; ok && over["enabled"] == "" {
		old.Enabled = r.Enabled
	}
	return nil
}
