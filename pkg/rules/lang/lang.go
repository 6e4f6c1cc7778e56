package lang

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/vigil-sec/vigil/pkg/rules"
)

// Functions available to conditions besides expr's built-ins.
var (
	fnBasename   = func(s string) string { return path.Base(s) }
	fnDirname    = func(s string) string { return path.Dir(s) }
	fnGlob       = func(s, pattern string) bool { ok, _ := path.Match(pattern, s); return ok }
	fnIContains  = func(s, sub string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(sub)) }
	fnIStarts    = func(s, p string) bool { return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) }
	fnIEnds      = func(s, p string) bool { return len(s) >= len(p) && strings.EqualFold(s[len(s)-len(p):], p) }
	fnIEquals    = strings.EqualFold
	fnExists     = func(s string) bool { return s != "" }
	fnShellQuote = func(a []string) string { return strings.Join(a, " ") }
	fnBit        = func(mask uint64, n int) bool { return n >= 0 && n < 64 && mask&(1<<uint(n)) != 0 }
)

// CIDR reports whether ip is inside the prefix (IPv4 or IPv6); an address
// or prefix that does not parse is outside.
func CIDR(ip, prefix string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		return false
	}
	return p.Contains(a.Unmap())
}

// functions are the condition functions of every schema.
var functions = []expr.Option{
	expr.Function("basename", func(p ...any) (any, error) { return fnBasename(p[0].(string)), nil }, fnBasename),
	expr.Function("dirname", func(p ...any) (any, error) { return fnDirname(p[0].(string)), nil }, fnDirname),
	expr.Function("glob", func(p ...any) (any, error) { return fnGlob(p[0].(string), p[1].(string)), nil }, fnGlob),
	expr.Function("cidr", func(p ...any) (any, error) { return CIDR(p[0].(string), p[1].(string)), nil }, CIDR),
	expr.Function("icontains", func(p ...any) (any, error) { return fnIContains(p[0].(string), p[1].(string)), nil }, fnIContains),
	expr.Function("istartsWith", func(p ...any) (any, error) { return fnIStarts(p[0].(string), p[1].(string)), nil }, fnIStarts),
	expr.Function("iendsWith", func(p ...any) (any, error) { return fnIEnds(p[0].(string), p[1].(string)), nil }, fnIEnds),
	expr.Function("iequals", func(p ...any) (any, error) { return fnIEquals(p[0].(string), p[1].(string)), nil }, fnIEquals),
	expr.Function("exists", func(p ...any) (any, error) { return fnExists(p[0].(string)), nil }, fnExists),
	expr.Function("join", func(p ...any) (any, error) { return fnShellQuote(p[0].([]string)), nil }, fnShellQuote),
	expr.Function("bit", func(p ...any) (any, error) { return fnBit(p[0].(uint64), p[1].(int)), nil }, fnBit),
}

// Language compiles conditions, keys and templates against one schema's
// environment (a struct value whose `expr` tags name its fields) and any
// schema-specific functions.
type Language struct {
	opts []expr.Option
}

// New makes a language over env, with extra functions or options.
func New(env any, extra ...expr.Option) *Language {
	opts := append([]expr.Option{expr.Env(env)}, functions...)
	return &Language{opts: append(opts, extra...)}
}

// expander replaces list and macro identifiers with their content.
type expander struct {
	set   *rules.Set
	stack []string
	err   error
}

func (x *expander) Visit(node *ast.Node) {
	id, ok := (*node).(*ast.IdentifierNode)
	if !ok || x.err != nil {
		return
	}
	if l, ok := x.set.Lists[id.Value]; ok {
		items := x.listItems(l, nil)
		arr := &ast.ArrayNode{}
		for _, it := range items {
			arr.Nodes = append(arr.Nodes, &ast.StringNode{Value: it})
		}
		ast.Patch(node, arr)
		return
	}
	m, ok := x.set.Macros[id.Value]
	if !ok {
		return
	}
	for _, s := range x.stack {
		if s == m.Name {
			x.err = fmt.Errorf("macro %q refers to itself (%s)", m.Name, strings.Join(append(x.stack, m.Name), " -> "))
			return
		}
	}
	tree, err := parser.Parse(m.Condition)
	if err != nil {
		x.err = fmt.Errorf("macro %q (%s): %v", m.Name, m.Pos, OneLine(err))
		return
	}
	x.stack = append(x.stack, m.Name)
	ast.Walk(&tree.Node, x)
	x.stack = x.stack[:len(x.stack)-1]
	ast.Patch(node, tree.Node)
}

