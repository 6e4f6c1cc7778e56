package host

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp/syntax"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/lang"
)

// Compiled is an enabled rule ready to evaluate.
type Compiled struct {
	*rules.Rule
	// Types are the rule's event types, resolved from its names.
	Types  []event.Type
	Index  int
	Pre    Prefilter   // native checks that must pass before Cond runs
	Full   bool        // Pre is the whole condition: Cond need not run
	Cond   *vm.Program // single-event and threshold rules
	Key    *vm.Program // threshold key
	KeyFn  func(*event.Event) string
	Steps  []CompiledStep
	Output *Template
}

// CompiledStep is a compiled sequence step.
type CompiledStep struct {
	Events []event.Type
	Pre    Prefilter
	Full   bool
	Cond   *vm.Program
	Key    *vm.Program
	KeyFn  func(*event.Event) string // native Key, when it has a supported shape
}

// Ruleset is a compiled, indexed rule set.
type Ruleset struct {
	Rules []*Compiled
	// ByType lists, per event type, the single-event and threshold rules to
	// evaluate; Sequence rules are listed per type of any of their steps.
	ByType [event.TypeMax][]*Compiled
	// Types are the event types the rules need.
	Types []event.Type
	// WatchedPrefixes are the read-open path prefixes the rules need; "/"
	// when a rule on open events does not constrain file.path.
	WatchedPrefixes []string
	// WriteWatchedPrefixes are the write-open prefixes write-only rules
	// name: they are sent even under a noisy prefix.
	WriteWatchedPrefixes []string
	// Version identifies the rule content (a hash of every rule's source).
	Version string
	// OtherSources counts, by source, the rules of other sources this
	// (runtime) rule set does not evaluate.
	OtherSources map[string]int
	// Disabled counts rules loaded but disabled.
	Disabled int
}

// language is the rule language over the host schema's environment.
var language = lang.New(Env{})

// compileExpr compiles a condition (asBool) or a value expression.
func compileExpr(set *rules.Set, src string, asBool bool) (*vm.Program, *ast.Node, error) {
	return language.Compile(set, src, asBool)
}

// Template renders a rule's output (the language's).
type Template = lang.Template

// CompileTemplate compiles an output template over the host schema.
func CompileTemplate(set *rules.Set, s string) (*Template, error) {
	return language.CompileTemplate(set, s)
}

// Compile checks and compiles every enabled rule. Errors name each rule's
// file and line.
func Compile(set *rules.Set) (*Ruleset, error) {
	rs := &Ruleset{}
	errs := lang.ShadowErrors(set, rootNames)
	h := sha256.New()
	types := map[event.Type]bool{event.TypeExec: true, event.TypeFork: true, event.TypeExit: true}
	prefixes, writePrefixes := map[string]bool{}, map[string]bool{}
	selected, disabled, other, serrs := lang.Select(set, func(src string) bool { return src == rules.SourceRuntime })
	rs.Disabled, rs.OtherSources = disabled, other
	errs = append(errs, serrs...)
	for _, r := range selected {
		c, err := compileRule(set, r)
		var te *typeError
		if errors.As(err, &te) {
			errs = append(errs, &rules.Error{Pos: te.pos, Msg: te.msg})
			continue
		}
		if err != nil {
			errs = append(errs, &rules.Error{Pos: r.Pos, Msg: fmt.Sprintf("rule %q: %v", r.Name, err)})
			continue
		}
		c.Index = len(rs.Rules)
		rs.Rules = append(rs.Rules, c)
		lang.HashRule(h, r)
		for _, t := range c.allTypes() {
			types[t] = true
			rs.ByType[t] = appendOnce(rs.ByType[t], c)
		}
		// File provenance (exec.exe_writer, exec.script_writer) is learned
		// from write-opens, renames and unlinks: a rule naming it has them
		// collected.
		if namesProvenance(set, c) {
			types[event.TypeOpen], types[event.TypeRename], types[event.TypeUnlink] = true, true, true
		}
		reads, writes := c.openPrefixes(set)
		for _, p := range reads {
			prefixes[p] = true
		}
		for _, p := range writes {
			writePrefixes[p] = true
		}
	}
	lang.HashMacrosAndLists(h, set)
	if len(errs) > 0 {
		return nil, errs
	}
	for t := range types {
		rs.Types = append(rs.Types, t)
	}
	sort.Slice(rs.Types, func(i, j int) bool { return rs.Types[i] < rs.Types[j] })
	for p := range prefixes {
		rs.WatchedPrefixes = append(rs.WatchedPrefixes, p)
	}
	for p := range writePrefixes {
		rs.WriteWatchedPrefixes = append(rs.WriteWatchedPrefixes, p)
	}
	sort.Strings(rs.WatchedPrefixes)
	sort.Strings(rs.WriteWatchedPrefixes)
	if err := CheckPrefixes("rules: read-watched", rs.WatchedPrefixes); err != nil {
		return nil, rules.Errors{{Msg: err.Error()}}
	}
	if err := CheckPrefixes("rules: write-watched", rs.WriteWatchedPrefixes); err != nil {
		return nil, rules.Errors{{Msg: err.Error()}}
	}
	rs.Version = hex.EncodeToString(h.Sum(nil))[:12]
	return rs, nil
}

