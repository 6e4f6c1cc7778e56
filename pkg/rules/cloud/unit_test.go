package cloud

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/rules"
)

func compileYAML(t *testing.T, src string) (*Ruleset, error) {
	t.Helper()
	set := rules.NewSet()
	if err := set.Parse("cloud.yaml", []byte(src)); err != nil {
		return nil, err
	}
	return Compile(set)
}

func TestCompileErrorsNameFileAndLine(t *testing.T) {
	for name, c := range map[string]struct{ src, want string }{
		"unknown field": {"- rule: A\n  source: cloudtrail\n  desc: d\n  condition: ct.nope == 1\n  output: o\n  severity: low\n  mitre: {tactic: t, technique: T1}\n",
			"cloud.yaml:1: rule \"A\": condition: type cloudevent.CloudTrailEvent has no field nope"},
		"kill": {"- rule: A\n  source: k8saudit\n  desc: d\n  condition: ka.verb == \"get\"\n  action: kill\n  output: o\n  severity: low\n  mitre: {tactic: t, technique: T1}\n",
			"action kill is for runtime rules"},
		"flow events": {"- rule: A\n  source: vpcflow\n  desc: d\n  events: [x]\n  condition: flow.bytes > 1\n  output: o\n  severity: low\n  mitre: {tactic: t, technique: T1}\n",
			"vpcflow rules name no events"},
		"bad output": {"- rule: A\n  source: vpcflow\n  desc: d\n  condition: flow.bytes > 1\n  output: \"%flow.nope\"\n  severity: low\n  mitre: {tactic: t, technique: T1}\n",
			"output: %flow.nope"},
		"no mitre": {"- rule: A\n  source: vpcflow\n  desc: d\n  condition: flow.bytes > 1\n  output: o\n  severity: low\n",
			"no MITRE"},
	} {
		_, err := compileYAML(t, c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "cloud.yaml:") {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

const burstRule = `- rule: Denied burst
  source: cloudtrail
  desc: d
  condition: ct.error_code == "AccessDenied"
  threshold: {count: 3, within: 5m, key: ct.actor}
  output: "burst by %ct.actor"
  severity: medium
  mitre: {tactic: discovery, technique: T1580}
`

func ctRecord(id, actor string, at time.Time, code string) cloudevent.Record {
	return cloudevent.Record{Source: cloudevent.CloudTrail, ID: id, Time: at, Key: "1", Raw: []byte(`{}`),
		CloudTrail: &cloudevent.CloudTrailEvent{EventName: "ListUsers", EventSource: "iam.amazonaws.com", ErrorCode: code, Actor: actor}}
}

// Threshold rules count on event time: late and out-of-order records count
// where they belong, a burst fires once, and the same records replayed make
// the same detection id.
func TestThresholdOnEventTime(t *testing.T) {
	rs, err := compileYAML(t, burstRule)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	run := func(recs []cloudevent.Record) []string {
		d := NewDetector(rs)
		var ids []string
		for i := range recs {
			for _, x := range d.Detect(&recs[i]) {
				ids = append(ids, x.ID)
				if len(x.Evidence.Records) != 3 && len(ids) == 1 {
					t.Errorf("evidence: %d records", len(x.Evidence.Records))
				}
			}
		}
		return ids
	}
	// Out of order, within 5 minutes: one detection.
	recs := []cloudevent.Record{ctRecord("a", "u", t0.Add(4*time.Minute), "AccessDenied"), ctRecord("b", "u", t0, "AccessDenied"),
		ctRecord("c", "v", t0, "AccessDenied"), ctRecord("d", "u", t0.Add(2*time.Minute), "AccessDenied"),
		ctRecord("e", "u", t0.Add(3*time.Minute), "AccessDenied"), ctRecord("f", "u", t0.Add(3*time.Minute), "")}
	ids := run(recs)
	if len(ids) != 1 {
		t.Fatalf("%d detections, want 1", len(ids))
	}
	if again := run(recs); again[0] != ids[0] {
		t.Error("replaying the same records made another detection id")
	}
	// Spread over 20 minutes: none.
	var spread []cloudevent.Record
	for i := 0; i < 5; i++ {
		spread = append(spread, ctRecord(string(rune('a'+i)), "u", t0.Add(time.Duration(i)*6*time.Minute), "AccessDenied"))
	}
	if n := len(run(spread)); n != 0 {
		t.Errorf("%d detections for a spread-out series", n)
	}
	// Two bursts an hour apart: two.
	var two []cloudevent.Record
	for i := 0; i < 6; i++ {
		two = append(two, ctRecord(string(rune('a'+i)), "u", t0.Add(time.Duration(i/3)*time.Hour+time.Duration(i)*time.Second), "AccessDenied"))
	}
	if n := len(run(two)); n != 2 {
		t.Errorf("%d detections for two bursts", n)
	}
	// One record sent three times (in two batches, or redelivered) is one
	// match, not a burst; with two others it is.
	dup := []cloudevent.Record{ctRecord("a", "u", t0, "AccessDenied"), ctRecord("a", "u", t0, "AccessDenied"), ctRecord("a", "u", t0, "AccessDenied")}
	if n := len(run(dup)); n != 0 {
		t.Errorf("one record three times: %d detections", n)
	}
	if n := len(run(append(dup, ctRecord("b", "u", t0, "AccessDenied"), ctRecord("c", "u", t0, "AccessDenied")))); n != 1 {
		t.Errorf("three records: %d detections", n)
	}
}

func TestThresholdKeysBounded(t *testing.T) {
	rs, err := compileYAML(t, burstRule)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDetector(rs)
	d.MaxKeys = 100
	t0 := time.Now()
	for i := 0; i < 1000; i++ {
		r := ctRecord("x", "actor-"+string(rune(i)), t0.Add(time.Duration(i)*time.Millisecond), "AccessDenied")
		d.Detect(&r)
	}
	if n := len(d.state[0]); n > 100 {
		t.Errorf("%d keys kept, bound 100", n)
	}
	if d.Stats.Evicted.Load() == 0 {
		t.Error("evictions not counted")
	}
}

func TestPolicies(t *testing.T) {
	admin := `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	for _, c := range []struct {
		doc                   any
		admin, public, extern bool
	}{
		{admin, true, false, false},
		{`{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}`, true, false, false},
		{`{"Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":"*"}]}`, false, false, false},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}`, false, true, true},
		{`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::999988887777:role/x"]}}]}`, false, false, true},
		{`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"}}]}`, false, false, false},
		{`{"Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"}}]}`, false, false, false},
		{`{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"}}]}`, false, false, false},
		{map[string]any{"Statement": []any{map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}}}, true, false, false},
		{"%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%7D%7D", true, false, false},
		{"not json", false, false, false},
		{nil, false, false, false},
	} {
		if PolicyAdmin(c.doc) != c.admin || PolicyPublic(c.doc) != c.public || PolicyExternal(c.doc, "111122223333") != c.extern {
			t.Errorf("%v: admin %v public %v external %v", c.doc, PolicyAdmin(c.doc), PolicyPublic(c.doc), PolicyExternal(c.doc, "111122223333"))
		}
	}
	if ARNAccount("arn:aws:lambda:us-east-1:580247275435:layer:x:1") != "580247275435" || ARNAccount("nope") != "" {
		t.Error("ARNAccount")
	}
}

