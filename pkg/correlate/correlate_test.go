package correlate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/event"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0.Add(48 * time.Hour) }

func hostInfo(id, inst, private, public string) *alert.HostInfo {
	return &alert.HostInfo{ID: id, Hostname: "web-" + id, Env: "prod",
		Cloud: &alert.Cloud{Provider: "aws", InstanceID: inst, AccountID: "111122223333", Region: "eu-west-1", PrivateIP: private, PublicIP: public}}
}

func heartbeat(info *alert.HostInfo, at time.Time) *alert.Heartbeat {
	return &alert.Heartbeat{Schema: alert.HeartbeatSchema, Time: at, Host: *info}
}

// runtime is a host alert's detection.
func runtime(id, rule string, sev alert.Severity, tactic string, at time.Time, info *alert.HostInfo, pid int) *alert.Detection {
	a := &alert.Alert{Schema: alert.AlertSchema, ID: id, Time: at, Rule: rule, Severity: sev, Tactic: tactic, Technique: "T1",
		Message: rule, Host: alert.Host{Name: info.Hostname, ID: info.ID, Env: "prod", Info: info}}
	a.Process.ExecID = fmt.Sprintf("%s:%d", info.ID, pid)
	a.Process.Exe = "/usr/bin/curl"
	d := alert.FromAlert(a)
	return &d
}

// ctRecord is a CloudTrail call by a session of the instance role.
func ctRecord(t *testing.T, id, inst, ip, event string, at time.Time) *cloudevent.Record {
	t.Helper()
	raw := fmt.Sprintf(`{"eventVersion":"1.08","eventTime":%q,"eventSource":"s3.amazonaws.com","eventName":%q,"eventID":%q,`+
		`"awsRegion":"eu-west-1","recipientAccountId":"111122223333","sourceIPAddress":%q,"userAgent":"aws-cli/2.15",`+
		`"userIdentity":{"type":"AssumedRole","principalId":"AROAX:%s","arn":"arn:aws:sts::111122223333:assumed-role/web-role/%s",`+
		`"accountId":"111122223333","accessKeyId":"ASIAWEBROLE","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/web-role","userName":"web-role"}}}}`,
		at.Format(time.RFC3339), event, id, ip, inst, inst)
	recs, errs := cloudevent.ParseCloudTrail("t", []byte(raw))
	if len(errs) > 0 || len(recs) != 1 {
		t.Fatal(errs)
	}
	return &recs[0]
}

// scenarioA: a host alert for IMDS credential access on i-X, then calls by
// i-X's role session from an address that is not i-X's.
type step struct {
	hb  *alert.Heartbeat
	det *alert.Detection
	rec *cloudevent.Record
}

func scenarioA(t *testing.T, lateness time.Duration) []step {
	info := hostInfo("h-1", "i-0aaa", "10.0.1.5", "")
	return []step{
		{hb: heartbeat(info, t0)},
		{det: runtime("a-imds", "Instance metadata credentials read", alert.High, "credential-access", t0.Add(time.Minute), info, 100)},
		{rec: ctRecord(t, "ev-inside", "i-0aaa", "10.0.1.5", "ListBuckets", t0.Add(2*time.Minute))}, // from the instance: fine
		{rec: ctRecord(t, "ev-out-1", "i-0aaa", "203.0.113.50", "ListBuckets", t0.Add(5*time.Minute+lateness))},
		{rec: ctRecord(t, "ev-out-2", "i-0aaa", "203.0.113.50", "GetObject", t0.Add(6*time.Minute+lateness))},
	}
}

// run feeds steps (heartbeats first, as the stage replays them) and returns
// the live threats.
func run(t *testing.T, e *Engine, steps []step) map[string]*alert.Threat {
	t.Helper()
	out := map[string]*alert.Threat{}
	apply := func(ts []*alert.Threat) {
		for _, th := range ts {
			if th.MergedInto != "" {
				delete(out, th.ID)
				continue
			}
			out[th.ID] = th
		}
	}
	for _, s := range steps {
		if s.hb != nil {
			e.Heartbeat(s.hb)
		}
	}
	for _, s := range steps {
		if s.det != nil {
			apply(e.Add(s.det))
		}
		if s.rec != nil {
			if d := e.Cloud(s.rec); d != nil {
				apply(e.Add(d))
			}
		}
	}
	return out
}

