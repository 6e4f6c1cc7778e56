package host

import (
	"testing"

	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
)

// The prefilter must never reject an event the full condition accepts.
func TestPrefilterAgreesWithCondition(t *testing.T) {
	rs, err := LoadAndCompile(rules.Sources{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	with := 0
	for _, c := range rs.Rules {
		if len(c.Pre) > 0 {
			with++
		}
	}
	if with < 45 {
		t.Errorf("only %d of %d rules have a prefilter", with, len(rs.Rules))
	}
	evs := []*event.Event{
		{Type: event.TypeOpen, File: &event.FileInfo{Path: "/etc/cron.d/x", Write: true}, Process: event.Process{Exe: "/bin/x"}},
		{Type: event.TypeRename, File: &event.FileInfo{Path: "/tmp/a", Target: "/etc/sudoers.d/a"}},
		{Type: event.TypeExec, Exec: &event.ExecInfo{Exe: "/usr/bin/nc", Name: "nc", Args: []string{"nc", "-e", "/bin/sh"}}},
		{Type: event.TypeOpen, File: &event.FileInfo{Path: "/etc/shadow"}, Process: event.Process{Exe: "/usr/bin/cat", Name: "cat"}},
		{Type: event.TypeChmod, File: &event.FileInfo{Path: "/tmp/x", Setuid: true, Mode: "4755"}},
		{Type: event.TypeExec, Process: event.Process{UID: 1000}, Exec: &event.ExecInfo{Exe: "/usr/bin/su", Setgid: true,
			Env: map[string]string{"GLIBC_TUNABLES": "x", "BASH_ENV": "/tmp/x", "PROMPT_COMMAND": "logger x"}}},
		{Type: event.TypeSocket, Process: event.Process{Exe: "/tmp/x"}, Sys: &event.SysInfo{Name: "socket", Family: "packet"}},
		{Type: event.TypeUtimes, Process: event.Process{Exe: "/usr/bin/touch"}, File: &event.FileInfo{Path: "/usr/bin/x", Backdated: true}},
	}
	var r vmRunner
	var env Env
	for _, e := range evs {
		e.Derive()
		env.Reset(e, nil)
		for _, c := range rs.ByType[e.Type] {
			if c.Cond == nil {
				continue
			}
			if r.run(c, &env) && !c.Pre.Pass(e) {
				t.Errorf("rule %q: prefilter rejects an event its condition accepts", c.Name)
			}
		}
	}
}

func TestAnchoredLiteral(t *testing.T) {
	for pattern, want := range map[string]string{
		"^/etc/(cron|ssh/)":       "/etc/",
		"^/var/lib/dpkg/":         "/var/lib/dpkg/",
		"^/proc/[0-9]+(/|$)":      "/proc/",
		"/etc/":                   "",
		"(?i)^/etc/":              "",
		"^(/etc|/usr)/":           "",
		"lock(-frontend)?$":       "",
		"^/dev/(shm|hugepages)/x": "/dev/",
	} {
		if got := anchoredLiteral(pattern); got != want {
			t.Errorf("anchoredLiteral(%q) = %q, want %q", pattern, got, want)
		}
	}
}
