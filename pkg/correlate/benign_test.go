package correlate

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/cloud"
)

// A benign corpus: a day of ordinary admin, CI and autoscaling CloudTrail
// (the one the cloud rules are tested on), ordinary Kubernetes activity
// (audit2rbac's demo log), and low host alerts spread over unrelated
// hosts, through the vendor rules and the correlation: no threat above low.
func TestBenignCorpusYieldsNoThreatAboveLow(t *testing.T) {
	det := vendorDetector(t)
	e := New(Config{}, fixedNow)
	var recs []cloudevent.Record
	ct, err := os.ReadFile("../rules/cloud/testdata/benign-cloudtrail.json")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := cloudevent.ParseCloudTrail("benign", ct)
	recs = append(recs, r...)
	ka, err := os.ReadFile("../cloudevent/testdata/k8saudit/audit2rbac-demo.log")
	if err != nil {
		t.Fatal(err)
	}
	r, _ = cloudevent.ParseK8sAudit("audit2rbac", ka, "demo")
	recs = append(recs, r...)
	if len(recs) < 400 {
		t.Fatalf("only %d records", len(recs))
	}
	// The instances of the benign day are ours: their heartbeats say so.
	for i := 0; i < 30; i++ {
		e.Heartbeat(heartbeat(hostInfo(fmt.Sprint("h-", i), fmt.Sprintf("i-0%07d", i), fmt.Sprintf("10.0.0.%d", i+10), ""), t0))
	}
	threats := map[string]*alert.Threat{}
	keep := func(ts []*alert.Threat) {
		for _, th := range ts {
			threats[th.ID] = th
		}
	}
	for i := range recs {
		for _, d := range det.Detect(&recs[i]) {
			keep(e.Add(&d))
		}
		if d := e.Cloud(&recs[i]); d != nil {
			keep(e.Add(d))
		}
	}
	for i := 0; i < 300; i++ {
		h := hostInfo(fmt.Sprint("h-", i%30), fmt.Sprintf("i-0%07d", i%30), fmt.Sprintf("10.0.0.%d", i%30+10), "")
		keep(e.Add(runtime(fmt.Sprint("low-", i), "Package manager run", alert.Low, "execution", t0.Add(time.Duration(i)*time.Minute), h, i)))
	}
	for _, th := range threats {
		if th.MergedInto == "" && th.Severity > alert.Low {
			t.Errorf("threat %s (%s): %s %v", th.Title, th.Severity, th.Reasons, th.Timeline)
		}
	}
	t.Logf("%d records, %d detections, %d threats", len(recs), e.Stats().Detections, len(threats))
}

// vendorDetector evaluates the vendor cloud rules.
func vendorDetector(t *testing.T) *cloud.Detector {
	t.Helper()
	rs, err := cloud.LoadAndCompile(rules.Sources{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	return cloud.NewDetector(rs)
}

// (b) ssm:SendCommand to i-X (command C) by a principal, and a runtime
// alert on i-X whose ancestry runs C's orchestration script: one threat
// naming the principal as the actor of what ran, in either order; another
// command's alert does not join through C.
func TestJoinSSMCommandToWhatRanOnTheHost(t *testing.T) {
	const cmd = "0b5e4f1c-2d3a-4b6c-8d9e-0f1a2b3c4d5e"
	send := fmt.Sprintf(`{"eventVersion":"1.08","eventTime":%q,"eventSource":"ssm.amazonaws.com","eventName":"SendCommand","eventID":"ssm-1",`+
		`"awsRegion":"eu-west-1","recipientAccountId":"111122223333","sourceIPAddress":"198.51.100.20","userAgent":"aws-cli/2.15",`+
		`"userIdentity":{"type":"IAMUser","principalId":"AIDAX","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","accessKeyId":"AKIAMALLORY","userName":"mallory"},`+
		`"requestParameters":{"instanceIds":["i-0ssm"],"documentName":"AWS-RunShellScript","parameters":"HIDDEN_DUE_TO_SECURITY_REASONS"},`+
		`"responseElements":{"command":{"commandId":%q,"documentName":"AWS-RunShellScript","instanceIds":["i-0ssm"]}}}`, t0.Format(time.RFC3339), cmd)
	recs, errs := cloudevent.ParseCloudTrail("ssm", []byte(send))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	sent := vendorDetector(t).Detect(&recs[0])
	if len(sent) != 1 || !has(sent[0].Resources, alert.KindSSMCommand, cmd) || !has(sent[0].Resources, alert.KindInstance, "i-0ssm") {
		t.Fatalf("SendCommand detection %+v", sent)
	}
	// A host whose agent knows no instance id (IMDS off, or a managed
	// on-premises server): only the command id links the two sides.
	h := &alert.HostInfo{ID: "h-ssm", Hostname: "onprem-1", Env: "prod"}
	ran := runtime("r-ssm", "Reverse shell", alert.High, "execution", t0.Add(20*time.Second), h, 9)
	ran.Evidence.Alert.Process.Ancestors = []event.Ancestor{
		{PID: 900, Name: "sh", Exe: "/usr/bin/dash", Args: []string{"sh", "-c", "/var/lib/amazon/ssm/i-0ssm/document/orchestration/" + cmd + "/awsrunShellScript/0.awsrunShellScript/_script.sh"}},
		{PID: 800, Name: "ssm-document-worker", Exe: "/usr/bin/ssm-document-worker"},
		{PID: 700, Name: "amazon-ssm-agent", Exe: "/usr/bin/amazon-ssm-agent"}}
	d := alert.FromAlert(ran.Evidence.Alert)
	if !has(d.Resources, alert.KindSSMCommand, cmd) {
		t.Fatalf("the runtime detection does not name the command: %v", d.Resources)
	}
	for _, order := range [][]*alert.Detection{{&sent[0], &d}, {&d, &sent[0]}} {
		e := New(Config{}, fixedNow)
		var last []*alert.Threat
		for _, x := range order {
			if ch := e.Add(x); ch != nil {
				last = ch
			}
		}
		if len(last) != 1 || len(last[0].Timeline) != 2 || !has(last[0].Actors, alert.KindPrincipal, "arn:aws:iam::111122223333:user/mallory") ||
			!slices.Equal(last[0].Sources, []alert.Source{"cloudtrail", "runtime"}) {
			t.Fatalf("%+v", last)
		}
	}
}
