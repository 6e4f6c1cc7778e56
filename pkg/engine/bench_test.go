package engine

import (
	"testing"

	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/host"
)

// benchMix is a busy server's event mix: benign events of every common type
// with three ancestors each, in the proportions the sensor sends them.
func benchMix() []*event.Event {
	anc := []event.Ancestor{{PID: 300, Exe: "/usr/bin/bash", Args: []string{"bash"}, ExecID: "b:3:300"},
		{PID: 200, Exe: "/usr/sbin/sshd", ExecID: "b:2:200"}, {PID: 1, Exe: "/usr/lib/systemd/systemd", ExecID: "b:1:1"}}
	proc := func(exe string) event.Process {
		return event.Process{PID: 400, PPID: 300, Exe: exe, ExecID: "b:4:400", User: "app", UID: 1000, Ancestors: anc}
	}
	var mix []*event.Event
	add := func(n int, e *event.Event) {
		for i := 0; i < n; i++ {
			mix = append(mix, e)
		}
	}
	add(20, &event.Event{Type: event.TypeOpen, Process: proc("/usr/bin/python3"), File: &event.FileInfo{Path: "/srv/app/data/cache.db", Write: true, FlagList: []string{"O_WRONLY", "O_CREAT"}}})
	add(10, &event.Event{Type: event.TypeOpen, Process: proc("/usr/sbin/sshd"), File: &event.FileInfo{Path: "/etc/shadow"}})
	add(15, &event.Event{Type: event.TypeConnect, Process: proc("/usr/bin/python3"), Net: &event.NetInfo{Family: "inet", Proto: "tcp", DstAddr: "10.0.3.4", DstPort: 5432}})
	add(10, &event.Event{Type: event.TypeExec, Process: proc("/usr/bin/git"), Exec: &event.ExecInfo{Exe: "/usr/bin/git", Args: []string{"git", "status", "--porcelain"}, Cwd: "/srv/app"}})
	add(10, &event.Event{Type: event.TypeFork, Process: proc("/usr/bin/bash"), Fork: &event.ForkInfo{ChildPID: 401}})
	add(10, &event.Event{Type: event.TypeExit, Process: proc("/usr/bin/git"), Exit: &event.ExitInfo{}})
	add(8, &event.Event{Type: event.TypeUnlink, Process: proc("/usr/bin/python3"), File: &event.FileInfo{Path: "/tmp/tmpk2j3/upload.part"}})
	add(5, &event.Event{Type: event.TypeRename, Process: proc("/usr/bin/python3"), File: &event.FileInfo{Path: "/srv/app/x.tmp", Target: "/srv/app/x"}})
	add(3, &event.Event{Type: event.TypeChmod, Process: proc("/usr/bin/python3"), File: &event.FileInfo{Path: "/srv/app/run.sh", Mode: "0755"}})
	add(5, &event.Event{Type: event.TypeDNS, Process: proc("/usr/bin/python3"), DNS: &event.DNSInfo{Query: "db.internal.example.com", QType: "A"}})
	add(4, &event.Event{Type: event.TypeKill, Process: proc("/usr/bin/bash"), Sys: &event.SysInfo{Name: "kill", TargetPID: 401, Signal: 15}})
	for _, e := range mix {
		e.Derive()
	}
	return mix
}

func BenchmarkEngineDefaultRules(b *testing.B) {
	rs, err := host.LoadAndCompile(rules.Sources{Builtin: true})
	if err != nil {
		b.Fatal(err)
	}
	sink := &collectSink{}
	e := New(Config{MonitorOnly: true, DedupWindow: 60e9, Host: host.Host{Name: "h", AgentPID: 4242}}, rs, nil, sink)
	mix := benchMix()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = e.Write(mix[i%len(mix)])
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if len(sink.alerts) != 0 {
		b.Logf("%d alerts on the benign mix: first %q", len(sink.alerts), sink.alerts[0].Rule)
	}
}