// CheckPrefixes tells whether a set of path prefixes fits one kernel
// prefix trie: at most event.MaxPrefixes distinct entries of at most
// event.PrefixKeyLen bytes. Checked up front (lint, config check, start and
// reload) so the kernel never refuses part of a set.
func CheckPrefixes(what string, prefixes []string) error {
	distinct := map[string]bool{}
	for _, p := range prefixes {
		if p == "" || len(p) > event.PrefixKeyLen {
			return fmt.Errorf("%s prefix %q: must be 1 to %d bytes", what, p, event.PrefixKeyLen)
		}
		distinct[p] = true
	}
	if len(distinct) > event.MaxPrefixes {
		return fmt.Errorf("%s prefixes: %d, more than the kernel's %d", what, len(distinct), event.MaxPrefixes)
	}
	return nil
}

func appendOnce(list []*Compiled, c *Compiled) []*Compiled {
	for _, x := range list {
		if x == c {
			return list
		}
	}
	return append(list, c)
}

// allTypes are the event types of the rule or of its steps.
func (c *Compiled) allTypes() []event.Type {
	if c.Sequence == nil {
		return c.Types
	}
	var out []event.Type
	for _, st := range c.Steps {
		out = append(out, st.Events...)
	}
	return out
}

// typeError is an unknown event type name, at the line it was given.
type typeError struct {
	pos rules.Pos
	msg string
}

func (e *typeError) Error() string { return e.msg }

// resolveTypes turns event type names into the host schema's types.
func resolveTypes(names []string, pos rules.Pos) ([]event.Type, error) {
	out := make([]event.Type, 0, len(names))
	for _, n := range names {
		t, err := event.ParseType(n)
		if err != nil {
			return nil, &typeError{pos, err.Error()}
		}
		out = append(out, t)
	}
	return out, nil
}