// listItems flattens a list whose items may name other lists.
func (x *expander) listItems(l *rules.List, seen map[string]bool) []string {
	if seen == nil {
		seen = map[string]bool{}
	}
	if seen[l.Name] {
		return nil
	}
	seen[l.Name] = true
	var out []string
	for _, it := range l.Items {
		if sub, ok := x.set.Lists[it]; ok {
			out = append(out, x.listItems(sub, seen)...)
			continue
		}
		out = append(out, it)
	}
	return out
}

// OneLine is the first line of an error, its spaces collapsed.
func OneLine(err error) string {
	return strings.Join(strings.Fields(strings.SplitN(err.Error(), "\n", 2)[0]), " ")
}

// Compile compiles a condition (asBool) or a value expression, with the
// set's macros and lists expanded. It returns the program and its tree.
func (l *Language) Compile(set *rules.Set, src string, asBool bool) (*vm.Program, *ast.Node, error) {
	x := &expander{set: set}
	opts := append([]expr.Option{}, l.opts...)
	opts = append(opts, expr.Patch(x))
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	if x.err != nil {
		return nil, nil, x.err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s", OneLine(err))
	}
	node := prog.Node()
	return prog, &node, nil
}

var exceptionComps = map[string]string{
	"=": "==", "==": "==", "!=": "!=", "startswith": "startsWith", "endswith": "endsWith",
	"contains": "contains", "glob": "glob", "in": "in",
}

// ExceptionsExpr renders a rule's exceptions as "not (row or row ...)"
// ("" when it has none).
func ExceptionsExpr(r *rules.Rule) (string, error) {
	var rows []string
	for _, ex := range r.Exceptions {
		if ex.Name == "" || len(ex.Fields) == 0 {
			return "", fmt.Errorf("exception needs a name and fields")
		}
		comps := ex.Comps
		if len(comps) == 0 {
			comps = make([]string, len(ex.Fields))
			for i := range comps {
				comps[i] = "="
			}
		}
		if len(comps) != len(ex.Fields) {
			return "", fmt.Errorf("exception %q: %d comps for %d fields", ex.Name, len(comps), len(ex.Fields))
		}
		for _, vals := range ex.Values {
			if len(vals) != len(ex.Fields) {
				return "", fmt.Errorf("exception %q: a row has %d values for %d fields", ex.Name, len(vals), len(ex.Fields))
			}
			var terms []string
			for i, f := range ex.Fields {
				op, ok := exceptionComps[strings.ToLower(comps[i])]
				if !ok {
					return "", fmt.Errorf("exception %q: unknown comparison %q", ex.Name, comps[i])
				}
				switch op {
				case "glob":
					terms = append(terms, fmt.Sprintf("glob(%s, %s)", f, strconv.Quote(vals[i])))
				case "in":
					terms = append(terms, fmt.Sprintf("%s in %s", f, vals[i])) // a list name
				default:
					terms = append(terms, fmt.Sprintf("%s %s %s", f, op, strconv.Quote(vals[i])))
				}
			}
			rows = append(rows, "("+strings.Join(terms, " and ")+")")
		}
	}
	if len(rows) == 0 {
		return "", nil
	}
	return "not (" + strings.Join(rows, " or ") + ")", nil
}

// WithExceptions is cond and not any exception row.
func WithExceptions(cond, exc string) string {
	if exc == "" {
		return cond
	}
	return "(" + cond + ") and " + exc
}

// CheckRule is what every rule needs whatever its source: an output, a
// description, and a MITRE tactic and technique.
func CheckRule(r *rules.Rule) error {
	if r.Output == "" {
		return fmt.Errorf("no output")
	}
	if r.Desc == "" {
		return fmt.Errorf("no desc")
	}
	if r.Tactic == "" || r.Technique == "" {
		return fmt.Errorf("no MITRE tactic and technique")
	}
	return nil
}

// Template renders a rule's output: %field.path tokens are replaced by the
// event's values.
type Template struct {
	parts  []string
	fields []*vm.Program
}

var tokenRE = regexp.MustCompile(`%[a-z_][a-zA-Z0-9_.\[\]]*[a-zA-Z0-9_\]]`)

