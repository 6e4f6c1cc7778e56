package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/host"
)

const killRule = `
- rule: Kill marker
  desc: d
  events: [exec]
  condition: exec.exe endsWith "/marker"
  output: "marker %exec.exe"
  severity: critical
  action: kill
  mitre: {tactic: execution, technique: T1059}
- rule: Seq
  desc: d
  sequence:
    within: 5s
    steps:
      - {events: [open], condition: file.write, key: file.path}
      - {events: [exec], condition: "true", key: exec.exe}
  output: "seq %exec.exe"
  severity: high
  mitre: {tactic: execution, technique: T1204}
`

func compile(t *testing.T, src string) *host.Ruleset {
	t.Helper()
	set := rules.NewSet()
	if err := set.Parse("t.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	rs, err := host.Compile(set)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

type fakeKiller struct {
	killed []uint32
	err    error
}

func (k *fakeKiller) Kill(pid uint32, start uint64) error {
	if k.err != nil {
		return k.err
	}
	k.killed = append(k.killed, pid)
	return nil
}

func execEv(pid uint32, exe string) *event.Event {
	return &event.Event{ID: exe, Type: event.TypeExec, Time: time.Unix(100, 0),
		Process: event.Process{PID: pid, PPID: 50, Exe: exe, ExecID: "b:77:1"}, Exec: &event.ExecInfo{Exe: exe}}
}

func TestKillSafety(t *testing.T) {
	rs := compile(t, killRule)
	tests := []struct {
		name    string
		cfg     Config
		ev      *event.Event
		killed  bool
		skipped string
	}{
		{"kills", Config{AgentPID: 99}, execEv(1234, "/tmp/marker"), true, ""},
		{"monitor only", Config{MonitorOnly: true}, execEv(1234, "/tmp/marker"), false, "monitor-only"},
		{"pid 1", Config{}, execEv(1, "/sbin/marker"), false, "pid 1"},
		{"agent", Config{AgentPID: 1234}, execEv(1234, "/usr/bin/marker"), false, "the agent itself"},
		{"protected", Config{Protect: []string{"/usr/sbin/marker"}}, execEv(1234, "/usr/sbin/marker"), false, "protected: /usr/sbin/marker"},
		{"kernel thread", Config{}, func() *event.Event { e := execEv(1234, "/x/marker"); e.Process.PPID = 2; return e }(), false, "kernel thread"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := &fakeKiller{}
			sink := &collectSink{}
			e := New(tc.cfg, rs, k, sink)
			_ = e.Write(tc.ev)
			if len(sink.alerts) != 1 {
				t.Fatalf("%d alerts", len(sink.alerts))
			}
			a := sink.alerts[0].Action
			if a.Type != "kill" || a.Killed != tc.killed || a.Skipped != tc.skipped {
				t.Errorf("action %+v", a)
			}
			if tc.killed != (len(k.killed) == 1) {
				t.Errorf("killer called %v", k.killed)
			}
		})
	}
	k := &fakeKiller{err: errors.New("the pid now belongs to another process")}
	sink := &collectSink{}
	_ = New(Config{}, rs, k, sink).Write(execEv(1234, "/tmp/marker"))
	if sink.alerts[0].Action.Killed || sink.alerts[0].Action.Error == "" {
		t.Errorf("failed kill not reported: %+v", sink.alerts[0].Action)
	}
}

func TestDedup(t *testing.T) {
	rs := compile(t, killRule)
	sink := &collectSink{}
	e := New(Config{MonitorOnly: true, DedupWindow: time.Minute}, rs, nil, sink)
	now := time.Unix(1000, 0)
	e.now = func() time.Time { return now }
	for i := 0; i < 5; i++ {
		_ = e.Write(execEv(1234, "/tmp/marker"))
	}
	other := execEv(1235, "/tmp/marker")
	other.Process.ExecID = "b:78:1235"
	_ = e.Write(other)
	if len(sink.alerts) != 2 || e.Stats.Suppressed.Load() != 4 {
		t.Fatalf("alerts %d, suppressed %d", len(sink.alerts), e.Stats.Suppressed.Load())
	}
	now = now.Add(2 * time.Minute)
	_ = e.Write(execEv(1234, "/tmp/marker"))
	if len(sink.alerts) != 3 {
		t.Errorf("not re-alerted after the window: %d", len(sink.alerts))
	}
}

func TestSequenceWindowAndSwap(t *testing.T) {
	rs := compile(t, killRule)
	sink := &collectSink{}
	e := New(Config{MonitorOnly: true}, rs, nil, sink)
	now := time.Unix(1000, 0)
	e.now = func() time.Time { return now }
	write := &event.Event{ID: "w", Type: event.TypeOpen, File: &event.FileInfo{Path: "/tmp/a", Write: true}}
	_ = e.Write(write)
	now = now.Add(6 * time.Second) // past the 5 s window
	_ = e.Write(execEv(10, "/tmp/a"))
	if len(sink.alerts) != 0 {
		t.Fatalf("sequence fired outside its window")
	}
	_ = e.Write(write)
	e.Swap(compile(t, killRule)) // a reload starts sequences afresh
	_ = e.Write(execEv(10, "/tmp/a"))
	if len(sink.alerts) != 0 {
		t.Fatalf("sequence state survived a reload")
	}
	_ = e.Write(write)
	now = now.Add(time.Second)
	_ = e.Write(execEv(10, "/tmp/a"))
	if len(sink.alerts) != 1 || len(sink.alerts[0].Events) != 2 || sink.alerts[0].Message != "seq /tmp/a" {
		t.Fatalf("%+v", sink.alerts)
	}
}

func TestBoundedState(t *testing.T) {
	rs := compile(t, killRule)
	e := New(Config{MonitorOnly: true, MaxState: 100}, rs, nil)
	for i := 0; i < 1000; i++ {
		_ = e.Write(&event.Event{Type: event.TypeOpen, File: &event.FileInfo{Path: "/tmp/" + string(rune('a'+i%26)) + time.Duration(i).String(), Write: true}})
	}
	for _, steps := range e.state.seq {
		if n := len(steps[0]); n > 100 {
			t.Errorf("sequence state holds %d keys, bound 100", n)
		}
	}
}

type failSink struct{ err error }

func (f failSink) WriteAlert(*Alert) error { return f.err }
func (f failSink) Name() string            { return "broken" }

// A sink that fails is counted by severity and reported; the other sinks
// still get the alert (the error used to be discarded).
func TestSinkFailuresCounted(t *testing.T) {
	rs := compile(t, killRule)
	ok := &collectSink{}
	var told []string
	e := New(Config{MonitorOnly: true, OnSinkError: func(sink string, a *Alert, err error) {
		told = append(told, sink+" "+a.Rule+" "+err.Error())
	}}, rs, nil, failSink{errors.New("disk full")}, ok)
	_ = e.Write(execEv(1234, "/tmp/marker"))
	e.Emit(&Alert{Rule: "Sensor degraded", Severity: rules.Medium, Time: time.Unix(5, 0)})
	if len(ok.alerts) != 2 {
		t.Fatalf("the working sink got %d alerts", len(ok.alerts))
	}
	f := e.SinkFailures()
	if f[0].Sink != "broken" || f[0].BySeverity[rules.Critical] != 1 || f[0].BySeverity[rules.Medium] != 1 || f[1].BySeverity != [NumSeverities]uint64{} {
		t.Errorf("failures %+v", f)
	}
	if len(told) != 2 || told[0] != "broken Kill marker disk full" {
		t.Errorf("told %q", told)
	}
	if a := ok.alerts[1]; a.Schema != AlertSchema || a.ID == "" || a.Action.Type != "alert" {
		t.Errorf("emitted alert %+v", a)
	}
}

// The vigil CLI run from the same binary as the agent (a clone under /tmp)
// is not "Execution from a temporary directory"; any other program there is.
func TestAgentExeIsNotATempDirPayload(t *testing.T) {
	rs, err := host.LoadAndCompile(rules.Sources{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	sink := &collectSink{}
	e := New(Config{MonitorOnly: true, Host: host.Host{Name: "h", AgentPID: 1, AgentExe: "/tmp/clone/bin/vigil"}}, rs, nil, sink)
	ev := func(pid uint32, exe string) *event.Event {
		x := execEv(pid, exe)
		x.Process.Ancestors = []event.Ancestor{{PID: 1, Exe: "/usr/bin/bash"}}
		return x
	}
	_ = e.Write(ev(10, "/tmp/clone/bin/vigil"))
	_ = e.Write(ev(11, "/tmp/clone/payload"))
	var fired []string
	for _, a := range sink.alerts {
		if a.Rule == "Execution from a temporary directory" {
			fired = append(fired, a.Process.Exe)
		}
	}
	if len(fired) != 1 || fired[0] != "/tmp/clone/payload" {
		t.Errorf("fired for %v", fired)
	}
}