func compileRule(set *rules.Set, r *rules.Rule) (*Compiled, error) {
	c := &Compiled{Rule: r}
	var err error
	if c.Types, err = resolveTypes(r.Events, r.EventsPos); err != nil {
		return nil, err
	}
	if err := lang.CheckRule(r); err != nil {
		return nil, err
	}
	if r.FirstSeen != nil {
		return nil, fmt.Errorf("first_seen is for cloud rules (its state lives in the backend)")
	}
	tmpl, err := CompileTemplate(set, r.Output)
	if err != nil {
		return nil, fmt.Errorf("output: %v", err)
	}
	c.Output = tmpl
	exc, err := lang.ExceptionsExpr(r)
	if err != nil {
		return nil, err
	}
	if r.Sequence != nil {
		if r.Condition != "" || len(r.Events) > 0 {
			return nil, fmt.Errorf("a sequence rule has its events and conditions in its steps")
		}
		for i, st := range r.Sequence.Steps {
			cond := st.Condition
			if i == len(r.Sequence.Steps)-1 {
				cond = lang.WithExceptions(cond, exc)
			}
			cp, node, err := compileExpr(set, cond, true)
			if err != nil {
				return nil, fmt.Errorf("step %d condition: %v", i+1, err)
			}
			pre, full := buildPrefilter(*node)
			kp, knode, err := compileExpr(set, st.Key, false)
			if err != nil {
				return nil, fmt.Errorf("step %d key: %v", i+1, err)
			}
			evs, err := resolveTypes(st.Events, st.Pos)
			if err != nil {
				return nil, err
			}
			c.Steps = append(c.Steps, CompiledStep{Events: evs, Pre: pre, Full: full, Cond: cp, Key: kp, KeyFn: KeyFunc(*knode)})
		}
		return c, nil
	}
	if len(r.Events) == 0 {
		return nil, fmt.Errorf("no events: name the event types the rule applies to")
	}
	if r.Condition == "" {
		return nil, fmt.Errorf("no condition")
	}
	cond := lang.WithExceptions(r.Condition, exc)
	var node *ast.Node
	c.Cond, node, err = compileExpr(set, cond, true)
	if err != nil {
		return nil, fmt.Errorf("condition: %v", err)
	}
	c.Pre, c.Full = buildPrefilter(*node)
	if r.Threshold != nil {
		var knode *ast.Node
		c.Key, knode, err = compileExpr(set, r.Threshold.Key, false)
		if err != nil {
			return nil, fmt.Errorf("threshold key: %v", err)
		}
		c.KeyFn = KeyFunc(*knode)
	}
	return c, nil
}

// openPrefixes derives the open prefixes a rule needs from the file.path
// comparisons in its conditions: read prefixes, and for rules that concern
// only writes, write-watched prefixes. A rule on read-opens that does not
// constrain file.path needs "/". A rule's watch list replaces the read part.
func (c *Compiled) openPrefixes(set *rules.Set) (reads, writes []string) {
	opens := func(ts []event.Type) bool { return hasType(ts, event.TypeOpen) }
	for _, node := range c.conditionNodes(set, opens) {
		v := &pathVisitor{}
		ast.Walk(node, v)
		v.writeOnly = v.writes > v.negated
		switch {
		case v.writeOnly:
			writes = append(writes, v.prefixes...)
		case len(v.prefixes) == 0:
			reads = append(reads, "/")
		default:
			reads = append(reads, v.prefixes...)
		}
	}
	if c.WatchSet {
		reads = c.Watch
	}
	if c.WriteWatchSet {
		writes = c.WriteWatch
	}
	return reads, writes
}

// conditionNodes parses, macros expanded, the rule's condition, or each
// sequence step's, keeping those whose event types pass keep.
func (c *Compiled) conditionNodes(set *rules.Set, keep func([]event.Type) bool) []*ast.Node {
	var conds []string
	if c.Sequence != nil {
		for i, st := range c.Sequence.Steps {
			if i < len(c.Steps) && keep(c.Steps[i].Events) {
				conds = append(conds, st.Condition)
			}
		}
	} else if keep(c.Types) {
		conds = append(conds, c.Condition)
	}
	var nodes []*ast.Node
	for _, cond := range conds {
		if _, node, err := compileExpr(set, cond, true); err == nil {
			nodes = append(nodes, node)
		}
	}
	return nodes
}

// namesProvenance says whether a rule's conditions, macros expanded, read
// exec.exe_writer or exec.script_writer.
func namesProvenance(set *rules.Set, c *Compiled) bool {
	v := &provenanceVisitor{}
	for _, node := range c.conditionNodes(set, func([]event.Type) bool { return true }) {
		ast.Walk(node, v)
	}
	return v.found
}

