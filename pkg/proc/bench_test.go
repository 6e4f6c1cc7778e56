package proc

import (
	"testing"

	"github.com/vigil-sec/vigil/pkg/event"
)

// The common case: an event from a known process whose ancestry is cached.
func BenchmarkApplyKnownProcess(b *testing.B) {
	root := writeProcRoot(&testing.T{}, baseProcs()...)
	tr := NewTree(TreeConfig{Root: root})
	if _, err := tr.Seed(); err != nil {
		b.Fatal(err)
	}
	e := &event.Event{Type: event.TypeOpen, CgroupID: 4242, Process: event.Process{PID: 700, UID: 0, GID: 0, LoginUID: 1000}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tr.Apply(e)
	}
}

// The exec-storm case: fork, exec and exit of a new child per iteration.
func BenchmarkApplyForkExecExit(b *testing.B) {
	root := writeProcRoot(&testing.T{}, baseProcs()...)
	tr := NewTree(TreeConfig{Root: root})
	if _, err := tr.Seed(); err != nil {
		b.Fatal(err)
	}
	args := []string{"/bin/true"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		pid := uint32(100000 + i%50000)
		tr.Apply(&event.Event{Type: event.TypeFork, CgroupID: 4242, Process: event.Process{PID: 600}, Fork: &event.ForkInfo{ChildPID: pid}})
		tr.Apply(&event.Event{Type: event.TypeExec, CgroupID: 4242, Process: event.Process{PID: pid, PPID: 600},
			Exec: &event.ExecInfo{Exe: "/usr/bin/true", Args: args, Cwd: "/"}})
		tr.Apply(&event.Event{Type: event.TypeExit, CgroupID: 4242, Process: event.Process{PID: pid}, Exit: &event.ExitInfo{}})
		if i%10000 == 0 {
			tr.GC()
		}
	}
}
