package route

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/internal/receiver"
	"github.com/vigil-sec/vigil/internal/testenv"
	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/config"
)

// deadBox collects dead letters.
type deadBox struct{ msgs []store.Msg }

func (d *deadBox) Publish(_ context.Context, msgs []store.Msg) (store.PublishResult, error) {
	d.msgs = append(d.msgs, msgs...)
	return store.PublishResult{Published: len(msgs)}, nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func dispatcher(t *testing.T, oc config.Output, quiet time.Duration) (*Dispatcher, *deadBox, *clock) {
	t.Helper()
	out, err := New(oc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	dead, clk := &deadBox{}, &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	return &Dispatcher{Name: oc.Name, Type: oc.Type, Out: out, State: store.NewMemKV(), Dead: dead, Env: "prod", UIURL: "https://vigil.example.com",
		Router: NewRouter([]config.Route{{Name: "page-high", Match: config.RouteMatch{Severity: "high"}, Outputs: []string{oc.Name}}}),
		Quiet:  quiet, RetryMax: time.Minute, Now: clk.now, Log: zap.NewNop()}, dead, clk
}

// threatRev is revision seq of a threat with n detections.
func threatRev(t *testing.T, id string, seq uint64, n int, status string) store.Msg {
	t.Helper()
	th := alert.Threat{Schema: alert.ThreatSchema, ID: id, Title: "Reverse shell on web-1", Severity: alert.Critical, Status: status, Env: "prod",
		Tactics: []string{"execution"}, Sources: []alert.Source{alert.SourceRuntime}, Resources: []alert.Entity{{Kind: alert.KindHost, ID: "h-1", Name: "web-1"}}}
	for i := range n {
		th.Timeline = append(th.Timeline, alert.TimelineEntry{Detection: fmt.Sprintf("d%d", i), Rule: fmt.Sprintf("Rule %d", i), Severity: alert.Critical,
			Message: fmt.Sprintf("detection %d", i)})
	}
	th.Main = "d0"
	b, _ := json.Marshal(th)
	return store.Msg{Subject: "$KV.vigil_threats." + id, Data: b, Seq: seq, Delivered: 1}
}

func handle(t *testing.T, d *Dispatcher, m store.Msg) error {
	t.Helper()
	return d.Threats(context.Background(), []store.Msg{m})[0]
}

func secretFile(t *testing.T, v string) string {
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A threat that gains three detections pages once and updates twice, with
// one dedup key; resolving it sends a resolve with the same key; a
// redelivered revision is not sent again.
func TestPagerDutyPagesOnceUpdatesAndResolves(t *testing.T) {
	pd := receiver.NewHTTP(t)
	pd.Answer = func(path string, body []byte) (int, any) {
		var e map[string]any
		_ = json.Unmarshal(body, &e)
		return 202, map[string]any{"status": "success", "message": "Event processed", "dedup_key": e["dedup_key"]}
	}
	d, _, clk := dispatcher(t, config.Output{Name: "pd", Type: "pagerduty", URL: pd.URL, RoutingKeyFile: secretFile(t, "R0UT1NG")}, 0)
	for i, m := range []store.Msg{threatRev(t, "thr-1", 1, 1, alert.StatusOpen), threatRev(t, "thr-1", 2, 2, alert.StatusOpen),
		threatRev(t, "thr-1", 3, 3, alert.StatusOpen), threatRev(t, "thr-1", 3, 3, alert.StatusOpen), threatRev(t, "thr-1", 4, 3, alert.StatusResolved)} {
		clk.t = clk.t.Add(time.Minute)
		if err := handle(t, d, m); err != nil {
			t.Fatalf("revision %d: %v", i, err)
		}
	}
	reqs := pd.Requests()
	var actions, events []string
	for _, r := range reqs {
		if r.Path != "/v2/enqueue" {
			t.Errorf("path %s", r.Path)
		}
		var e struct {
			RoutingKey string `json:"routing_key"`
			Action     string `json:"event_action"`
			DedupKey   string `json:"dedup_key"`
			Payload    struct {
				Summary, Source, Severity string
				Details                   map[string]any `json:"custom_details"`
			} `json:"payload"`
		}
		r.JSON(t, &e)
		if e.DedupKey != "thr-1" || e.RoutingKey != "R0UT1NG" {
			t.Errorf("event %+v", e)
		}
		actions = append(actions, e.Action)
		if e.Action == "trigger" {
			events = append(events, fmt.Sprint(e.Payload.Details["event"], "+", e.Payload.Details["new_detections"]))
			if e.Payload.Severity != "critical" || e.Payload.Source != "web-1" || !strings.Contains(e.Payload.Summary, "Reverse shell on web-1") {
				t.Errorf("payload %+v", e.Payload)
			}
		}
	}
	if strings.Join(actions, ",") != "trigger,trigger,trigger,resolve" ||
		strings.Join(events, ",") != "threat.opened+1,threat.updated+1,threat.updated+1" {
		t.Errorf("actions %v events %v", actions, events)
	}
	if s := d.Snapshot(); s.Sent != 4 || s.Redelivered != 1 || !s.Healthy {
		t.Errorf("%+v", s)
	}
}

// Updates within the quiet period wait, and go as one; a status change
// does not wait.
func TestQuietPeriodCoalescesUpdates(t *testing.T) {
	hook := receiver.NewHTTP(t)
	d, _, clk := dispatcher(t, config.Output{Name: "hook", Type: "webhook", URL: hook.URL}, 5*time.Minute)
	if err := handle(t, d, threatRev(t, "thr-2", 1, 1, alert.StatusOpen)); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute)
	err := handle(t, d, threatRev(t, "thr-2", 2, 2, alert.StatusOpen))
	var ra *store.RetryAfter
	if !errors.As(err, &ra) || ra.Delay != 4*time.Minute {
		t.Fatalf("in the quiet period: %v", err)
	}
	// The bucket keeps the latest revision only: revision 3 is what is
	// redelivered once the quiet period is over.
	clk.t = clk.t.Add(5 * time.Minute)
	if err := handle(t, d, threatRev(t, "thr-2", 3, 3, alert.StatusOpen)); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Second)
	if err := handle(t, d, threatRev(t, "thr-2", 4, 3, alert.StatusInProgress)); err != nil {
		t.Fatalf("acknowledge waited: %v", err)
	}
	var got []string
	for _, r := range hook.Requests() {
		var n alert.Notification
		r.JSON(t, &n)
		got = append(got, fmt.Sprintf("%s+%d", n.Event, n.NewDetections))
		if r.Header.Get(HeaderDelivery) != n.ID || n.URL != "https://vigil.example.com/#/threat/thr-2" || n.Schema != alert.NotificationSchema {
			t.Errorf("%+v %v", n, r.Header)
		}
	}
	if strings.Join(got, ",") != "threat.opened+1,threat.updated+2,threat.acknowledged+0" {
		t.Errorf("%v", got)
	}
	if s := d.Snapshot(); s.Deferred != 1 || s.Sent != 3 {
		t.Errorf("%+v", s)
	}
}

// A receiver that fails is retried with backoff (the rest of the batch
// waits with it); one that refuses (4xx) gets the notification
// dead-lettered, and the message is done.
func TestFailuresRetryAndDeadLetter(t *testing.T) {
	hook := receiver.NewHTTP(t)
	d, dead, _ := dispatcher(t, config.Output{Name: "hook", Type: "webhook", URL: hook.URL}, 0)
	hook.Fail(503)
	m1, m2 := threatRev(t, "thr-3", 1, 1, alert.StatusOpen), threatRev(t, "thr-4", 2, 1, alert.StatusOpen)
	m1.Delivered = 3
	errs := d.Threats(context.Background(), []store.Msg{m1, m2})
	var ra1, ra2 *store.RetryAfter
	if !errors.As(errs[0], &ra1) || ra1.Delay != 4*time.Second || !errors.As(errs[1], &ra2) || ra2.Delay != time.Second {
		t.Fatalf("%v", errs)
	}
	if s := d.Snapshot(); s.Failed != 1 || s.Healthy || !strings.Contains(s.LastError, "503") {
		t.Errorf("one attempt for the batch: %+v", s)
	}
	hook.Fail(400)
	if err := handle(t, d, m1); err != nil {
		t.Fatalf("a refusal is not retried: %v", err)
	}
	if len(dead.msgs) != 1 || dead.msgs[0].Subject != "vigil.prod.deadletter.hook" {
		t.Fatalf("dead letters %+v", dead.msgs)
	}
	var dl alert.DeadLetter
	_ = json.Unmarshal(dead.msgs[0].Data, &dl)
	if dl.Status != 400 || dl.Output != "hook" || dl.Notification == nil || dl.Notification.Key != "thr-3" {
		t.Errorf("%+v", dl)
	}
	hook.Fail(0)
	if err := handle(t, d, m2); err != nil || len(hook.Requests()) != 1 {
		t.Errorf("after recovery: %v %d", err, len(hook.Requests()))
	}
	if s := d.Snapshot(); s.DeadLettered != 1 || s.Sent != 1 || !s.Healthy {
		t.Errorf("%+v", s)
	}
}

// A low threat never reaches a high-only output; detections go to
// detection routes only.
func TestUnroutedAndDetections(t *testing.T) {
	hook := receiver.NewHTTP(t)
	d, _, _ := dispatcher(t, config.Output{Name: "hook", Type: "webhook", URL: hook.URL, Format: "ocsf"}, 0)
	low := threatRev(t, "thr-5", 1, 1, alert.StatusOpen)
	low.Data = []byte(strings.Replace(string(low.Data), `"severity":"critical","status"`, `"severity":"low","status"`, 1))
	if err := handle(t, d, low); err != nil || len(hook.Requests()) != 0 || d.Snapshot().Unrouted != 1 {
		t.Fatalf("low threat: %v %d", err, len(hook.Requests()))
	}
	d.Router = NewRouter([]config.Route{{Name: "siem", Kind: KindDetections, Match: config.RouteMatch{Sources: []string{"k8saudit"}}, Outputs: []string{"hook"}}})
	det := func(id string, src alert.Source) store.Msg {
		b, _ := json.Marshal(alert.Detection{Schema: alert.DetectionSchema, ID: id, Source: src, Rule: "Exec into a pod", Severity: alert.Medium,
			Tactic: "execution", Technique: "T1609", Time: time.Now()})
		return store.Msg{Data: b, Delivered: 1}
	}
	errs := d.Detections(context.Background(), []store.Msg{det("d1", alert.SourceK8sAudit), det("d2", alert.SourceRuntime), {Data: []byte("{")}})
	if errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatal(errs)
	}
	reqs := hook.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	var f map[string]any
	reqs[0].JSON(t, &f)
	if f["class_uid"] != float64(2004) || f["finding_info"].(map[string]any)["uid"] != "d1" {
		t.Errorf("ocsf body %v", f)
	}
	if s := d.Snapshot(); s.Malformed != 1 || s.Unrouted != 2 {
		t.Errorf("%+v", s)
	}
}

// The webhook signs its body with the secret; custom headers are sent.
func TestWebhookSignatureAndHeaders(t *testing.T) {
	hook := receiver.NewHTTP(t)
	d, _, _ := dispatcher(t, config.Output{Name: "hook", Type: "webhook", URL: hook.URL + "/in", SecretFile: secretFile(t, "s3cr3t"),
		Headers: map[string]string{"X-Team": "secops"}}, 0)
	if err := handle(t, d, threatRev(t, "thr-6", 1, 2, alert.StatusOpen)); err != nil {
		t.Fatal(err)
	}
	r := hook.Requests()[0]
	ts := r.Header.Get(HeaderTimestamp)
	if r.Path != "/in" || r.Header.Get("X-Team") != "secops" || r.Header.Get(HeaderEvent) != alert.EventThreatOpened ||
		r.Header.Get(HeaderSignature) != Sign([]byte("s3cr3t"), ts, r.Body) || Sign([]byte("other"), ts, r.Body) == r.Header.Get(HeaderSignature) {
		t.Errorf("%v", r.Header)
	}
}

// Slack through the Web API: the first message is posted, an update
// refreshes it and replies in its thread; an incoming webhook gets a new
// message saying "Updated".
func TestSlackThreads(t *testing.T) {
	api := receiver.NewHTTP(t)
	n := 0
	api.Answer = func(path string, body []byte) (int, any) {
		n++
		return 200, map[string]any{"ok": true, "channel": "C123", "ts": fmt.Sprintf("1700000000.%06d", n)}
	}
	d, _, _ := dispatcher(t, config.Output{Name: "slack", Type: "slack", URL: api.URL + "/api", TokenFile: secretFile(t, "xoxb-1"), Channel: "#secops"}, 0)
	for seq, cnt := range []int{1, 2} {
		if err := handle(t, d, threatRev(t, "thr-7", uint64(seq+1), cnt, alert.StatusOpen)); err != nil {
			t.Fatal(err)
		}
	}
	reqs := api.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	form := func(r receiver.Request) url.Values { v, _ := url.ParseQuery(string(r.Body)); return v }
	first, upd, reply := form(reqs[0]), form(reqs[1]), form(reqs[2])
	if reqs[0].Path != "/api/chat.postMessage" || first.Get("channel") != "#secops" || first.Get("thread_ts") != "" ||
		!strings.Contains(first.Get("blocks"), "Reverse shell on web-1") || !strings.Contains(first.Get("blocks"), "https://vigil.example.com/#/threat/thr-7") ||
		first.Get("token") != "xoxb-1" {
		t.Errorf("first: %s %v", reqs[0].Path, first)
	}
	if reqs[1].Path != "/api/chat.update" || upd.Get("ts") != "1700000000.000001" || upd.Get("channel") != "C123" {
		t.Errorf("update: %s %v", reqs[1].Path, upd)
	}
	if reqs[2].Path != "/api/chat.postMessage" || reply.Get("thread_ts") != "1700000000.000001" || !strings.Contains(reply.Get("blocks"), "1 new detection") {
		t.Errorf("reply: %s %v", reqs[2].Path, reply)
	}
	// Slack's refusal (a bad token) is permanent.
	api.Answer = func(string, []byte) (int, any) { return 200, map[string]any{"ok": false, "error": "invalid_auth"} }
	if _, err := d.Out.Send(context.Background(), &Delivery{N: &alert.Notification{Event: alert.EventThreatOpened, Threat: &alert.Threat{}}}); !IsPermanent(err) {
		t.Errorf("invalid_auth: %v", err)
	}
	hook := receiver.NewHTTP(t)
	w, _, _ := dispatcher(t, config.Output{Name: "slackhook", Type: "slack", URL: hook.URL}, 0)
	for seq, cnt := range []int{1, 2} {
		if err := handle(t, w, threatRev(t, "thr-8", uint64(seq+1), cnt, alert.StatusOpen)); err != nil {
			t.Fatal(err)
		}
	}
	var msgs []map[string]any
	for _, r := range hook.Requests() {
		var m map[string]any
		r.JSON(t, &m)
		msgs = append(msgs, m)
	}
	if len(msgs) != 2 || !strings.HasPrefix(msgs[0]["text"].(string), "New threat [CRITICAL]") || !strings.HasPrefix(msgs[1]["text"].(string), "Updated [CRITICAL]") {
		t.Errorf("%v", msgs)
	}
}

// Syslog over UDP, TCP and TLS: RFC 5424 with the structured data, the
// notification as the message.
func TestSyslogTransports(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.WriteCert(t, dir, "ca", nil, true)
	srv := testenv.WriteCert(t, dir, "srv", ca, false)
	cert, err := tls.LoadX509KeyPair(srv.CertFile, srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{"udp", "tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			rcv := receiver.NewSyslog(t, network, &tls.Config{Certificates: []tls.Certificate{cert}})
			oc := config.Output{Name: "siem", Type: "syslog", Network: network, Address: rcv.Addr, Facility: "local3"}
			if network == "tls" {
				oc.CAFile = ca.CertFile
			}
			d, _, _ := dispatcher(t, oc, 0)
			for seq := 1; seq <= 2; seq++ {
				if err := handle(t, d, threatRev(t, "thr-9", uint64(seq), seq*30, alert.StatusOpen)); err != nil {
					t.Fatal(err)
				}
			}
			msgs := rcv.Wait(t, 2, 10*time.Second)
			m := msgs[1]
			sd := (*m.StructuredData)[SyslogSDID]
			if *m.Facility != 19 || *m.Severity != 2 || *m.Appname != "vigil" || *m.MsgID != alert.EventThreatUpdated ||
				sd["key"] != "thr-9" || sd["severity"] != "critical" || sd["detections"] != "60" || sd["hosts"] != "web-1" {
				t.Errorf("%v %v %v %v", *m.Facility, *m.Severity, *m.MsgID, sd)
			}
			var n alert.Notification
			if err := json.Unmarshal([]byte(*m.Message), &n); err != nil || n.Threat == nil || len(n.Threat.Timeline) != 60 {
				t.Errorf("message: %v", err)
			}
		})
	}
	// A TLS receiver whose certificate is not trusted is not sent to.
	rcv := receiver.NewSyslog(t, "tls", &tls.Config{Certificates: []tls.Certificate{cert}})
	out, err := New(config.Output{Name: "x", Type: "syslog", Network: "tls", Address: rcv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var uerr x509.UnknownAuthorityError
	if _, err := out.Send(context.Background(), &Delivery{N: &alert.Notification{Event: "x", Threat: &alert.Threat{}}}); !errors.As(err, &uerr) {
		t.Errorf("untrusted receiver: %v", err)
	}
}

// A threat too large for a datagram is cut to fit, and says so.
func TestSyslogTrimsLargeThreats(t *testing.T) {
	m := threatRev(t, "thr-10", 1, 2000, alert.StatusOpen)
	var th alert.Threat
	_ = json.Unmarshal(m.Data, &th)
	s, err := SyslogMessage(&alert.Notification{Event: alert.EventThreatOpened, Key: th.ID, Threat: &th}, "json", 16, "h", "vigil", maxSyslogUDP)
	if err != nil || len(s) > maxSyslogUDP || !strings.Contains(s, `truncated="true"`) || !strings.Contains(s, `"omitted_detections":1990`) {
		t.Errorf("%d bytes, %v", len(s), err)
	}
}

// The file output writes one JSON line per notification and rotates by
// size, keeping max_files.
func TestFileRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out", "threats.jsonl")
	d, _, _ := dispatcher(t, config.Output{Name: "file", Type: "file", Path: path, MaxBytes: 1 << 20, MaxFiles: 2}, 0)
	big := threatRev(t, "x", 0, 200, alert.StatusOpen) // ~30 KB a line
	for i := range 120 {
		m := big
		m.Data = []byte(strings.Replace(string(big.Data), `"id":"x"`, fmt.Sprintf(`"id":"thr-%d"`, i), 1))
		m.Seq = uint64(i + 1)
		if err := handle(t, d, m); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "out", "threats*.jsonl"))
	if len(files) < 2 || len(files) > 3 {
		t.Fatalf("files %v", files)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var n alert.Notification
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &n); err != nil || n.Key != "thr-119" {
		t.Errorf("last line: %v %s", err, n.Key)
	}
	if _, err := New(config.Output{Name: "bad", Type: "file", Path: "/proc/nope/x.jsonl"}); err == nil {
		t.Error("an unwritable path is accepted")
	}
}