type provenanceVisitor struct{ found bool }

func (v *provenanceVisitor) Visit(node *ast.Node) {
	if m, ok := (*node).(*ast.MemberNode); ok {
		p := memberPath(m)
		v.found = v.found || strings.HasPrefix(p, "exec.exe_writer") || strings.HasPrefix(p, "exec.script_writer")
	}
}

func hasType(ts []event.Type, t event.Type) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// pathVisitor collects constants compared with file.path, and whether the
// condition requires file.write (used, and not only negated).
type pathVisitor struct {
	prefixes  []string
	writeOnly bool
	writes    int
	negated   int
}

func memberPath(n ast.Node) string {
	switch m := n.(type) {
	case *ast.IdentifierNode:
		return m.Value
	case *ast.MemberNode:
		prop, ok := m.Property.(*ast.StringNode)
		if !ok {
			return ""
		}
		base := memberPath(m.Node)
		if base == "" {
			return ""
		}
		return base + "." + prop.Value
	}
	return ""
}

func (v *pathVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if memberPath(n) == "file.write" {
			v.writes++
		}
	case *ast.UnaryNode:
		if (n.Operator == "not" || n.Operator == "!") && memberPath(n.Node) == "file.write" {
			v.negated++
		}
	case *ast.BinaryNode:
		if memberPath(n.Left) != "file.path" {
			return
		}
		switch n.Operator {
		case "==", "startsWith":
			if s, ok := n.Right.(*ast.StringNode); ok {
				v.prefixes = append(v.prefixes, prefix64(s.Value))
			}
		case "in":
			// As parsed, or as expr's optimizer made it (a constant set).
			set := stringSet(n.Right)
			ps := make([]string, 0, len(set))
			for s := range set {
				ps = append(ps, prefix64(s))
			}
			sort.Strings(ps)
			v.prefixes = append(v.prefixes, ps...)
		case "matches":
			// An anchored pattern's literal start is its prefix
			// ("^/var/lib/dpkg/" -> /var/lib/dpkg/); any other pattern
			// may match any path.
			p := "/"
			if s, ok := n.Right.(*ast.StringNode); ok {
				if lit := anchoredLiteral(s.Value); strings.HasPrefix(lit, "/") {
					p = prefix64(lit)
				}
			}
			v.prefixes = append(v.prefixes, p)
		}
	}
}

// anchoredLiteral is the literal text a pattern anchored at the start must
// begin with ("^/etc/(cron|ssh/)" -> "/etc/"), or "".
func anchoredLiteral(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) < 2 {
		return ""
	}
	if op := re.Sub[0].Op; op != syntax.OpBeginText && op != syntax.OpBeginLine {
		return ""
	}
	var b strings.Builder
	for _, sub := range re.Sub[1:] {
		if sub.Op != syntax.OpLiteral || sub.Flags&syntax.FoldCase != 0 {
			break
		}
		b.WriteString(string(sub.Rune))
	}
	return b.String()
}

func prefix64(s string) string {
	if len(s) > event.PrefixKeyLen {
		return s[:event.PrefixKeyLen]
	}
	return s
}

// LoadAndCompile loads and compiles in one step. Every error is reported:
// what parsed is still compiled, so a lint run lists the compile errors
// of one file beside the syntax errors of another.
func LoadAndCompile(src rules.Sources) (*Ruleset, error) {
	set, lerr := rules.Load(src)
	rs, cerr := Compile(set)
	if lerr == nil {
		return rs, cerr
	}
	return nil, lang.Merge(lerr, cerr)
}

// runtime is the host schema in the core's registry.
type runtime struct{}

func (runtime) Source() string { return rules.SourceRuntime }

func (runtime) Check(set *rules.Set) error {
	_, err := Compile(set)
	return err
}

func init() { rules.Register(runtime{}) }
