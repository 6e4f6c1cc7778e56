package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend/index"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/backend/threat"
)

// Browser logins: a token or a user's password opens a session (an
// HttpOnly, SameSite=Strict cookie); reads need only the cookie, changes
// also its CSRF token; a viewer cannot triage; logout ends the session;
// wrong credentials are refused with a JSON error; the UI's pages carry a
// strict CSP.
func TestSessions(t *testing.T) {
	tokens, admin := adminToken(t)
	ctx := context.Background()
	viewer, err := tokens.Create(ctx, RoleViewer, "grafana")
	if err != nil {
		t.Fatal(err)
	}
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	kv := store.NewMemKV()
	view := threat.NewView(kv)
	th := alert.Threat{Schema: alert.ThreatSchema, ID: "thr-1", Status: alert.StatusOpen, Severity: alert.High, Title: "t"}
	b, _ := json.Marshal(th)
	_ = kv.Put(ctx, th.ID, b)
	view.Put(th.ID, b, 1)
	s := &Server{Index: index.New(10), Threats: view, Tokens: tokens, MaxBody: 1 << 20,
		Sessions: &Sessions{KV: store.NewMemKV(), TTL: time.Hour},
		Users:    NewUsers([]User{{Name: "alice", Role: RoleAdmin, Hash: hash}, {Name: "bob", Role: RoleViewer, Hash: hash}}),
		UI: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Security-Policy", "x")
			w.Write([]byte("page"))
		})}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar}
	}
	do := func(c *http.Client, method, path, body string, hdr map[string]string) (int, string, *http.Response) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw), resp
	}
	login := func(c *http.Client, body string) (int, sessionInfo, *http.Response) {
		t.Helper()
		code, raw, resp := do(c, "POST", "/api/v1/session", body, nil)
		var si sessionInfo
		_ = json.Unmarshal([]byte(raw), &si)
		return code, si, resp
	}

	for name, body := range map[string]string{
		"wrong password": `{"user":"alice","password":"nope"}`, "unknown user": `{"user":"eve","password":"correct horse battery"}`,
		"bad token": `{"token":"vgl_nope"}`,
	} {
		if code, _, _ := login(browser(), body); code != http.StatusUnauthorized {
			t.Errorf("%s: %d", name, code)
		}
	}
	if code, raw, _ := do(browser(), "POST", "/api/v1/session", "{", nil); code != http.StatusBadRequest || !strings.Contains(raw, `"error"`) {
		t.Errorf("bad body: %d %s", code, raw)
	}

	// A user's password.
	c := browser()
	code, si, resp := login(c, `{"user":"alice","password":"correct horse battery"}`)
	if code != 200 || si.Role != RoleAdmin || si.CSRF == "" {
		t.Fatalf("login %d %+v", code, si)
	}
	ck := resp.Cookies()[0]
	if ck.Name != SessionCookie || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge != 3600 {
		t.Errorf("cookie %+v", ck)
	}
	if code, raw, _ := do(c, "GET", "/api/v1/threats", "", nil); code != 200 || !strings.Contains(raw, "thr-1") {
		t.Errorf("read with the cookie: %d %s", code, raw)
	}
	patch := `{"status":"in_progress","note":"mine"}`
	if code, raw, _ := do(c, "PATCH", "/api/v1/threats/thr-1", patch, nil); code != http.StatusForbidden || !strings.Contains(raw, "CSRF") {
		t.Errorf("a change without the CSRF token: %d %s", code, raw)
	}
	if code, _, _ := do(c, "PATCH", "/api/v1/threats/thr-1", patch, map[string]string{CSRFHeader: "vgl_wrong"}); code != http.StatusForbidden {
		t.Errorf("a wrong CSRF token: %d", code)
	}
	if code, raw, _ := do(c, "PATCH", "/api/v1/threats/thr-1", patch, map[string]string{CSRFHeader: si.CSRF}); code != 200 || !strings.Contains(raw, "alice") {
		t.Errorf("a change with the CSRF token: %d %s", code, raw)
	}
	// A viewer's session reads, cannot triage.
	v := browser()
	if code, vs, _ := login(v, `{"token":"`+viewer+`"}`); code != 200 || vs.Role != RoleViewer {
		t.Fatalf("viewer login %d", code)
	} else if code, _, _ := do(v, "PATCH", "/api/v1/threats/thr-1", patch, map[string]string{CSRFHeader: vs.CSRF}); code != http.StatusForbidden {
		t.Errorf("a viewer triaged: %d", code)
	}
	// The admin token logs in too; logout ends the session.
	a := browser()
	if code, _, _ := login(a, `{"token":"`+admin+`"}`); code != 200 {
		t.Fatalf("admin token login %d", code)
	}
	if code, _, _ := do(a, "DELETE", "/api/v1/session", "", nil); code != http.StatusNoContent {
		t.Errorf("logout %d", code)
	}
	if code, _, _ := do(a, "GET", "/api/v1/threats", "", nil); code != http.StatusUnauthorized {
		t.Errorf("after logout: %d", code)
	}
	if code, _, _ := do(browser(), "GET", "/api/v1/session", "", nil); code != http.StatusUnauthorized {
		t.Errorf("no session: %d", code)
	}
	// The UI's page; unknown API paths stay JSON errors.
	if code, raw, resp := do(browser(), "GET", "/", "", nil); code != 200 || raw != "page" || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("page %d %q", code, raw)
	}
	if code, raw, _ := do(browser(), "GET", "/api/v2/x", "", nil); code != 404 || !strings.Contains(raw, "no such endpoint") {
		t.Errorf("unknown endpoint %d %s", code, raw)
	}
}

// The threat stream: a stored threat is announced to the connected
// readers at once (server-sent events); closing the streams ends them.
func TestThreatEvents(t *testing.T) {
	tokens, admin := adminToken(t)
	view := threat.NewView(store.NewMemKV())
	s := &Server{Index: index.New(10), Threats: view, Tokens: tokens}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/threats/events", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		var acc string
		for {
			n, err := resp.Body.Read(buf)
			acc += string(buf[:n])
			for {
				i := strings.Index(acc, "\n\n")
				if i < 0 {
					break
				}
				lines <- acc[:i]
				acc = acc[i+2:]
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	if first := <-lines; first != "retry: 3000" {
		t.Fatalf("first %q", first)
	}
	b, _ := json.Marshal(alert.Threat{Schema: alert.ThreatSchema, ID: "thr-9", Status: alert.StatusOpen})
	view.Put("thr-9", b, 1)
	select {
	case ev := <-lines:
		if ev != "event: threat\ndata: {\"id\":\"thr-9\"}" {
			t.Errorf("event %q", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	s.CloseStreams()
	select {
	case _, ok := <-lines:
		if ok {
			t.Error("more after the close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end")
	}
	// Without credentials: refused.
	if code, _ := get(t, ts, "/api/v1/threats/events", ""); code != http.StatusUnauthorized {
		t.Errorf("anonymous stream: %d", code)
	}
}

// GET /api/v1/rules: every rule with its hits of the last 24 hours, most
// hit first.
func TestRulesAPI(t *testing.T) {
	ts, admin := server(t) // no rules at all
	ix := index.New(10)
	now := time.Now().UTC()
	for i, rule := range []string{"B", "B", "A"} {
		b, _ := json.Marshal(alert.Detection{Schema: alert.DetectionSchema, ID: "d" + string(rune('0'+i)), Rule: rule, Time: now})
		ix.Add(b)
	}
	old, _ := json.Marshal(alert.Detection{Schema: alert.DetectionSchema, ID: "old", Rule: "A", Time: now.Add(-25 * time.Hour)})
	ix.Add(old)
	tk, tok := adminToken(t)
	s := &Server{Index: ix, Tokens: tk, Rules: []RuleInfo{{Name: "A", Source: "runtime", Enabled: true}, {Name: "B", Source: "cloudtrail"}, {Name: "C"}}}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	code, body := get(t, srv, "/api/v1/rules", tok)
	var out struct{ Rules []RuleInfo }
	if err := json.Unmarshal([]byte(body), &out); err != nil || code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if len(out.Rules) != 3 || out.Rules[0].Name != "B" || out.Rules[0].Hits24h != 2 || out.Rules[1].Name != "A" || out.Rules[1].Hits24h != 1 ||
		out.Rules[2].Hits24h != 0 {
		t.Errorf("%+v", out.Rules)
	}
	if code, _ := get(t, srv, "/api/v1/rules?x=1", tok); code != http.StatusBadRequest {
		t.Errorf("unknown parameter: %d", code)
	}
	if code, _ := get(t, ts, "/api/v1/rules", admin); code != 200 {
		t.Errorf("no rules: %d", code)
	}
}

// A detection by id, and detections naming an entity (the UI's detection
// and entity pages).
func TestDetectionByIDAndEntity(t *testing.T) {
	ix := index.New(10)
	for i, host := range []string{"h-1", "h-2", "h-1"} {
		b, _ := json.Marshal(alert.Detection{Schema: alert.DetectionSchema, ID: "d" + string(rune('0'+i)), Rule: "R", Time: time.Now().UTC(),
			Resources: []alert.Entity{{Kind: alert.KindHost, ID: host, Name: "web-" + host}}})
		ix.Add(b)
	}
	tk, tok := adminToken(t)
	srv := httptest.NewServer((&Server{Index: ix, Tokens: tk}).Handler())
	defer srv.Close()
	if code, body := get(t, srv, "/api/v1/detections/d1", tok); code != 200 || !strings.Contains(body, `"h-2"`) {
		t.Errorf("by id: %d %s", code, body)
	}
	if code, body := get(t, srv, "/api/v1/detections/nope", tok); code != 404 || !strings.Contains(body, `"field":"id"`) {
		t.Errorf("unknown id: %d %s", code, body)
	}
	for q, want := range map[string]int{"host:h-1": 2, "host:web-h-2": 1, "ip:h-1": 0} {
		code, body := get(t, srv, "/api/v1/detections?entity="+q, tok)
		var out struct{ Detections []json.RawMessage }
		_ = json.Unmarshal([]byte(body), &out)
		if code != 200 || len(out.Detections) != want {
			t.Errorf("entity %s: %d, %d detections, want %d", q, code, len(out.Detections), want)
		}
	}
	if code, body := get(t, srv, "/api/v1/detections?entity=h-1", tok); code != 400 || !strings.Contains(body, `"field":"entity"`) {
		t.Errorf("bad entity: %d %s", code, body)
	}
}
