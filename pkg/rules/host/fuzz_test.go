package host

import (
	"testing"

	"github.com/vigil-sec/vigil/pkg/rules"
)

// Rule files come from admins and from whoever can write /etc/vigil/rules.d.
func FuzzParseRules(f *testing.F) {
	f.Add([]byte(okRule))
	f.Add([]byte("- list: l\n  items: [a]\n- macro: m\n  condition: basename(exec.exe) in l\n"))
	f.Add([]byte("- disable: {tags: [x]}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		set := rules.NewSet()
		_ = set.Parse("f.yaml", b)
		_, _ = Compile(set)
	})
}

// Conditions are compiled with macros and lists expanded into them.
func FuzzCompileCondition(f *testing.F) {
	f.Add(`basename(exec.exe) in shells and parent.exe endsWith "nginx"`)
	f.Add(`any(exec.args, # in ["-e"]) or m`)
	f.Add(`cidr(net.dst_addr, "10.0.0.0/8") and not glob(file.path, "/tmp/*")`)
	f.Fuzz(func(t *testing.T, cond string) {
		set := rules.NewSet()
		set.Lists["shells"] = &rules.List{Name: "shells", Items: []string{"sh", "shells"}}
		set.Macros["m"] = &rules.Macro{Name: "m", Condition: "m2 or true"}
		set.Macros["m2"] = &rules.Macro{Name: "m2", Condition: "m"}
		p, _, err := compileExpr(set, cond, true)
		if err != nil {
			return
		}
		var env Env
		env.Reset(&eventFixture, nil)
		var r vmRunner
		_ = r.run(&Compiled{Cond: p}, &env)
	})
}
