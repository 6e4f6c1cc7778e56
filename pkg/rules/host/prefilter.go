package host

import (
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/vigil-sec/vigil/pkg/event"
)

// Prefilter is a native check of a condition's simple top-level conjuncts
// (field in list, ==, startsWith, endsWith, and ORs of those). When it is
// false the condition is false, so the VM need not run: most events fail
// most rules on their first conjunct.
type Prefilter []func(e *event.Event) bool

// Pass reports whether every conjunct holds.
func (p Prefilter) Pass(e *event.Event) bool {
	for _, f := range p {
		if !f(e) {
			return false
		}
	}
	return true
}

// fastFields reads string fields without reflection.
var fastFields = map[string]func(e *event.Event) string{
	"type":         func(e *event.Event) string { return typeStrings[e.Type] },
	"error":        func(e *event.Event) string { return e.Error },
	"process.name": func(e *event.Event) string { return e.Process.Name },
	"process.exe":  func(e *event.Event) string { return e.Process.Exe },
	"process.user": func(e *event.Event) string { return e.Process.User },
	"parent.name": func(e *event.Event) string {
		if len(e.Process.Ancestors) == 0 {
			return ""
		}
		return e.Process.Ancestors[0].Name
	},
	"parent.exe": func(e *event.Event) string {
		if len(e.Process.Ancestors) == 0 {
			return ""
		}
		return e.Process.Ancestors[0].Exe
	},
	"exec.name": func(e *event.Event) string {
		if e.Exec == nil {
			return ""
		}
		return e.Exec.Name
	},
	"exec.exe": func(e *event.Event) string {
		if e.Exec == nil {
			return ""
		}
		return e.Exec.Exe
	},
	"exec.script":                     execField(func(x *event.ExecInfo) string { return x.Script }),
	"exec.program_source":             execField(func(x *event.ExecInfo) string { return x.ProgramSource }),
	"exec.stdin.kind":                 execField(func(x *event.ExecInfo) string { return x.Stdin.Kind }),
	"exec.stdout.kind":                execField(func(x *event.ExecInfo) string { return x.Stdout.Kind }),
	"exec.stdin.peer.name":            execField(func(x *event.ExecInfo) string { return x.Stdin.Peer.Name }),
	"exec.stdout.peer.name":           execField(func(x *event.ExecInfo) string { return x.Stdout.Peer.Name }),
	"exec.stdout.peer.program_source": execField(func(x *event.ExecInfo) string { return x.Stdout.Peer.ProgramSource }),
	"exec.exe_writer.name":            execField(func(x *event.ExecInfo) string { return x.ExeWriter.Name }),
	"exec.script_writer.name":         execField(func(x *event.ExecInfo) string { return x.ScriptWriter.Name }),
	"file.path": func(e *event.Event) string {
		if e.File == nil {
			return ""
		}
		return e.File.Path
	},
	"file.target": func(e *event.Event) string {
		if e.File == nil {
			return ""
		}
		return e.File.Target
	},
	"container.runtime": func(e *event.Event) string { return e.Container.Runtime },
	"process.exec_id":   func(e *event.Event) string { return e.Process.ExecID },
	"parent.exec_id": func(e *event.Event) string {
		if len(e.Process.Ancestors) == 0 {
			return ""
		}
		return e.Process.Ancestors[0].ExecID
	},
	"net.dst_addr": func(e *event.Event) string {
		if n := envNet(e); n != nil {
			return n.DstAddr
		}
		return ""
	},
	"net.unix_path": func(e *event.Event) string {
		if n := envNet(e); n != nil {
			return n.UnixPath
		}
		return ""
	},
	"net.family": func(e *event.Event) string {
		if n := envNet(e); n != nil {
			return n.Family
		}
		return ""
	},
	"exec.cmdline": func(e *event.Event) string {
		if e.Exec == nil {
			return ""
		}
		return e.Exec.Cmdline
	},
	"dns.query": func(e *event.Event) string {
		if e.DNS == nil {
			return ""
		}
		return e.DNS.Query
	},
	"syscall.cmd": func(e *event.Event) string {
		if e.Sys == nil {
			return ""
		}
		return e.Sys.Cmd
	},
	"syscall.request": func(e *event.Event) string {
		if e.Sys == nil {
			return ""
		}
		return e.Sys.Request
	},
	"syscall.target_name": func(e *event.Event) string {
		if e.Sys == nil {
			return ""
		}
		return e.Sys.TargetName
	},
	"file.added_extension": func(e *event.Event) string {
		if e.File == nil {
			return ""
		}
		return e.File.AddedExtension
	},
	"syscall.family": func(e *event.Event) string {
		if e.Sys == nil {
			return ""
		}
		return e.Sys.Family
	},
	"syscall.obj_name": func(e *event.Event) string {
		if e.Sys == nil {
			return ""
		}
		return e.Sys.ObjName
	},
}