func only(t *testing.T, threats map[string]*alert.Threat) *alert.Threat {
	t.Helper()
	if len(threats) != 1 {
		for _, th := range threats {
			t.Logf("threat %s %s %v", th.ID, th.Title, th.Timeline)
		}
		t.Fatalf("%d threats, want 1", len(threats))
	}
	for _, th := range threats {
		return th
	}
	return nil
}

func has(l []alert.Entity, kind, id string) bool {
	return slices.ContainsFunc(l, func(e alert.Entity) bool { return e.Kind == kind && e.ID == id })
}

// (a) The IMDS alert on i-X and the role session used from elsewhere are
// one critical threat with both sides in its timeline, whatever the order
// and with the cloud side 10 minutes late.
func TestJoinInstanceCredentialsUsedOutside(t *testing.T) {
	var first *alert.Threat
	for _, c := range []struct {
		name     string
		reverse  bool
		lateness time.Duration
	}{{"in order", false, 0}, {"reverse order", true, 0}, {"10 minutes late", false, 10 * time.Minute}, {"late and reversed", true, 10 * time.Minute}} {
		steps := scenarioA(t, c.lateness)
		if c.reverse {
			slices.Reverse(steps)
		}
		th := only(t, run(t, New(Config{}, fixedNow), steps))
		if th.Severity != alert.Critical {
			t.Errorf("%s: severity %s, want critical (%v)", c.name, th.Severity, th.Reasons)
		}
		var rules []string
		for _, en := range th.Timeline {
			rules = append(rules, en.Rule)
		}
		if !slices.Equal(rules, []string{"Instance metadata credentials read", RuleInstanceCredentialsOutside}) {
			t.Errorf("%s: timeline %v", c.name, rules)
		}
		if !has(th.Actors, alert.KindIP, "203.0.113.50") || !has(th.Actors, alert.KindPrincipal, "arn:aws:sts::111122223333:assumed-role/web-role/i-0aaa") ||
			!has(th.Resources, alert.KindInstance, "i-0aaa") || !has(th.Resources, alert.KindHost, "h-1") {
			t.Errorf("%s: actors %v resources %v", c.name, th.Actors, th.Resources)
		}
		if !slices.Equal(th.Tactics, []string{"credential-access"}) || !slices.Equal(th.Sources, []alert.Source{"cloudtrail", "runtime"}) {
			t.Errorf("%s: tactics %v sources %v", c.name, th.Tactics, th.Sources)
		}
		if first == nil {
			first = th
		} else if th.Title != first.Title || len(th.Timeline) != len(first.Timeline) {
			t.Errorf("%s: %q, first %q", c.name, th.Title, first.Title)
		}
	}
}

