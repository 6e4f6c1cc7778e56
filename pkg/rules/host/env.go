package host

import (
	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/event"
)

// Host describes the machine in rule conditions and alerts (alert.Host).
type Host = alert.Host

// Env is what a condition sees: the event's parts by their schema names,
// with absent parts present and empty so conditions never dereference nil.
type Env struct {
	Type      string           `expr:"type"`
	Ret       int64            `expr:"ret"`
	Error     string           `expr:"error"`
	Process   *event.Process   `expr:"process"`
	Parent    *event.Ancestor  `expr:"parent"`
	Ancestors []event.Ancestor `expr:"ancestors"`
	Container *event.Container `expr:"container"`
	Exec      *event.ExecInfo  `expr:"exec"`
	Fork      *event.ForkInfo  `expr:"fork"`
	Exit      *event.ExitInfo  `expr:"exit"`
	File      *event.FileInfo  `expr:"file"`
	Net       *event.NetInfo   `expr:"net"`
	DNS       *event.DNSInfo   `expr:"dns"`
	Sys       *event.SysInfo   `expr:"syscall"`
	Host      *Host            `expr:"host"`
	Event     *event.Event     `expr:"-"`
}

var (
	noParent    = &event.Ancestor{}
	noExec      = &event.ExecInfo{}
	noFork      = &event.ForkInfo{}
	noExit      = &event.ExitInfo{}
	noFile      = &event.FileInfo{}
	noNet       = &event.NetInfo{}
	noDNS       = &event.DNSInfo{}
	noSys       = &event.SysInfo{}
	noHost      = &Host{}
	rootNames   = map[string]bool{}
	typeStrings [event.TypeMax]string
)

func init() {
	for _, n := range []string{"type", "ret", "error", "process", "parent", "ancestors", "container", "exec",
		"fork", "exit", "file", "net", "dns", "syscall", "host"} {
		rootNames[n] = true
	}
	for t := event.Type(0); t < event.TypeMax; t++ {
		typeStrings[t] = t.String()
	}
}

// Reset points env at e. It allocates nothing.
func (env *Env) Reset(e *event.Event, host *Host) {
	env.Event = e
	if e.Type < event.TypeMax {
		env.Type = typeStrings[e.Type]
	}
	env.Ret, env.Error = e.Ret, e.Error
	env.Process, env.Container = &e.Process, &e.Container
	env.Ancestors = e.Process.Ancestors
	env.Parent = noParent
	if len(e.Process.Ancestors) > 0 {
		env.Parent = &e.Process.Ancestors[0]
	}
	env.Exec, env.Fork, env.Exit, env.File, env.Net, env.DNS, env.Sys = noExec, noFork, noExit, noFile, noNet, noDNS, noSys
	if e.Exec != nil {
		env.Exec = e.Exec
	}
	if e.Fork != nil {
		env.Fork = e.Fork
	}
	if e.Exit != nil {
		env.Exit = e.Exit
	}
	if e.File != nil {
		env.File = e.File
	}
	if e.Net != nil {
		env.Net = e.Net
	}
	if e.DNS != nil {
		env.DNS = e.DNS
	}
	if e.Sys != nil {
		env.Sys = e.Sys
		if e.Sys.Net != nil && e.Net == nil {
			env.Net = e.Sys.Net
		}
	}
	env.Host = noHost
	if host != nil {
		env.Host = host
	}
}
