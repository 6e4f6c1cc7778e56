package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/receiver"
	"github.com/vigil-sec/vigil/internal/testenv"
	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend/route"
)

// userRecord is a CloudTrail IAM call by user on bob.
func userRecord(user, id, event string, at time.Time) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":%q,"eventID":%q,`+
		`"awsRegion":"us-east-1","recipientAccountId":"111122223333","sourceIPAddress":"198.51.100.40","userAgent":"aws-cli/2.15",`+
		`"userIdentity":{"type":"IAMUser","principalId":"AIDA%[4]s","arn":"arn:aws:iam::111122223333:user/%[4]s","accountId":"111122223333","accessKeyId":"AKIA%[4]s","userName":%[4]q},`+
		`"requestParameters":{"userName":"bob"},"responseElements":null}`, at.Format(time.RFC3339), event, id, user)
}

func writeSecret(t *testing.T, dir, name, v string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type pdEvent struct {
	RoutingKey string `json:"routing_key"`
	Action     string `json:"event_action"`
	DedupKey   string `json:"dedup_key"`
	Payload    struct {
		Summary  string         `json:"summary"`
		Severity string         `json:"severity"`
		Details  map[string]any `json:"custom_details"`
	} `json:"payload"`
}

// Threats from the correlation reach every output kind through the real
// binary and its embedded NATS: a threat that gains three detections pages
// once and updates twice (PagerDuty's dedup key, Slack's thread, the
// webhook's and the SIEM's events), resolving it in the API sends a
// resolve with the same key; a receiver that refuses gets the
// notification dead-lettered, visible in the API, the CLI and /metrics;
// `vigil backend outputs test` prints the receiver's answer.
func TestRoutingThreatsToEveryOutput(t *testing.T) {
	bin := backendBin(t)
	dir := t.TempDir()
	pd := receiver.NewHTTP(t)
	pd.Answer = func(_ string, body []byte) (int, any) {
		var e pdEvent
		_ = json.Unmarshal(body, &e)
		return 202, map[string]any{"status": "success", "message": "Event processed", "dedup_key": e.DedupKey}
	}
	hook := receiver.NewHTTP(t)
	ocsfHook := receiver.NewHTTP(t)
	refuser := receiver.NewHTTP(t)
	refuser.Fail(http.StatusUnprocessableEntity)
	slackAPI := receiver.NewHTTP(t)
	posts := 0
	slackAPI.Answer = func(path string, _ []byte) (int, any) {
		posts++
		return 200, map[string]any{"ok": true, "channel": "C42", "ts": fmt.Sprintf("1800000000.%06d", posts)}
	}
	ca := testenv.WriteCert(t, dir, "ca", nil, true)
	srv := testenv.WriteCert(t, dir, "syslog", ca, false)
	cert, err := tls.LoadX509KeyPair(srv.CertFile, srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	siem := receiver.NewSyslog(t, "tls", &tls.Config{Certificates: []tls.Certificate{cert}})
	jsonl := filepath.Join(dir, "out", "threats.jsonl")
	conf := fmt.Sprintf(`outputs:
  - {name: pd, type: pagerduty, url: %q, routing_key_file: %q}
  - {name: hook, type: webhook, url: %q, secret_file: %q}
  - {name: lake, type: webhook, url: %q, format: ocsf}
  - {name: refuser, type: webhook, url: %q}
  - {name: slack, type: slack, url: %q, token_file: %q, channel: "#secops"}
  - {name: siem, type: syslog, network: tls, address: %q, ca_file: %q}
  - {name: archive, type: file, path: %q}
routes:
  - {name: page, match: {severity: medium, sources: [cloudtrail]}, outputs: [pd, slack]}
  - {name: soc, match: {severity: medium}, outputs: [hook, lake, refuser, siem]}
  - {name: everything, default: true, outputs: [archive]}
  - {name: all-detections, kind: detections, outputs: [archive]}
routing:
  quiet_period: 0s
  retry_max: 2s
  ui_url: https://vigil.example.com
`, pd.URL, writeSecret(t, dir, "pd.key", "R0UT1NGKEY"), hook.URL, writeSecret(t, dir, "hook.key", "s3cr3t"), ocsfHook.URL, refuser.URL,
		slackAPI.URL+"/api/", writeSecret(t, dir, "slack.token", "xoxb-test"), siem.Addr, ca.CertFile, jsonl)
	cfgFile := filepath.Join(dir, "backend.yaml")
	if err := os.WriteFile(cfgFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBackend(t, bin, filepath.Join(dir, "data"), freePort(t), conf)
	token := readToken(t, b.token)

	now := time.Now().UTC()
	for i, ev := range []string{"CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile"} {
		ingestLines(t, bin, b, t.TempDir(), "cloudtrail", []string{userRecord("mallory", fmt.Sprintf("route-%d", i), ev, now.Add(time.Duration(i)*time.Minute))})
		pd.Wait(t, i+1, 30*time.Second)
	}
	hook.Wait(t, 3, 30*time.Second)
	var events []pdEvent
	for _, r := range pd.Requests() {
		var e pdEvent
		r.JSON(t, &e)
		events = append(events, e)
	}
	id := events[0].DedupKey
	for i, e := range events {
		want := []string{"threat.opened", "threat.updated", "threat.updated"}[i]
		if e.Action != "trigger" || e.DedupKey != id || e.RoutingKey != "R0UT1NGKEY" || e.Payload.Details["event"] != want ||
			!strings.HasPrefix(id, "thr-") || e.Payload.Details["url"] != "https://vigil.example.com/#/threat/"+id {
			t.Errorf("page %d: %+v", i, e)
		}
	}
	// Resolved by an analyst: PagerDuty's alert is resolved, with its key.
	if code, resp := b.call(t, http.MethodPatch, "/api/v1/threats/"+id, token, []byte(`{"status":"resolved","resolution":"malicious"}`)); code != 200 {
		t.Fatalf("resolve: %d %v", code, resp)
	}
	reqs := pd.Wait(t, 4, 30*time.Second)
	var last pdEvent
	reqs[3].JSON(t, &last)
	if last.Action != "resolve" || last.DedupKey != id {
		t.Errorf("after resolve: %+v", last)
	}

	// The webhook: the notification schema, signed; opened, updated twice,
	// resolved.
	var got []string
	for _, r := range hook.Wait(t, 4, 30*time.Second) {
		var n alert.Notification
		r.JSON(t, &n)
		got = append(got, n.Event)
		if n.Schema != alert.NotificationSchema || n.Key != id || n.Threat == nil ||
			r.Header.Get(route.HeaderSignature) != route.Sign([]byte("s3cr3t"), r.Header.Get(route.HeaderTimestamp), r.Body) {
			t.Errorf("webhook: %+v %v", n, r.Header)
		}
	}
	if strings.Join(got, ",") != "threat.opened,threat.updated,threat.updated,threat.resolved" {
		t.Errorf("webhook events %v", got)
	}
	// OCSF: one finding created, updated, closed.
	var acts []string
	for _, r := range ocsfHook.Wait(t, 4, 30*time.Second) {
		var f struct {
			ClassUID    int `json:"class_uid"`
			ActivityID  int `json:"activity_id"`
			FindingInfo struct {
				UID string `json:"uid"`
			} `json:"finding_info"`
		}
		r.JSON(t, &f)
		if f.ClassUID != 2004 || f.FindingInfo.UID != id {
			t.Errorf("ocsf %+v", f)
		}
		acts = append(acts, fmt.Sprint(f.ActivityID))
	}
	if strings.Join(acts, ",") != "1,2,2,3" {
		t.Errorf("ocsf activities %v", acts)
	}
	// Slack: one message, kept current, with the updates in its thread.
	sreqs := slackAPI.Wait(t, 7, 30*time.Second)
	var paths []string
	for _, r := range sreqs {
		v, _ := url.ParseQuery(string(r.Body))
		p := strings.TrimPrefix(r.Path, "/api/")
		if p == "chat.postMessage" && v.Get("thread_ts") != "" {
			p = "reply"
			if v.Get("thread_ts") != "1800000000.000001" {
				t.Errorf("reply in thread %q", v.Get("thread_ts"))
			}
		}
		paths = append(paths, p)
	}
	if strings.Join(paths, ",") != "chat.postMessage,chat.update,reply,chat.update,reply,chat.update,reply" {
		t.Errorf("slack calls %v", paths)
	}
	// The SIEM over TLS: RFC 5424 with the threat's key.
	var ids []string
	for _, m := range siem.Wait(t, 4, 30*time.Second) {
		sd := (*m.StructuredData)[route.SyslogSDID]
		if sd["key"] != id {
			t.Errorf("syslog sd %v", sd)
		}
		ids = append(ids, *m.MsgID)
	}
	if strings.Join(ids, ",") != "threat.opened,threat.updated,threat.updated,threat.resolved" {
		t.Errorf("syslog %v", ids)
	}
	// The file: the detections route and, for threats, only the default
	// route's (none here: every threat matched another route).
	waitFor(t, 30*time.Second, func() bool {
		raw, _ := os.ReadFile(jsonl)
		return strings.Count(string(raw), "\n") >= 3
	})
	raw, _ := os.ReadFile(jsonl)
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var n alert.Notification
		if err := json.Unmarshal([]byte(line), &n); err != nil || n.Event != alert.EventDetection || n.Detection == nil {
			t.Errorf("archive line %v: %.200s", err, line)
		}
	}

	// The refuser's notifications are dead-lettered: in the API, the CLI
	// and the metrics. It never took the threat, so each revision is an
	// "opened" again, and its resolve has nothing to close.
	var st struct {
		Outputs []route.Snapshot   `json:"outputs"`
		Dead    []alert.DeadLetter `json:"dead_letters"`
		Leading bool               `json:"leading"`
	}
	// A receiver records a message before the backend has its answer and
	// counts it sent: wait for the counters to settle as well.
	want := map[string]uint64{"pd": 4, "hook": 4, "lake": 4, "slack": 4, "siem": 4, "refuser": 0}
	settled := func() bool {
		for _, o := range st.Outputs {
			if n, ok := want[o.Name]; ok && o.Sent < n {
				return false
			}
		}
		return len(st.Dead) >= 3
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, m := b.call(t, http.MethodGet, "/api/v1/outputs", token, nil)
		raw, _ := json.Marshal(m)
		_ = json.Unmarshal(raw, &st)
		if settled() || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(st.Dead) < 3 {
		t.Fatalf("%d dead letters, want 3", len(st.Dead))
	}
	if !st.Leading || st.Dead[0].Output != "refuser" || st.Dead[0].Status != 422 || st.Dead[0].Notification.Key != id {
		t.Errorf("dead letters %+v", st.Dead[0])
	}
	for _, o := range st.Outputs {
		if n, ok := want[o.Name]; ok && o.Sent != n {
			t.Errorf("%s sent %d, want %d", o.Name, o.Sent, n)
		}
		if o.Name == "refuser" && (o.DeadLettered != 3 || o.Healthy) {
			t.Errorf("refuser %+v", o)
		}
	}
	out, err := exec.Command(bin, "backend", "outputs", "list", "--api", b.api, "--token-file", b.token).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "refuser") || !strings.Contains(string(out), "dead letters: 3") {
		t.Errorf("outputs list: %v\n%s", err, out)
	}
	resp, err := http.Get(b.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`vigil_backend_output_sent_total{output="pd",type="pagerduty"} 4`,
		`vigil_backend_output_dead_lettered_total{output="refuser",type="webhook"} 3`, `vigil_backend_output_healthy{output="refuser",type="webhook"} 0`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// vigil backend outputs test: the receiver's answer, or why not.
	out, err = exec.Command(bin, "backend", "outputs", "test", "pd", "--config", cfgFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pd (pagerduty): success: Event processed") {
		t.Errorf("outputs test pd: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "backend", "outputs", "test", "refuser", "--config", cfgFile).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refused") || !strings.Contains(string(out), "422") {
		t.Errorf("outputs test refuser: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "backend", "outputs", "test", "nope", "--config", cfgFile).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "outputs: pd, hook") {
		t.Errorf("outputs test nope: %v\n%s", err, out)
	}
}

// A webhook receiver down for a minute, with the backend restarted in the
// middle: once it is back, every threat's notification arrives exactly
// once, those of threats opened before the restart and after it.
func TestRoutingSurvivesReceiverOutageAndRestart(t *testing.T) {
	bin := backendBin(t)
	dir := t.TempDir()
	hook := receiver.NewHTTP(t)
	hook.Fail(http.StatusServiceUnavailable)
	conf := fmt.Sprintf("outputs:\n  - {name: hook, type: webhook, url: %q}\nroutes:\n  - {name: all, default: true, outputs: [hook]}\n"+
		"routing:\n  quiet_period: 0s\n  retry_max: 3s\n", hook.URL)
	natsPort := freePort(t)
	data := filepath.Join(dir, "data")
	b := startBackend(t, bin, data, natsPort, conf)
	token := readToken(t, b.token)
	down := time.Now()
	now := time.Now().UTC()
	var want []string
	ingest := func(users ...string) {
		var lines []string
		for _, u := range users {
			lines = append(lines, userRecord(u, "outage-"+u, "CreateAccessKey", now))
			want = append(want, u)
		}
		ingestLines(t, bin, b, t.TempDir(), "cloudtrail", lines)
	}
	ingest("alice", "bruno", "chen", "dana")
	failed := func() uint64 {
		_, m := b.call(t, http.MethodGet, "/api/v1/outputs", token, nil)
		var st struct{ Outputs []route.Snapshot }
		raw, _ := json.Marshal(m)
		_ = json.Unmarshal(raw, &st)
		if len(st.Outputs) == 0 {
			return 0
		}
		return st.Outputs[0].Failed
	}
	waitFor(t, 30*time.Second, func() bool { return failed() > 0 })
	time.Sleep(15 * time.Second)
	b.stop()
	b = startBackend(t, bin, data, natsPort, conf)
	ingest("erik", "fatou")
	waitFor(t, 30*time.Second, func() bool { return failed() > 0 })
	if d := 60*time.Second - time.Since(down); d > 0 {
		time.Sleep(d)
	}
	if n := len(hook.Requests()); n != 0 {
		t.Fatalf("%d accepted while down", n)
	}
	hook.Fail(0)
	hook.Wait(t, len(want), 60*time.Second)
	time.Sleep(8 * time.Second) // anything sent twice would be here by now
	var users []string
	seen := map[string]bool{}
	for _, r := range hook.Requests() {
		var n alert.Notification
		r.JSON(t, &n)
		if seen[n.Key] || n.Event != alert.EventThreatOpened {
			t.Errorf("%s %s again", n.Event, n.Key)
		}
		seen[n.Key] = true
		for _, a := range n.Threat.Actors {
			if a.Kind == alert.KindPrincipal {
				users = append(users, a.Name)
			}
		}
	}
	slices.Sort(users)
	if len(hook.Requests()) != len(want) || !slices.Equal(users, want) {
		t.Errorf("%d notifications for %d threats: %v", len(hook.Requests()), len(want), users)
	}
}
