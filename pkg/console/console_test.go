package console

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/engine"
	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
)

func alert() *engine.Alert {
	return &engine.Alert{
		Schema: engine.AlertSchema, Time: time.Date(2026, 12, 1, 9, 44, 12, 123e6, time.UTC), Rule: "Reverse shell",
		Severity: rules.Critical, Tactic: "execution", Technique: "T1059",
		Message: "Reverse shell: /usr/bin/bash\x1b[31m connected",
		Process: event.Process{PID: 4242, Exe: "/usr/bin/bash", User: "root", Args: []string{"bash", "-i"}},
	}
}

// One line per alert, Falco-style; no colours unless asked; strings from
// events cannot inject escape sequences or break the line.
func TestTextAlertLine(t *testing.T) {
	var b bytes.Buffer
	w := New(&b, Options{Format: "text", Alerts: true})
	a := alert()
	a.Process.Exe = "/tmp/x y\nFAKE ALERT"
	if err := w.WriteAlert(a); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	want := stamp(a.Time) + ` CRITICAL Reverse shell: Reverse shell: /usr/bin/bash\x1b[31m connected [pid=4242 exe="/tmp/x y\nFAKE ALERT" user=root execution/T1059]` + "\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if strings.Count(got, "\n") != 1 || strings.Contains(got, "\x1b") {
		t.Errorf("not one safe line: %q", got)
	}
}

func TestColourOnlyWhenAsked(t *testing.T) {
	var b bytes.Buffer
	New(&b, Options{Format: "text", Alerts: true, Color: true}).WriteAlert(alert())
	if !strings.Contains(b.String(), "\x1b[1;37;41mCRITICAL") {
		t.Errorf("no colour: %q", b.String())
	}
}

// Alerts only by default; events only when asked, after a flush.
func TestEventsBehindAFlag(t *testing.T) {
	ev := &event.Event{Type: event.TypeExec, Time: time.Unix(1, 0), Process: event.Process{PID: 7, Exe: "/usr/bin/ls", Args: []string{"ls", "-la"}},
		Exec: &event.ExecInfo{Exe: "/usr/bin/ls"}}
	var b bytes.Buffer
	w := New(&b, Options{Format: "text", Alerts: true})
	w.Write(ev)
	w.Flush()
	if b.Len() != 0 {
		t.Errorf("event printed without the flag: %q", b.String())
	}
	w = New(&b, Options{Format: "json", Events: true})
	w.Write(ev)
	w.WriteAlert(alert())
	w.Flush()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	var e event.Event
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &e) != nil || e.Process.PID != 7 {
		t.Errorf("json events without alerts: %q", b.String())
	}
}

func TestJSONAlert(t *testing.T) {
	var b bytes.Buffer
	New(&b, Options{Format: "json", Alerts: true}).WriteAlert(alert())
	var a struct{ Schema, Rule, Severity string }
	if err := json.Unmarshal(b.Bytes(), &a); err != nil || a.Schema != engine.AlertSchema || a.Severity != "critical" {
		t.Errorf("%v %+v", err, a)
	}
}
