package wire

import (
	"strings"
	"testing"
	"time"
)

func TestSubjects(t *testing.T) {
	if got := Subject("prod", KindAlert, "h1"); got != "vigil.prod.alert.h1" {
		t.Errorf("subject %s", got)
	}
	if got := HostPermissions("prod", "h1"); len(got) != 1 || got[0] != "vigil.prod.*.h1" {
		t.Errorf("permissions %v", got)
	}
	env, kind, key, ok := ParseSubject("vigil.prod.hb.h1")
	if !ok || env != "prod" || kind != KindHeartbeat || key != "h1" {
		t.Errorf("parse: %s %s %s %v", env, kind, key, ok)
	}
	for _, bad := range []string{"vigil.prod.alert", "other.prod.alert.h1", "vigil..alert.h1", ""} {
		if _, _, _, ok := ParseSubject(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// The agent stream the transport creates, as it was before this package
// (a changed stream is a migration, not a refactor).
func TestAgentStream(t *testing.T) {
	s := AgentStream("")
	want := []string{"vigil.*.alert.*", "vigil.*.event.*", "vigil.*.hb.*"}
	if s.Name != "VIGIL" || len(s.Subjects) != 3 || s.Storage != FileStorage || s.Duplicates != 20*time.Minute || s.MaxAge != 7*24*time.Hour {
		t.Fatalf("%+v", s)
	}
	for i := range want {
		if s.Subjects[i] != want[i] {
			t.Errorf("subjects %v", s.Subjects)
		}
	}
	if EventMsgID("h1", "e1") != "h1-e1" || AlertMsgID("a1") != "a1" {
		t.Error("message ids")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://alice:s3cret@h:4222":            "nats://alice:REDACTED@h:4222",
		"nats://tok3n@h:4222":                   "nats://REDACTED@h:4222",
		"nats://h:4222":                         "nats://h:4222",
		"nats://a:b@h1:4222,nats://c:d@h2:4222": "nats://a:REDACTED@h1:4222,nats://c:REDACTED@h2:4222",
		"tls://u:p%40ss@h:4222":                 "tls://u:REDACTED@h:4222",
	} {
		if got := RedactURL(in); got != want || strings.Contains(got, "s3cret") || strings.Contains(got, "tok3n") {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
