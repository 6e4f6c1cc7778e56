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