// envNet mirrors Env.Reset: a dup_socket's socket stands in for net.
func envNet(e *event.Event) *event.NetInfo {
	if e.Net != nil {
		return e.Net
	}
	if e.Sys != nil {
		return e.Sys.Net
	}
	return nil
}

func execField(f func(*event.ExecInfo) string) func(*event.Event) string {
	return func(e *event.Event) string {
		if e.Exec == nil {
			return ""
		}
		return f(e.Exec)
	}
}

// buildPrefilter extracts the checks from a compiled condition's tree.
// full is true when every conjunct compiled: the checks are the condition.
func buildPrefilter(node ast.Node) (pre Prefilter, full bool) {
	full = true
	for _, c := range conjuncts(node) {
		if f := simple(c); f != nil {
			pre = append(pre, f)
		} else {
			full = false
		}
	}
	return pre, full
}

func conjuncts(n ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "and" || b.Operator == "&&") {
		return append(conjuncts(b.Left), conjuncts(b.Right)...)
	}
	return []ast.Node{n}
}

// boolFields reads boolean fields without reflection.
var boolFields = map[string]func(e *event.Event) bool{
	"file.write":       func(e *event.Event) bool { return e.File != nil && e.File.Write },
	"file.setuid":      func(e *event.Event) bool { return e.File != nil && e.File.Setuid },
	"file.setgid":      func(e *event.Event) bool { return e.File != nil && e.File.Setgid },
	"file.executable":  func(e *event.Event) bool { return e.File != nil && e.File.Executable },
	"exec.memfd":       func(e *event.Event) bool { return e.Exec != nil && e.Exec.Memfd },
	"exec.exe_deleted": func(e *event.Event) bool { return e.Exec != nil && e.Exec.ExeDeleted },
	"exec.setuid":      func(e *event.Event) bool { return e.Exec != nil && e.Exec.Setuid },
	"exec.setgid":      func(e *event.Event) bool { return e.Exec != nil && e.Exec.Setgid },
	"file.backdated":   func(e *event.Event) bool { return e.File != nil && e.File.Backdated },
}

// mapFields read map-valued fields for "X in field" (a key).
var mapFields = map[string]func(e *event.Event) map[string]string{
	"exec.env": func(e *event.Event) map[string]string {
		if e.Exec == nil {
			return nil
		}
		return e.Exec.Env
	},
}

// intFields reads integer fields without reflection.
var intFields = map[string]func(e *event.Event) int64{
	"ret":          func(e *event.Event) int64 { return e.Ret },
	"process.uid":  func(e *event.Event) int64 { return int64(e.Process.UID) },
	"process.euid": func(e *event.Event) int64 { return int64(e.Process.EUID) },
	"process.pid":  func(e *event.Event) int64 { return int64(e.Process.PID) },
	"net.dst_port": func(e *event.Event) int64 {
		if n := envNet(e); n != nil {
			return int64(n.DstPort)
		}
		return 0
	},
	"syscall.target_pid": func(e *event.Event) int64 {
		if e.Sys == nil {
			return 0
		}
		return e.Sys.TargetPID
	},
}