// CloudTrail alone, knowing the instance's addresses from heartbeats,
// raises the use from outside as high; calls from the instance's own
// address, by an AWS service or through a VPC endpoint raise nothing.
func TestInstanceCredentialsOutsideAlone(t *testing.T) {
	e := New(Config{}, fixedNow)
	e.Heartbeat(heartbeat(hostInfo("h-1", "i-0aaa", "10.0.1.5", "198.51.100.7"), t0))
	if d := e.Cloud(ctRecord(t, "e1", "i-0aaa", "10.0.1.5", "ListBuckets", t0)); d != nil {
		t.Errorf("own private address: %s", d.Message)
	}
	if d := e.Cloud(ctRecord(t, "e2", "i-0aaa", "198.51.100.7", "ListBuckets", t0)); d != nil {
		t.Errorf("own public address: %s", d.Message)
	}
	if d := e.Cloud(ctRecord(t, "e3", "i-0bbb", "203.0.113.50", "ListBuckets", t0)); d != nil {
		t.Errorf("an instance no heartbeat described: %s", d.Message)
	}
	svc := ctRecord(t, "e4", "i-0aaa", "203.0.113.50", "ListBuckets", t0)
	svc.CloudTrail.VPCEndpointID = "vpce-1"
	if d := e.Cloud(svc); d != nil {
		t.Errorf("through a VPC endpoint: %s", d.Message)
	}
	d := e.Cloud(ctRecord(t, "e5", "i-0aaa", "203.0.113.50", "ListBuckets", t0))
	if d == nil || d.Severity != alert.High {
		t.Fatalf("outside: %+v", d)
	}
	// High, raised once for the instance's public address: critical.
	th := e.Add(d)
	if len(th) != 1 || th[0].Severity != alert.Critical || !slices.Contains(th[0].Reasons, "exposed to the internet") {
		t.Errorf("threat %+v", th)
	}
}

// (e) Several detections on one host within the window are one threat; a
// new one joins it; one on another host, or beyond the window, does not.
func TestJoinSameHostWithinWindow(t *testing.T) {
	e := New(Config{Window: 30 * time.Minute}, fixedNow)
	h1, h2 := hostInfo("h-1", "i-1", "10.0.0.1", ""), hostInfo("h-2", "i-2", "10.0.0.2", "")
	steps := []step{
		{det: runtime("d1", "Reverse shell", alert.Critical, "execution", t0, h1, 1)},
		{det: runtime("d2", "Crontab modified", alert.Medium, "persistence", t0.Add(10*time.Minute), h1, 2)},
		{det: runtime("d3", "Shadow file read", alert.High, "credential-access", t0.Add(20*time.Minute), h1, 3)},
		{det: runtime("d4", "Reverse shell", alert.Critical, "execution", t0.Add(5*time.Minute), h2, 4)},
		{det: runtime("d5", "Crontab modified", alert.Medium, "persistence", t0.Add(3*time.Hour), h1, 5)},
	}
	got := run(t, e, steps)
	if len(got) != 3 {
		t.Fatalf("%d threats, want 3 (h-1 chain, h-2, h-1 three hours later)", len(got))
	}
	chain := got[ThreatID("d1")]
	if chain == nil || len(chain.Timeline) != 3 || !slices.Equal(chain.Tactics, []string{"execution", "persistence", "credential-access"}) {
		t.Fatalf("chain %+v", chain)
	}
	if chain.Main != "d1" || chain.Title != "Reverse shell on web-h-1" {
		t.Errorf("main %s title %q", chain.Main, chain.Title)
	}
	// Redelivered, it changes nothing.
	if ch := e.Add(steps[1].det); ch != nil {
		t.Errorf("a duplicate changed %v", ch)
	}
}

// A low detection opens nothing, but joins the threat that opens later on
// its entity (any order); low detections alone are no threat.
func TestLowDetectionsJoinButDoNotOpen(t *testing.T) {
	h := hostInfo("h-1", "i-1", "10.0.0.1", "")
	low := runtime("l1", "Package manager run", alert.Low, "execution", t0, h, 1)
	high := runtime("h1", "Reverse shell", alert.High, "execution", t0.Add(time.Minute), h, 2)
	for _, order := range [][]*alert.Detection{{low, high}, {high, low}} {
		e := New(Config{}, fixedNow)
		var last []*alert.Threat
		for _, d := range order {
			if ch := e.Add(d); ch != nil {
				last = ch
			}
		}
		if len(last) != 1 || len(last[0].Timeline) != 2 {
			t.Fatalf("%v", last)
		}
	}
	e := New(Config{}, fixedNow)
	for i := 0; i < 5; i++ {
		if ch := e.Add(runtime(fmt.Sprint("low", i), "Package manager run", alert.Low, "execution", t0, h, i)); ch != nil {
			t.Fatalf("a low detection opened %v", ch)
		}
	}
}

