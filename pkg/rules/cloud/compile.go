package cloud

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/lang"
)

var language = lang.New(Env{}, functions...)

// Compiled is an enabled cloud rule ready to evaluate.
type Compiled struct {
	*rules.Rule
	Index int
	Cond  *vm.Program
	Key   *vm.Program // threshold key
	Seen  *vm.Program // first_seen key
	// Parts: the CloudTrail fields decoded on demand the rule reads.
	Parts  cloudevent.Part
	Output *lang.Template
}

// sourceIndex lists a source's rules by event name (CloudTrail eventName,
// Kubernetes verb): the rules naming it, then those naming none.
type sourceIndex struct {
	byEvent map[string][]*Compiled
	any     []*Compiled
}

// Ruleset is the compiled cloud rules.
type Ruleset struct {
	Rules   []*Compiled
	sources map[string]*sourceIndex
	// Version identifies the rule content.
	Version string
	// Disabled counts rules loaded but disabled.
	Disabled int
	// Other counts, by source, rules of sources this set does not evaluate.
	Other map[string]int
}

// Candidates are the rules to evaluate on r.
func (rs *Ruleset) Candidates(r *cloudevent.Record) []*Compiled {
	ix := rs.sources[r.Source]
	if ix == nil {
		return nil
	}
	var name string
	switch {
	case r.CloudTrail != nil:
		name = string(r.CloudTrail.EventName)
	case r.K8s != nil:
		name = string(r.K8s.Verb)
	}
	if l, ok := ix.byEvent[name]; ok {
		return l
	}
	return ix.any
}

// Compile compiles the set's rules of the given cloud sources (all three
// when none is named). Errors name each rule's file and line.
func Compile(set *rules.Set, sources ...string) (*Ruleset, error) {
	return compile(set, true, sources...)
}

// compile compiles; shadow includes the macro and list names that shadow a
// root field (reported once when each source is checked apart).
func compile(set *rules.Set, shadow bool, sources ...string) (*Ruleset, error) {
	if len(sources) == 0 {
		sources = cloudevent.Sources()
	}
	want := map[string]bool{}
	for _, s := range sources {
		want[s] = true
	}
	rs := &Ruleset{sources: map[string]*sourceIndex{}}
	var errs rules.Errors
	if shadow {
		errs = lang.ShadowErrors(set, roots)
	}
	h := sha256.New()
	selected, disabled, other, serrs := lang.Select(set, func(src string) bool { return want[src] })
	rs.Disabled, rs.Other = disabled, other
	errs = append(errs, serrs...)
	for _, r := range selected {
		c, err := compileRule(set, r)
		if err != nil {
			errs = append(errs, &rules.Error{Pos: r.Pos, Msg: fmt.Sprintf("rule %q: %v", r.Name, err)})
			continue
		}
		c.Index = len(rs.Rules)
		rs.Rules = append(rs.Rules, c)
		lang.HashRule(h, r)
	}
	lang.HashMacrosAndLists(h, set)
	if len(errs) > 0 {
		return nil, errs
	}
	// Index: a rule naming events is listed under each; a rule naming none
	// under every name and in any.
	for _, c := range rs.Rules {
		ix := rs.sources[c.Source]
		if ix == nil {
			ix = &sourceIndex{byEvent: map[string][]*Compiled{}}
			rs.sources[c.Source] = ix
		}
		for _, e := range c.Events {
			ix.byEvent[e] = nil
		}
	}
	for _, c := range rs.Rules {
		ix := rs.sources[c.Source]
		if len(c.Events) == 0 {
			ix.any = append(ix.any, c)
			for e := range ix.byEvent {
				ix.byEvent[e] = append(ix.byEvent[e], c)
			}
			continue
		}
		for _, e := range c.Events {
			ix.byEvent[e] = append(ix.byEvent[e], c)
		}
	}
	rs.Version = hex.EncodeToString(h.Sum(nil))[:12]
	return rs, nil
}

func compileRule(set *rules.Set, r *rules.Rule) (*Compiled, error) {
	if err := lang.CheckRule(r); err != nil {
		return nil, err
	}
	if r.Sequence != nil {
		return nil, fmt.Errorf("sequence rules are for runtime events; join cloud records with a threshold rule or the correlation of threats")
	}
	if r.Action == rules.ActionKill {
		return nil, fmt.Errorf("action kill is for runtime rules: a cloud rule alerts")
	}
	if r.Source == cloudevent.VPCFlow && len(r.Events) > 0 {
		return nil, fmt.Errorf("%s: vpcflow rules name no events (every record is a flow)", r.EventsPos)
	}
	if r.Condition == "" {
		return nil, fmt.Errorf("no condition")
	}
	c := &Compiled{Rule: r}
	var err error
	if c.Output, err = language.CompileTemplate(set, r.Output); err != nil {
		return nil, fmt.Errorf("output: %v", err)
	}
	exc, err := lang.ExceptionsExpr(r)
	if err != nil {
		return nil, err
	}
	var node *ast.Node
	if c.Cond, node, err = language.Compile(set, lang.WithExceptions(r.Condition, exc), true); err != nil {
		return nil, fmt.Errorf("condition: %v", err)
	}
	nodes := []*ast.Node{node}
	if r.Threshold != nil {
		if c.Key, node, err = language.Compile(set, r.Threshold.Key, false); err != nil {
			return nil, fmt.Errorf("threshold key: %v", err)
		}
		nodes = append(nodes, node)
	}
	if r.FirstSeen != nil {
		if c.Seen, node, err = language.Compile(set, r.FirstSeen.Key, false); err != nil {
			return nil, fmt.Errorf("first_seen key: %v", err)
		}
		nodes = append(nodes, node)
	}
	c.Parts = parts(nodes, r.Output)
	return c, nil
}

// fieldVisitor finds a member access by its property name.
// parts is what the expressions (macros expanded) and the output template
// read of the CloudTrail fields decoded on demand. It errs on the side of
// decoding: a field of that name anywhere, or ct used whole (passed to a
// function), counts.
func parts(nodes []*ast.Node, output string) cloudevent.Part {
	v := &partsVisitor{}
	for _, n := range nodes {
		ast.Walk(n, v)
	}
	if v.ct > v.ctMembers {
		v.p = cloudevent.PartAll
	}
	for name, p := range partNames {
		if strings.Contains(output, name) {
			v.p |= p
		}
	}
	return v.p
}

var partNames = map[string]cloudevent.Part{
	"request":      cloudevent.PartRequest,
	"response":     cloudevent.PartResponse,
	"request_json": cloudevent.PartRequestJSON,
}

type partsVisitor struct {
	p             cloudevent.Part
	ct, ctMembers int // uses of ct, and of ct.<field>
}

func (v *partsVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if n.Value == "ct" {
			v.ct++
		}
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "ct" {
			v.ctMembers++
		}
		if p, ok := n.Property.(*ast.StringNode); ok {
			v.p |= partNames[p.Value]
		}
	}
}

// LoadAndCompile loads rule files and compiles their cloud rules.
func LoadAndCompile(src rules.Sources) (*Ruleset, error) {
	set, lerr := rules.Load(src)
	rs, cerr := Compile(set)
	if lerr == nil {
		return rs, cerr
	}
	return nil, lang.Merge(lerr, cerr)
}

// schema is one cloud source in the core's registry.
type schema string

func (s schema) Source() string { return string(s) }

func (s schema) Check(set *rules.Set) error {
	_, err := compile(set, string(s) == cloudevent.CloudTrail, string(s))
	return err
}

func init() {
	for _, s := range cloudevent.Sources() {
		rules.Register(schema(s))
	}
}