// sliceFields read list-valued fields for "X in field".
var sliceFields = map[string]func(e *event.Event) []string{
	"file.flag_names": func(e *event.Event) []string {
		if e.File == nil {
			return nil
		}
		return e.File.FlagList
	},
	"syscall.flag_names": func(e *event.Event) []string {
		if e.Sys == nil {
			return nil
		}
		return e.Sys.FlagList
	},
	"exec.args": func(e *event.Event) []string {
		if e.Exec == nil {
			return nil
		}
		return e.Exec.Args
	},
}

// intCompare compiles "intField OP integer".
func intCompare(b *ast.BinaryNode) func(*event.Event) bool {
	get, ok := intFields[memberPath(b.Left)]
	if !ok {
		return nil
	}
	lit, ok := b.Right.(*ast.IntegerNode)
	if !ok {
		return nil
	}
	v := int64(lit.Value)
	switch b.Operator {
	case "==":
		return func(e *event.Event) bool { return get(e) == v }
	case "!=":
		return func(e *event.Event) bool { return get(e) != v }
	case "<":
		return func(e *event.Event) bool { return get(e) < v }
	case "<=":
		return func(e *event.Event) bool { return get(e) <= v }
	case ">":
		return func(e *event.Event) bool { return get(e) > v }
	case ">=":
		return func(e *event.Event) bool { return get(e) >= v }
	}
	return nil
}

// getter compiles a string-valued node: a fast field, or a ternary over them.
func getter(n ast.Node) func(*event.Event) string {
	if c, ok := n.(*ast.ConditionalNode); ok {
		cond, a, b := simple(c.Cond), getter(c.Exp1), getter(c.Exp2)
		if cond == nil || a == nil || b == nil {
			return nil
		}
		return func(e *event.Event) string {
			if cond(e) {
				return a(e)
			}
			return b(e)
		}
	}
	if get, ok := fastFields[memberPath(n)]; ok {
		return get
	}
	if b, ok := n.(*ast.BuiltinNode); ok && b.Name == "string" && len(b.Arguments) == 1 {
		if geti, ok := intFields[memberPath(b.Arguments[0])]; ok {
			return func(e *event.Event) string { return strconv.FormatInt(geti(e), 10) }
		}
	}
	if c, ok := n.(*ast.CallNode); ok && len(c.Arguments) == 1 {
		if id, ok := c.Callee.(*ast.IdentifierNode); ok && (id.Value == "dirname" || id.Value == "basename") {
			inner := getter(c.Arguments[0])
			if inner == nil {
				return nil
			}
			if id.Value == "dirname" {
				return func(e *event.Event) string { return path.Dir(inner(e)) }
			}
			return func(e *event.Event) string { return event.Basename(inner(e)) }
		}
	}
	return nil
}

// KeyFunc compiles a key expression natively when it has a supported shape.
func KeyFunc(node ast.Node) func(*event.Event) string { return getter(node) }