// first_seen: quiet while learning, then each new key once; bounded state.
func TestFirstSeen(t *testing.T) {
	rs, err := compileYAML(t, `- rule: New caller
  source: cloudtrail
  desc: d
  condition: ct.event_name == "ListUsers"
  first_seen: {key: ct.actor, learn: 1h}
  output: "new %ct.actor"
  severity: low
  mitre: {tactic: discovery, technique: T1087}
`)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDetector(rs)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fire := func(actor string, at time.Duration) int {
		r := ctRecord("x", actor, t0.Add(at), "")
		return len(d.Detect(&r))
	}
	if fire("a", 0) != 0 || fire("b", 30*time.Minute) != 0 {
		t.Error("fired while learning")
	}
	if fire("a", 2*time.Hour) != 0 {
		t.Error("a known key fired")
	}
	if fire("c", 2*time.Hour) != 1 || fire("c", 3*time.Hour) != 0 {
		t.Error("a new key must fire once")
	}
	// A late record from before the start moves the learning start back:
	// learning is on event time, not arrival.
	d2 := NewDetector(rs)
	r := ctRecord("x", "late", t0.Add(2*time.Hour), "")
	if len(d2.Detect(&r)) != 0 {
		t.Error("the first record fired")
	}
	d2.MaxKeys = 50
	for i := 0; i < 500; i++ {
		r := ctRecord("x", fmt.Sprintf("k%d", i), t0.Add(time.Duration(i)*time.Second), "")
		d2.Detect(&r)
	}
	r = ctRecord("x", "new-after-late", t0.Add(2*time.Hour+time.Second), "")
	if len(d2.Detect(&r)) != 1 {
		t.Error("learning did not start at the earliest event time")
	}
	if n := len(d2.seen[0].keys); n > 50 || d2.Stats.Evicted.Load() == 0 {
		t.Errorf("%d keys kept, bound 50 (evicted %d)", n, d2.Stats.Evicted.Load())
	}
	for src, want := range map[string]string{
		"- rule: A\n  source: cloudtrail\n  desc: d\n  condition: \"true\"\n  first_seen: {key: ct.actor}\n  threshold: {count: 2, within: 1m, key: ct.actor}\n  output: o\n  severity: low\n  mitre: {tactic: t, technique: T}\n": "does not combine",
		"- rule: A\n  source: cloudtrail\n  desc: d\n  condition: \"true\"\n  first_seen: {learn: 1h}\n  output: o\n  severity: low\n  mitre: {tactic: t, technique: T}\n":                                                         "needs a key",
		"- rule: A\n  source: cloudtrail\n  desc: d\n  condition: \"true\"\n  first_seen: {key: ct.nope}\n  output: o\n  severity: low\n  mitre: {tactic: t, technique: T}\n":                                                      "first_seen key",
	} {
		if _, err := compileYAML(t, src); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "cloud.yaml:") {
			t.Errorf("%v, want %q", err, want)
		}
	}
}

