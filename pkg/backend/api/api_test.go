package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/testenv"
	"github.com/vigil-sec/vigil/pkg/backend/index"
	"github.com/vigil-sec/vigil/pkg/backend/store"
)

// adminToken makes the token store and its first admin token, as a first
// start does (and a second start makes no other).
func adminToken(t *testing.T) (*Tokens, string) {
	t.Helper()
	tokens := NewTokens(store.NewMemKV())
	path := filepath.Join(t.TempDir(), "admin.token")
	if created, err := tokens.EnsureAdmin(context.Background(), path); err != nil || !created {
		t.Fatal(err)
	}
	if created, err := tokens.EnsureAdmin(context.Background(), path); err != nil || created {
		t.Fatal("a second start made another admin token")
	}
	b, _ := os.ReadFile(path)
	return tokens, strings.TrimSpace(string(b))
}

func server(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	tokens, admin := adminToken(t)
	ix := index.New(10)
	for _, f := range []string{"detection-cloudtrail", "detection-k8saudit", "detection-vpcflow"} {
		d, err := os.ReadFile("../../rules/cloud/testdata/" + f + ".golden.json")
		if err != nil {
			t.Fatal(err)
		}
		ix.Add(d)
		ix.Add(d) // a duplicate is indexed once
	}
	s := &Server{Index: ix, Tokens: tokens, MaxBody: 1 << 20}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, admin
}

func get(t *testing.T, ts *httptest.Server, path, tok string) (int, string) {
	t.Helper()
	return call(t, ts, "GET", path, tok, "")
}

// call makes a request with a bearer token (none when tok is empty).
func call(t *testing.T, ts *httptest.Server, method, path, tok, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// GET /api/v1/detections: the response is pinned by a golden file;
// filters select; bad parameters are named.
func TestDetectionsAPI(t *testing.T) {
	ts, tok := server(t)
	code, body := get(t, ts, "/api/v1/detections", tok)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	testenv.Golden(t, "testdata/detections.golden.json", []byte(body))
	for q, want := range map[string]int{"source=k8saudit": 1, "severity=high": 2, "severity=critical": 0, "limit=1": 1,
		"until=2000-01-01T00:00:00Z": 0, "since=2000-01-01T00:00:00Z": 3, "rule=Traffic+to+a+mining+pool+port": 1} {
		_, body := get(t, ts, "/api/v1/detections?"+q, tok)
		if n := strings.Count(body, `"schema":"vigil.detection/1"`); n != want {
			t.Errorf("%s: %d detections, want %d", q, n, want)
		}
	}
	for q, field := range map[string]string{"severity=urgent": "severity", "source=s3": "source", "limit=-1": "limit",
		"since=yesterday": "since", "colour=red": "colour"} {
		code, body := get(t, ts, "/api/v1/detections?"+q, tok)
		if code != 400 || !strings.Contains(body, `"field":"`+field+`"`) {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
	if code, _ := get(t, ts, "/api/v1/detections", ""); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, _ := get(t, ts, "/api/v1/nope", tok); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"source=cloudtrail&severity=high&limit=5", "since=24h&until=2026-01-01T00:00:00Z", "since=7d", "limit=99999999999999999999", "rule=%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, perr := ParseQuery(v)
		if perr == nil && (q.Limit < 1 || q.Limit > MaxLimit) {
			t.Fatalf("limit %d accepted", q.Limit)
		}
		if perr != nil && perr.Error == "" {
			t.Fatal("an error without a message")
		}
	})
}

// downKV fails every read, as a NATS cluster electing a leader does.
type downKV struct {
	*store.MemKV
	down bool
}

func (k *downKV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	if k.down {
		return nil, 0, context.DeadlineExceeded
	}
	return k.MemKV.Get(ctx, key)
}

// A token checked once keeps working for a minute while the token store
// does not answer; an unchecked one gets 503 (retry), not 401; an unknown
// token is still refused; after the minute the store is asked again.
func TestTokensWhileTheStoreIsDown(t *testing.T) {
	kv := &downKV{MemKV: store.NewMemKV()}
	tokens := NewTokens(kv)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	tokens.Now = func() time.Time { return now }
	ctx := context.Background()
	a, _ := tokens.Create(ctx, RoleAdmin, "a")
	b, _ := tokens.Create(ctx, RoleViewer, "b")
	if _, err := tokens.Check(ctx, a); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer((&Server{Index: index.New(10), Tokens: tokens, MaxBody: 1 << 20}).Handler())
	defer ts.Close()
	kv.down = true
	if code, body := get(t, ts, "/api/v1/detections", a); code != 200 {
		t.Errorf("checked token while down: %d %s", code, body)
	}
	if code, body := get(t, ts, "/api/v1/detections", b); code != http.StatusServiceUnavailable || !strings.Contains(body, "retry") {
		t.Errorf("unchecked token while down: %d %s", code, body)
	}
	now = now.Add(TokenCacheTTL + time.Second)
	if code, _ := get(t, ts, "/api/v1/detections", a); code != http.StatusServiceUnavailable {
		t.Errorf("after the minute, while down: %d", code)
	}
	kv.down = false
	if code, _ := get(t, ts, "/api/v1/detections", "vgl_unknown"); code != http.StatusUnauthorized {
		t.Errorf("unknown token: %d", code)
	}
	if code, _ := get(t, ts, "/api/v1/detections", b); code != 200 {
		t.Errorf("store back: %d", code)
	}
}
