package rules

import "github.com/expr-lang/expr/vm"

type vmRunner struct{ m vm.VM }

func (r *vmRunner) run(c *Compiled, env *Env) bool {
	v, err := r.m.Run(c.Cond, env)
	b, _ := v.(bool)
	return err == nil && b
}