// A rule sees the CloudTrail fields decoded on demand wherever it reads
// them: condition, threshold key, output, and ct passed whole.
func TestOnDemandFieldsDecodedForTheRulesThatReadThem(t *testing.T) {
	rule := func(name, extra string) string {
		return "- rule: " + name + "\n  source: cloudtrail\n  desc: d\n  events: [PutBucketPolicy]\n" + extra +
			"  severity: low\n  mitre: {tactic: t, technique: T1}\n"
	}
	src := rule("Cond", "  condition: ct.request.bucketName == \"b1\"\n  output: o\n") +
		rule("Key", "  condition: ct.event_name == \"PutBucketPolicy\"\n  threshold: {count: 2, within: 1m, key: ct.request.bucketName}\n  output: o\n") +
		rule("Output", "  condition: ct.event_name == \"PutBucketPolicy\"\n  output: \"%ct.response.x\"\n") +
		rule("Whole", "  condition: (let c = ct; c.request.bucketName == \"b1\")\n  output: o\n") +
		rule("JSON", "  condition: ct.request_json contains '\"bucketName\":\"b1\"'\n  output: o\n") +
		rule("None", "  condition: ct.event_name == \"PutBucketPolicy\"\n  output: o\n")
	rs, err := compileYAML(t, src)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]cloudevent.Part{"Cond": cloudevent.PartRequest, "Key": cloudevent.PartRequest,
		"Output": cloudevent.PartResponse, "Whole": cloudevent.PartAll, "JSON": cloudevent.PartRequestJSON, "None": 0}
	for _, c := range rs.Rules {
		if c.Parts != want[c.Name] {
			t.Errorf("%s: parts %b, want %b", c.Name, c.Parts, want[c.Name])
		}
	}
	raw := []byte(`{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy",` +
		`"eventID":"e1","recipientAccountId":"1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/u"},` +
		`"requestParameters":{"bucketName":"b1"},"responseElements":{"x":"y"}}`)
	raw = append(append(append(raw, '\n'), bytes.Replace(raw, []byte(`"e1"`), []byte(`"e2"`), 1)...), '\n')
	recs, errs := cloudevent.ParseCloudTrail("t", raw)
	if len(errs) > 0 || len(recs) != 2 {
		t.Fatal(recs, errs)
	}
	if recs[0].CloudTrail.RequestParameters != nil {
		t.Fatal("requestParameters decoded at parse time")
	}
	got := map[string]string{}
	d := NewDetector(rs)
	for i := range recs {
		for _, det := range d.Detect(&recs[i]) {
			got[det.Rule] = det.Message
		}
	}
	for _, name := range []string{"Cond", "Key", "Output", "Whole", "JSON", "None"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s did not fire: %v", name, got)
		}
	}
	if got["Output"] != "y" {
		t.Errorf("message %q, want y", got["Output"])
	}
}