// simple compiles a predicate of a supported shape, or returns nil.
func simple(n ast.Node) func(*event.Event) bool {
	switch x := n.(type) {
	case *ast.MemberNode:
		return boolFields[memberPath(x)]
	case *ast.BoolNode:
		v := x.Value
		return func(*event.Event) bool { return v }
	case *ast.BuiltinNode:
		return anyAncestorName(x)
	case *ast.UnaryNode:
		if x.Operator != "not" && x.Operator != "!" {
			return nil
		}
		f := simple(x.Node)
		if f == nil {
			return nil
		}
		return func(e *event.Event) bool { return !f(e) }
	}
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return nil
	}
	switch b.Operator {
	case "or", "||":
		l, r := simple(b.Left), simple(b.Right)
		if l == nil || r == nil {
			return nil
		}
		return func(e *event.Event) bool { return l(e) || r(e) }
	case "and", "&&":
		l, r := simple(b.Left), simple(b.Right)
		if l == nil || r == nil {
			return nil
		}
		return func(e *event.Event) bool { return l(e) && r(e) }
	}
	if f := intCompare(b); f != nil {
		return f
	}
	if b.Operator == "in" {
		if lit, ok := b.Left.(*ast.StringNode); ok {
			// "X" in mapField (a key)
			if getm, ok := mapFields[memberPath(b.Right)]; ok {
				v := lit.Value
				return func(e *event.Event) bool { _, ok := getm(e)[v]; return ok }
			}
			// "X" in listField
			if gets, ok := sliceFields[memberPath(b.Right)]; ok {
				v := lit.Value
				return func(e *event.Event) bool {
					for _, x := range gets(e) {
						if x == v {
							return true
						}
					}
					return false
				}
			}
		}
	}
	get := getter(b.Left)
	if get == nil {
		return nil
	}
	if b.Operator == "matches" {
		lit, ok := b.Right.(*ast.StringNode)
		if !ok {
			return nil
		}
		re, err := regexp.Compile(lit.Value)
		if err != nil {
			return nil
		}
		return func(e *event.Event) bool { return re.MatchString(get(e)) }
	}
	if b.Operator == "in" {
		set := stringSet(b.Right)
		if set == nil {
			return nil
		}
		return func(e *event.Event) bool { _, ok := set[get(e)]; return ok }
	}
	s, ok := b.Right.(*ast.StringNode)
	if !ok {
		return nil
	}
	v := s.Value
	switch b.Operator {
	case "==":
		return func(e *event.Event) bool { return get(e) == v }
	case "!=":
		return func(e *event.Event) bool { return get(e) != v }
	case "startsWith":
		return func(e *event.Event) bool { return strings.HasPrefix(get(e), v) }
	case "endsWith":
		return func(e *event.Event) bool { return strings.HasSuffix(get(e), v) }
	case "contains":
		return func(e *event.Event) bool { return strings.Contains(get(e), v) }
	}
	return nil
}

// stringSet reads a constant list of strings, as parsed or as optimized.
func stringSet(n ast.Node) map[string]struct{} {
	set := map[string]struct{}{}
	switch x := n.(type) {
	case *ast.ArrayNode:
		for _, it := range x.Nodes {
			s, ok := it.(*ast.StringNode)
			if !ok {
				return nil
			}
			set[s.Value] = struct{}{}
		}
		return set
	case *ast.ConstantNode:
		v := reflect.ValueOf(x.Value)
		switch v.Kind() {
		case reflect.Map:
			for _, k := range v.MapKeys() {
				s, ok := k.Interface().(string)
				if !ok {
					return nil
				}
				set[s] = struct{}{}
			}
			return set
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				s, ok := v.Index(i).Interface().(string)
				if !ok {
					return nil
				}
				set[s] = struct{}{}
			}
			return set
		}
	}
	return nil
}

// anyAncestorName compiles any(ancestors, .name in LIST).
func anyAncestorName(b *ast.BuiltinNode) func(*event.Event) bool {
	if b.Name != "any" || len(b.Arguments) != 2 {
		return nil
	}
	if id, ok := b.Arguments[0].(*ast.IdentifierNode); !ok || id.Value != "ancestors" {
		return nil
	}
	pred := b.Arguments[1]
	if cl, ok := pred.(*ast.PredicateNode); ok {
		pred = cl.Node
	}
	in, ok := pred.(*ast.BinaryNode)
	if !ok || in.Operator != "in" {
		return nil
	}
	m, ok := in.Left.(*ast.MemberNode)
	if !ok {
		return nil
	}
	prop, ok := m.Property.(*ast.StringNode)
	if _, isPtr := m.Node.(*ast.PointerNode); !ok || !isPtr || prop.Value != "name" {
		return nil
	}
	set := stringSet(in.Right)
	if set == nil {
		return nil
	}
	return func(e *event.Event) bool {
		for i := range e.Process.Ancestors {
			if _, ok := set[e.Process.Ancestors[i].Name]; ok {
				return true
			}
		}
		return false
	}
}
