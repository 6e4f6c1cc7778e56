package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/vigil-sec/vigil/internal/testenv"
	"github.com/vigil-sec/vigil/pkg/backend/fleet"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/rules"
	_ "github.com/vigil-sec/vigil/pkg/rules/host" // the runtime schema, as the backend registers it
)

// masked replaces what changes from run to run (tokens, ids, keys, the
// push time) so responses can be pinned by golden files.
func masked(s string) string {
	for re, with := range map[*regexp.Regexp]string{
		regexp.MustCompile(`vge_[A-Za-z0-9_-]{43}`):            "vge_TOKEN",
		regexp.MustCompile(`"(id|token_id)": ?"[0-9a-f]{12}"`): `"$1":"TOKENID"`,
		regexp.MustCompile(`U[A-Z2-7]{55}`):                    "UNKEY",
		regexp.MustCompile(`"pushed": ?"[^"]+"`):               `"pushed":"TIME"`,
	} {
		s = re.ReplaceAllString(s, with)
	}
	return s
}

func indent(t *testing.T, body string) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return append(b, '\n')
}

// Deployment tokens, enrollment, the inventory and rule bundles through
// the API: responses pinned by golden files; refusals say why and name
// the field.
func TestFleetAPI(t *testing.T) {
	tokens, admin := adminToken(t)
	viewer, _ := tokens.Create(context.Background(), RoleViewer, "v")
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	et := &fleet.Tokens{KV: store.NewMemKV(), Now: clock}
	hosts := &fleet.Hosts{KV: store.NewMemKV(), Tokens: et, Now: clock}
	bundles := store.NewMemKV()
	disconnected := ""
	srv := &Server{Tokens: tokens, Fleet: &Fleet{Tokens: et, Hosts: hosts, Bundles: bundles,
		Disconnect: func(id string) int { disconnected = id; return 1 },
		Check:      func(b *rules.Bundle) error { return b.Check(false, "") }}}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	code, body := call(t, ts, "POST", "/api/v1/enroll-tokens", admin, `{"env":"prod","ttl":"30d","max_uses":2,"name":"asg"}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var created struct{ Token, ID string }
	_ = json.Unmarshal([]byte(body), &created)
	testenv.Golden(t, "testdata/enroll-token.golden.json", []byte(masked(string(indent(t, body)))))
	for _, tc := range []struct{ tok, body, field string }{
		{viewer, `{"env":"prod"}`, ""},
		{admin, `{"env":"a.b"}`, "env"},
		{admin, `{"env":"prod","ttl":"10s"}`, "ttl"},
		{admin, `{"env":"prod","ttl":"soon"}`, "ttl"},
		{admin, `{"env":"prod","max_uses":-1}`, "max_uses"},
		{admin, `{"env":"prod","extra":1}`, ""},
	} {
		code, body := call(t, ts, "POST", "/api/v1/enroll-tokens", tc.tok, tc.body)
		var e apiError
		_ = json.Unmarshal([]byte(body), &e)
		if code/100 != 4 || e.Field != tc.field {
			t.Errorf("%s: %d %s, want 4xx on field %q", tc.body, code, body, tc.field)
		}
	}

	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	req, _ := json.Marshal(fleet.EnrollRequest{Token: created.Token, HostID: "h-1", NKey: pub, Hostname: "web-1", InstanceID: "i-0abc"})
	code, body = call(t, ts, "POST", "/api/v1/enroll", "", string(req))
	if code != 200 {
		t.Fatalf("enroll: %d %s", code, body)
	}
	testenv.Golden(t, "testdata/enroll.golden.json", []byte(masked(string(indent(t, body)))))
	code, body = get(t, ts, "/api/v1/hosts", viewer)
	if code != 200 {
		t.Fatalf("hosts: %d %s", code, body)
	}
	testenv.Golden(t, "testdata/hosts.golden.json", []byte(masked(string(indent(t, body)))))
	code, body = get(t, ts, "/api/v1/enroll-tokens", admin)
	if code != 200 || !strings.Contains(body, `"uses":1`) {
		t.Fatalf("tokens: %d %s", code, body)
	}
	testenv.Golden(t, "testdata/enroll-tokens.golden.json", []byte(masked(string(indent(t, body)))))
	if code, _ := get(t, ts, "/api/v1/enroll-tokens", viewer); code != 403 {
		t.Errorf("a viewer listed deployment tokens: %d", code)
	}

	// Revocations.
	if code, body := call(t, ts, "DELETE", "/api/v1/hosts/h-1", admin, ""); code != 200 || disconnected != "h-1" || !strings.Contains(body, `"disconnected":1`) {
		t.Errorf("revoke host: %d %s (%q)", code, body, disconnected)
	}
	if code, _ := call(t, ts, "DELETE", "/api/v1/hosts/nope", admin, ""); code != 404 {
		t.Errorf("revoke an unknown host: %d", code)
	}
	if code, body := call(t, ts, "DELETE", "/api/v1/enroll-tokens/abc", admin, ""); code != 400 || !strings.Contains(body, `"field":"id"`) {
		t.Errorf("short id: %d %s", code, body)
	}
	if code, body := call(t, ts, "DELETE", "/api/v1/enroll-tokens/"+created.ID, admin, ""); code != 200 || !strings.Contains(body, `"state":"revoked"`) {
		t.Errorf("revoke token: %d %s", code, body)
	}
	kp2, _ := nkeys.CreateUser()
	pub2, _ := kp2.PublicKey()
	req, _ = json.Marshal(fleet.EnrollRequest{Token: created.Token, HostID: "h-2", NKey: pub2})
	if code, body := call(t, ts, "POST", "/api/v1/enroll", "", string(req)); code != 403 || !strings.Contains(body, "was revoked") {
		t.Errorf("enroll with a revoked token: %d %s", code, body)
	}
	if code, _ := call(t, ts, "POST", "/api/v1/enroll", "", `{"token":`); code != 400 {
		t.Errorf("garbage: %d", code)
	}

	// Bundles: checked, stored for their env, listed.
	good, _ := rules.NewBundle("prod", []rules.BundleFile{{Name: "team.yaml", Content: "- rule: Team\n  desc: d\n  events: [exec]\n" +
		"  condition: exec.exe == \"/x\"\n  output: o\n  severity: low\n  mitre: {tactic: execution, technique: T1204}\n"}})
	raw, _ := json.Marshal(good)
	if code, body := call(t, ts, "POST", "/api/v1/rules/bundles", admin, string(raw)); code != 201 || !strings.Contains(body, good.Version) {
		t.Fatalf("push: %d %s", code, body)
	}
	stored, _, err := bundles.Get(context.Background(), "bundle.prod")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := rules.ParseBundle(stored); err != nil || b.By != "admin.token" || b.Version != good.Version {
		t.Errorf("stored bundle %+v %v", b, err)
	}
	code, body = get(t, ts, "/api/v1/rules/bundles", viewer)
	if code != 200 {
		t.Fatalf("bundles: %d %s", code, body)
	}
	testenv.Golden(t, "testdata/bundles.golden.json", []byte(masked(string(indent(t, body)))))
	bad, _ := rules.NewBundle("prod", []rules.BundleFile{{Name: "bad.yaml", Content: "- rule: Bad\n  desc: d\n  events: [exec]\n" +
		"  condition: exec.nope == 1\n  output: o\n  severity: low\n  mitre: {tactic: execution, technique: T1204}\n"}})
	raw, _ = json.Marshal(bad)
	if code, body := call(t, ts, "POST", "/api/v1/rules/bundles", admin, string(raw)); code != 422 || !strings.Contains(body, "bad.yaml:1") {
		t.Errorf("a broken bundle: %d %s", code, body)
	}
	if code, _ := call(t, ts, "POST", "/api/v1/rules/bundles", viewer, string(raw)); code != 403 {
		t.Errorf("a viewer pushed: %d", code)
	}
	if code, body := call(t, ts, "POST", "/api/v1/rules/bundles", admin, `{"schema":"x"}`); code != 400 || !strings.Contains(body, "bundle schema") {
		t.Errorf("a bad envelope: %d %s", code, body)
	}
	// A store that does not answer: 503, retry.
	bundles.Fail = errors.New("nats: timeout")
	if code, _ := call(t, ts, "POST", "/api/v1/rules/bundles", admin, string(mustJSON(good))); code != 503 {
		t.Errorf("store down: %d", code)
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }
