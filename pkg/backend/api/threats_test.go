package api

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/testenv"
	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend/index"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/backend/threat"
	"github.com/vigil-sec/vigil/pkg/correlate"
)

// threatServer serves one threat the engine made of two detections on a
// host, stored as the stage stores it.
func threatServer(t *testing.T) (*httptest.Server, string, string, *threat.View) {
	t.Helper()
	tokens, admin := adminToken(t)
	viewer, err := tokens.Create(context.Background(), RoleViewer, "alice")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	eng := correlate.New(correlate.Config{}, func() time.Time { return at.Add(time.Hour) })
	kv := store.NewMemKV()
	view := threat.NewView(kv)
	ix := index.New(10)
	info := &alert.HostInfo{ID: "h-1", Hostname: "web-1", Env: "prod", Cloud: &alert.Cloud{Provider: "aws", InstanceID: "i-0abc", AccountID: "111122223333"}}
	var last *alert.Threat
	for i, r := range []struct {
		rule   string
		sev    alert.Severity
		tactic string
	}{{"Reverse shell", alert.Critical, "execution"}, {"Crontab modified", alert.Medium, "persistence"}} {
		a := &alert.Alert{Schema: alert.AlertSchema, ID: "a" + string(rune('1'+i)), Time: at.Add(time.Duration(i) * time.Minute), Rule: r.rule,
			Severity: r.sev, Tactic: r.tactic, Technique: "T1", Message: r.rule, Host: alert.Host{Name: "web-1", ID: "h-1", Env: "prod", Info: info}}
		a.Process.ExecID, a.Process.Exe = "h-1:100", "/usr/bin/bash"
		d := alert.FromAlert(a)
		raw, _ := json.Marshal(&d)
		ix.Add(raw)
		for _, th := range eng.Add(&d) {
			last = th
		}
	}
	raw, _ := json.Marshal(last)
	if _, err := kv.Update(context.Background(), last.ID, raw, 0); err != nil {
		t.Fatal(err)
	}
	view.Put(last.ID, raw, 1)
	s := &Server{Index: ix, Threats: view, Tokens: tokens, MaxBody: 1 << 20}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, admin, viewer, view
}

func patch(t *testing.T, ts *httptest.Server, path, tok, body string) (int, string) {
	t.Helper()
	return call(t, ts, "PATCH", path, tok, body)
}

// GET /api/v1/threats and /threats/{id}: pinned by golden files; filters
// select; bad parameters are named. PATCH: admin only, fields checked,
// notes appended with their author.
func TestThreatsAPI(t *testing.T) {
	ts, admin, viewer, _ := threatServer(t)
	code, body := get(t, ts, "/api/v1/threats", viewer)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	testenv.Golden(t, "testdata/threats.golden.json", []byte(body))
	var list struct{ Threats []alert.Threat }
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Threats) != 1 {
		t.Fatalf("%v %s", err, body)
	}
	id := list.Threats[0].ID
	for q, want := range map[string]int{"status=open": 1, "status=resolved": 0, "severity=critical": 1, "host=web-1": 1, "host=h-1": 1,
		"host=h-2": 0, "rule=Crontab+modified": 1, "rule=nope": 0, "tactic=persistence": 1, "tactic=impact": 0, "since=2000-01-01T00:00:00Z": 1, "limit=1": 1} {
		_, body := get(t, ts, "/api/v1/threats?"+q, viewer)
		if n := strings.Count(body, `"schema":"vigil.threat/1"`); n != want {
			t.Errorf("%s: %d threats, want %d", q, n, want)
		}
	}
	for q, field := range map[string]string{"status=done": "status", "severity=urgent": "severity", "limit=0": "limit", "since=soon": "since", "colour=red": "colour"} {
		code, body := get(t, ts, "/api/v1/threats?"+q, viewer)
		if code != 400 || !strings.Contains(body, `"field":"`+field+`"`) {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
	code, body = get(t, ts, "/api/v1/threats/"+id, viewer)
	if code != 200 || strings.Count(body, `"schema":"vigil.detection/1"`) != 2 {
		t.Fatalf("detail: %d %s", code, body)
	}
	testenv.Golden(t, "testdata/threat.golden.json", []byte(body))
	if code, _ := get(t, ts, "/api/v1/threats/thr-nope", viewer); code != 404 {
		t.Errorf("unknown threat: %d", code)
	}
	if code, _ := patch(t, ts, "/api/v1/threats/"+id, viewer, `{"status":"resolved"}`); code != 403 {
		t.Errorf("viewer PATCH: %d", code)
	}
	for body, field := range map[string]string{`{"status":"done"}`: "status", `{"resolution":"oops"}`: "resolution", `{"colour":"red"}`: "colour", `{}`: "", `nope`: ""} {
		code, resp := patch(t, ts, "/api/v1/threats/"+id, admin, body)
		if code != 400 || (field != "" && !strings.Contains(resp, `"field":"`+field+`"`)) {
			t.Errorf("%s: %d %s", body, code, resp)
		}
	}
	code, body = patch(t, ts, "/api/v1/threats/"+id, admin, `{"status":"resolved","resolution":"security_test","note":"red team exercise"}`)
	var got alert.Threat
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Status != "resolved" || got.Resolution != "security_test" ||
		len(got.Notes) != 1 || got.Notes[0].Author != "admin.token" || got.Notes[0].Text != "red team exercise" {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	if _, body := get(t, ts, "/api/v1/threats?status=resolved", viewer); !strings.Contains(body, id) {
		t.Errorf("resolved threat not listed as such: %s", body)
	}
	if code, _ := patch(t, ts, "/api/v1/threats/thr-nope", admin, `{"status":"resolved"}`); code != 404 {
		t.Errorf("PATCH unknown: %d", code)
	}
}

func FuzzParseThreatQuery(f *testing.F) {
	for _, s := range []string{"status=open&severity=high&limit=5", "since=24h&host=web-1", "tactic=execution&rule=x", "limit=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, perr := ParseThreatQuery(v)
		if perr == nil && (q.Limit < 1 || q.Limit > MaxLimit) {
			t.Fatalf("limit %d accepted", q.Limit)
		}
		if perr != nil && perr.Error == "" {
			t.Fatal("an error without a message")
		}
	})
}