// A detection connecting two threats merges them into the earlier.
func TestMergeWhenADetectionConnectsTwoThreats(t *testing.T) {
	e := New(Config{}, fixedNow)
	h := hostInfo("h-1", "i-0aaa", "10.0.1.5", "")
	e.Heartbeat(heartbeat(h, t0))
	// A principal's detection, then the host's, then one naming both.
	p := &alert.Detection{ID: "c1", Source: alert.SourceCloudTrail, Rule: "Access key created", Severity: alert.Medium, Tactic: "persistence", Time: t0,
		Actors: []alert.Entity{{Kind: alert.KindAccessKey, ID: "ASIAWEBROLE"}}}
	r := runtime("r1", "Reverse shell", alert.High, "execution", t0.Add(time.Minute), h, 1)
	both := &alert.Detection{ID: "c2", Source: alert.SourceCloudTrail, Rule: "Logging stopped", Severity: alert.High, Tactic: "defense-evasion", Time: t0.Add(2 * time.Minute),
		Actors: []alert.Entity{{Kind: alert.KindAccessKey, ID: "ASIAWEBROLE"}}, Resources: []alert.Entity{{Kind: alert.KindInstance, ID: "i-0aaa"}}}
	got := run(t, e, []step{{det: p}, {det: r}, {det: both}})
	th := only(t, got)
	if th.ID != ThreatID("c1") || len(th.Timeline) != 3 {
		t.Errorf("survivor %s with %d detections", th.ID, len(th.Timeline))
	}
}

// A resolved threat takes no more detections: a new one opens.
func TestResolvedThreatIsNotReopened(t *testing.T) {
	e := New(Config{}, fixedNow)
	h := hostInfo("h-1", "i-1", "10.0.0.1", "")
	th := e.Add(runtime("d1", "Reverse shell", alert.High, "execution", t0, h, 1))[0]
	th.Status = alert.StatusResolved
	e.Triage(th)
	ch := e.Add(runtime("d2", "Reverse shell", alert.High, "execution", t0.Add(time.Minute), h, 2))
	if len(ch) != 1 || ch[0].ID == th.ID {
		t.Fatalf("%v", ch)
	}
}

// Restored from what was stored, the engine joins where it left off.
func TestRestoreContinuesTheChain(t *testing.T) {
	h := hostInfo("h-1", "i-1", "10.0.0.1", "")
	e := New(Config{}, fixedNow)
	stored := e.Add(runtime("d1", "Reverse shell", alert.High, "execution", t0, h, 1))[0]
	e2 := New(Config{}, fixedNow)
	e2.Restore(stored)
	ch := e2.Add(runtime("d2", "Crontab modified", alert.Medium, "persistence", t0.Add(time.Minute), h, 2))
	if len(ch) != 1 || ch[0].ID != stored.ID || len(ch[0].Timeline) != 2 {
		t.Fatalf("%+v", ch)
	}
	if e2.Add(runtime("d1", "Reverse shell", alert.High, "execution", t0, h, 1)) != nil {
		t.Error("a detection already in a restored threat joined again")
	}
}

// Ordinary activity spread over unrelated hosts and principals: low
// detections only, no threat.
func TestBenignSpreadYieldsNoThreat(t *testing.T) {
	e := New(Config{}, fixedNow)
	for i := 0; i < 200; i++ {
		h := hostInfo(fmt.Sprint("h-", i%20), fmt.Sprint("i-", i%20), fmt.Sprint("10.0.0.", i%20), "")
		e.Heartbeat(heartbeat(h, t0))
		if ch := e.Add(runtime(fmt.Sprint("b", i), "Package manager run", alert.Low, "execution", t0.Add(time.Duration(i)*time.Minute), h, i)); ch != nil {
			t.Fatalf("threat %v", ch)
		}
		if d := e.Cloud(ctRecord(t, fmt.Sprint("ev", i), fmt.Sprint("i-", i%20), fmt.Sprint("10.0.0.", i%20), "GetObject", t0)); d != nil {
			t.Fatalf("derived %s", d.Message)
		}
	}
}