// CompileTemplate compiles an output template.
func (l *Language) CompileTemplate(set *rules.Set, s string) (*Template, error) {
	t := &Template{}
	last := 0
	for _, loc := range tokenRE.FindAllStringIndex(s, -1) {
		t.parts = append(t.parts, s[last:loc[0]])
		p, _, err := l.Compile(set, s[loc[0]+1:loc[1]], false)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", s[loc[0]:loc[1]], err)
		}
		t.fields = append(t.fields, p)
		last = loc[1]
	}
	t.parts = append(t.parts, s[last:])
	return t, nil
}

// Render fills the template from env (a pointer to the schema's
// environment).
func (t *Template) Render(env any) string {
	var b strings.Builder
	for i, f := range t.fields {
		b.WriteString(t.parts[i])
		v, err := vm.Run(f, env)
		switch x := v.(type) {
		case nil:
			if err != nil {
				b.WriteString("<?>")
			}
		case []string:
			b.WriteString(strings.Join(x, " "))
		default:
			fmt.Fprint(&b, x)
		}
	}
	b.WriteString(t.parts[len(t.parts)-1])
	return b.String()
}

// HashRule adds what a rule does to the version hash: its content, never
// where it was read from (so the embedded and the packaged copies of the
// same rules have one version).
func HashRule(h hash.Hash, r *rules.Rule) {
	c := *r
	c.Pos = rules.Pos{}
	c.Exceptions = append([]rules.Exception(nil), r.Exceptions...)
	for i := range c.Exceptions {
		c.Exceptions[i].Pos = rules.Pos{}
	}
	b, _ := json.Marshal(&c)
	h.Write(b)
	h.Write([]byte{0})
}

// HashMacrosAndLists adds the macros and lists (by name) to the version:
// a changed macro changes what the rules using it do.
func HashMacrosAndLists(h hash.Hash, set *rules.Set) {
	names := make([]string, 0, len(set.Macros))
	for n := range set.Macros {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "macro\x00%s\x00%s\x00", n, set.Macros[n].Condition)
	}
	names = names[:0]
	for n := range set.Lists {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "list\x00%s\x00%s\x00", n, strings.Join(set.Lists[n].Items, "\x00"))
	}
}

// ShadowErrors reports macros and lists named like a root field of the
// schema (they would replace the field in every condition).
func ShadowErrors(set *rules.Set, roots map[string]bool) rules.Errors {
	var errs rules.Errors
	for name, m := range set.Macros {
		if roots[name] {
			errs = append(errs, &rules.Error{Pos: m.Pos, Msg: fmt.Sprintf("macro %q shadows an event field", name)})
		}
	}
	for name, l := range set.Lists {
		if roots[name] {
			errs = append(errs, &rules.Error{Pos: l.Pos, Msg: fmt.Sprintf("list %q shadows an event field", name)})
		}
	}
	return errs
}

// Merge joins a load error and a compile error into one list.
func Merge(errs ...error) error {
	var all rules.Errors
	for _, err := range errs {
		var es rules.Errors
		if errors.As(err, &es) {
			all = append(all, es...)
		} else if err != nil {
			all = append(all, &rules.Error{Msg: err.Error()})
		}
	}
	if len(all) == 0 {
		return nil
	}
	return all
}

// Select is the set's rules a schema compiles: those whose source want
// accepts (a rule naming none is runtime), enabled, each name once. It
// counts the disabled ones and, by source, the others, and reports a name
// defined twice with both places.
func Select(set *rules.Set, want func(source string) bool) (enabled []*rules.Rule, disabled int, other map[string]int, errs rules.Errors) {
	seen := map[string]rules.Pos{}
	for _, r := range set.Rules {
		src := r.Source
		if src == "" {
			src = rules.SourceRuntime
		}
		if !want(src) {
			if other == nil {
				other = map[string]int{}
			}
			other[src]++
			continue
		}
		if p, dup := seen[r.Name]; dup {
			errs = append(errs, &rules.Error{Pos: r.Pos, Msg: fmt.Sprintf("rule %q is defined twice (first at %s)", r.Name, p)})
			continue
		}
		seen[r.Name] = r.Pos
		if !r.Enabled {
			disabled++
			continue
		}
		enabled = append(enabled, r)
	}
	return enabled, disabled, other, errs
}
