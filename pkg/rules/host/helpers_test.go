package host

import (
	"github.com/expr-lang/expr/vm"

	"github.com/vigil-sec/vigil/pkg/event"
)

type vmRunner struct{ m vm.VM }

func (r *vmRunner) run(c *Compiled, env *Env) bool {
	v, err := r.m.Run(c.Cond, env)
	b, _ := v.(bool)
	return err == nil && b
}

var eventFixture = event.Event{Type: event.TypeExec, Exec: &event.ExecInfo{Exe: "/bin/sh", Args: []string{"sh", "-c", "x"}}}