func TestInstanceSession(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:sts::1:assumed-role/web-role/i-0abc": "i-0abc",
		"arn:aws:sts::1:assumed-role/web-role/alice":  "",
		"arn:aws:iam::1:user/i-0abc":                  "",
		"arn:aws:sts::1:assumed-role/web-role/i-":     "",
	} {
		if got := InstanceSession(arn); got != want {
			t.Errorf("%s: %q, want %q", arn, got, want)
		}
	}
}

// shellConnect is a runtime detection whose alert names a connect to remote.
func shellConnect(id string, at time.Time, info *alert.HostInfo, remote string) *alert.Detection {
	d := runtime(id, "Shell connecting to the network", alert.High, "command-and-control", at, info, 7)
	d.Evidence.Alert.Events = []*event.Event{{Type: event.TypeConnect, Time: at, Net: &event.NetInfo{Family: "inet", DstAddr: remote, DstPort: 4444}}}
	return d
}

func flowRecord(t *testing.T, id, src, dst string, bytes int64, start time.Time, secs int64) *cloudevent.Record {
	t.Helper()
	line := fmt.Sprintf("2 111122223333 eni-1 %s %s 40000 4444 6 10 %d %d %d ACCEPT OK\n", src, dst, bytes, start.Unix(), start.Unix()+secs)
	recs, errs := cloudevent.ParseFlow("f", []byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"+line), nil)
	if len(errs) > 0 || len(recs) != 1 {
		t.Fatal(errs)
	}
	recs[0].ID = id
	return &recs[0]
}

// (d) A C2 connection from H to R, and flow records from H's interface to
// R (before and after the alert, in any order): the threat gains the bytes
// sent and the duration; past 10 MiB it is raised as exfiltration.
func TestJoinFlowsGiveTheExfiltrationSize(t *testing.T) {
	h := hostInfo("h-1", "i-1", "10.0.1.5", "")
	for _, reverse := range []bool{false, true} {
		e := New(Config{}, fixedNow)
		e.Heartbeat(heartbeat(h, t0))
		var last *alert.Threat
		keep := func(ch []*alert.Threat) {
			if len(ch) == 1 {
				last = ch[0]
			}
		}
		steps := []func(){
			func() { keep(e.Flow(flowRecord(t, "f1", "10.0.1.5", "198.51.100.9", 6<<20, t0, 60))) },
			func() { keep(e.Add(shellConnect("c1", t0.Add(30*time.Second), h, "198.51.100.9"))) },
			func() {
				keep(e.Flow(flowRecord(t, "f2", "10.0.1.5", "198.51.100.9", 6<<20, t0.Add(60*time.Second), 240)))
			},
			func() { keep(e.Flow(flowRecord(t, "f3", "198.51.100.9", "10.0.1.5", 1000, t0, 300))) },
			func() {
				keep(e.Flow(flowRecord(t, "f2", "10.0.1.5", "198.51.100.9", 6<<20, t0.Add(60*time.Second), 240)))
			}, // a duplicate
			func() { keep(e.Flow(flowRecord(t, "f4", "10.0.1.5", "203.0.113.1", 1<<30, t0, 60))) }, // another remote
		}
		if reverse {
			slices.Reverse(steps)
		}
		for _, s := range steps {
			s()
		}
		if len(last.Network) != 1 {
			t.Fatalf("reverse %v: network %+v", reverse, last.Network)
		}
		x := last.Network[0]
		if x.Remote != "198.51.100.9" || x.BytesOut != 12<<20 || x.BytesIn != 1000 || x.Flows != 3 || x.Seconds != 300 {
			t.Errorf("reverse %v: %+v", reverse, x)
		}
		if last.Severity != alert.Critical || !slices.ContainsFunc(last.Reasons, func(r string) bool { return strings.Contains(r, "bytes sent") }) {
			t.Errorf("reverse %v: %s %v", reverse, last.Severity, last.Reasons)
		}
	}
}
