package fleet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/wire"
)

func newFleet(t *testing.T) (*Hosts, *time.Time) {
	t.Helper()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	toks := &Tokens{KV: store.NewMemKV(), Now: clock}
	return &Hosts{KV: store.NewMemKV(), Tokens: toks, Now: clock}, &now
}

func userKey(t *testing.T) (nkeys.KeyPair, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return kp, pub
}

func refusal(err error) string {
	var ee *EnrollError
	if errors.As(err, &ee) {
		return ee.Msg
	}
	return ""
}

func TestTokensAndEnrollment(t *testing.T) {
	ctx := context.Background()
	h, now := newFleet(t)
	tok, rec, err := h.Tokens.Create(ctx, "prod", "asg", 24*time.Hour, 2)
	if err != nil || !strings.HasPrefix(tok, TokenPrefix) || rec.Env != "prod" || rec.State(*now) != "active" {
		t.Fatalf("create: %q %+v %v", tok, rec, err)
	}
	// Only the hash is stored.
	keys, _ := h.Tokens.KV.Keys(ctx)
	b, _, _ := h.Tokens.KV.Get(ctx, keys[0])
	if strings.Contains(string(b), tok) || strings.Contains(keys[0], tok) {
		t.Fatal("the token itself is stored")
	}
	_, k1 := userKey(t)
	_, k2 := userKey(t)
	_, k3 := userKey(t)
	resp, err := h.Enroll(ctx, EnrollRequest{Token: tok, HostID: "h1", NKey: k1, Hostname: "web-1"})
	if err != nil || resp.HostID != "h1" || resp.Env != "prod" || resp.InboxPrefix != "_INBOX.h1" || resp.Publish[0] != "vigil.prod.*.h1" {
		t.Fatalf("enroll: %+v %v", resp, err)
	}
	// The same host and key again (a lost reply): the same answer, no use.
	if _, err := h.Enroll(ctx, EnrollRequest{Token: tok, HostID: "h1", NKey: k1}); err != nil {
		t.Fatalf("re-enroll: %v", err)
	}
	// Another key for an enrolled host id is refused.
	if _, err := h.Enroll(ctx, EnrollRequest{Token: tok, HostID: "h1", NKey: k2}); !strings.Contains(refusal(err), "already enrolled with another key") {
		t.Fatalf("clone with the same host id: %v", err)
	}
	if _, err := h.Enroll(ctx, EnrollRequest{Token: tok, HostID: "h2", NKey: k2}); err != nil {
		t.Fatal(err)
	}
	// Two uses: the third host is refused.
	if _, err := h.Enroll(ctx, EnrollRequest{Token: tok, HostID: "h3", NKey: k3}); !strings.Contains(refusal(err), "max uses") {
		t.Fatalf("max uses: %v", err)
	}
	ts, _ := h.Tokens.List(ctx)
	if len(ts) != 1 || ts[0].Uses != 2 || ts[0].State(*now) != "used up" {
		t.Fatalf("list: %+v", ts)
	}
	// Expiry and revocation.
	tok2, rec2, _ := h.Tokens.Create(ctx, "prod", "", time.Hour, 0)
	*now = now.Add(2 * time.Hour)
	if _, err := h.Enroll(ctx, EnrollRequest{Token: tok2, HostID: "h3", NKey: k3}); !strings.Contains(refusal(err), "expired") {
		t.Fatalf("expired: %v", err)
	}
	tok3, rec3, _ := h.Tokens.Create(ctx, "staging", "", 0, 0)
	if _, err := h.Tokens.Revoke(ctx, rec3.ID[:8]); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Enroll(ctx, EnrollRequest{Token: tok3, HostID: "h3", NKey: k3}); !strings.Contains(refusal(err), "was revoked") {
		t.Fatalf("revoked: %v", err)
	}
	if _, err := h.Tokens.Revoke(ctx, "abc"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("short id: %v", err)
	}
	if _, err := h.Tokens.Revoke(ctx, "ffffffffffff"); !errors.Is(err, ErrNotFound) && rec2.ID != "ffffffffffff" {
		t.Fatalf("unknown id: %v", err)
	}
	// Bad requests name the field.
	for _, tc := range []struct {
		req  EnrollRequest
		want string
	}{
		{EnrollRequest{Token: "nope", HostID: "h9", NKey: k3}, "not a deployment token"},
		{EnrollRequest{Token: TokenPrefix + "x", HostID: "h9", NKey: k3}, "unknown deployment token"},
		{EnrollRequest{Token: tok, HostID: "a.b", NKey: k3}, "host_id"},
		{EnrollRequest{Token: tok, HostID: "enroll", NKey: k3}, "host_id"},
		{EnrollRequest{Token: tok, HostID: "h9", NKey: "SUABC"}, "nkey"},
	} {
		if _, err := h.Enroll(ctx, tc.req); !strings.Contains(refusal(err), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.req, err, tc.want)
		}
	}
	// A revoked host cannot enroll again.
	if _, err := h.Revoke(ctx, "h2"); err != nil {
		t.Fatal(err)
	}
	tok4, _, _ := h.Tokens.Create(ctx, "prod", "", 0, 0)
	if _, err := h.Enroll(ctx, EnrollRequest{Token: tok4, HostID: "h2", NKey: k2}); !strings.Contains(refusal(err), "revoked") {
		t.Fatalf("revoked host re-enrolls: %v", err)
	}
	if _, err := h.Enroll(ctx, EnrollRequest{Token: tok, HostID: "h7", NKey: k3, Env: "staging"}); !strings.Contains(refusal(err), `enrolls into env "prod"`) {
		t.Fatalf("token of another env: %v", err)
	}
	// The same host (its key) moves to another environment with a token of
	// that environment; another host's key cannot.
	stag, _, _ := h.Tokens.Create(ctx, "staging", "", 0, 0)
	if r, err := h.Enroll(ctx, EnrollRequest{Token: stag, HostID: "h1", NKey: k1}); err != nil || r.Env != "staging" || r.Publish[0] != "vigil.staging.*.h1" {
		t.Fatalf("move h1 to staging: %+v %v", r, err)
	}
	if hh, err := h.ByKey(ctx, k1); err != nil || hh.Env != "staging" {
		t.Fatalf("h1 after the move: %+v %v", hh, err)
	}
	if _, err := h.Enroll(ctx, EnrollRequest{Token: stag, HostID: "h1", NKey: k3}); !strings.Contains(refusal(err), "another key") {
		t.Fatalf("another key moved h1: %v", err)
	}
	hs, _ := h.List(ctx)
	if len(hs) != 2 || hs[0].ID != "h1" || hs[0].Hostname != "web-1" || hs[1].Revoked == nil || hs[0].TokenID == rec.ID || hs[0].Env != "staging" {
		t.Fatalf("hosts %+v", hs)
	}
}

// request builds the auth request nats-server sends for a client that
// presents kp (signing nonce) and user.
func request(t *testing.T, kp nkeys.KeyPair, user string, badSig bool) (string, string) {
	t.Helper()
	srvKP, _ := nkeys.CreateServer()
	srvPub, _ := srvKP.PublicKey()
	tmp, _ := nkeys.CreateUser()
	tmpPub, _ := tmp.PublicKey()
	rc := jwt.NewAuthorizationRequestClaims(srvPub)
	rc.Audience = "nats-authorization-request"
	rc.UserNkey = tmpPub
	rc.Server = jwt.ServerID{Name: "s", ID: srvPub}
	rc.ClientInformation.Nonce = "nonce-123"
	rc.ConnectOptions.Username = user
	if kp != nil {
		pub, _ := kp.PublicKey()
		sig, _ := kp.Sign([]byte("nonce-123"))
		if badSig {
			sig, _ = kp.Sign([]byte("other"))
		}
		rc.ConnectOptions.Nkey = pub
		rc.ConnectOptions.SignedNonce = base64.RawURLEncoding.EncodeToString(sig)
	}
	s, err := rc.Encode(srvKP)
	if err != nil {
		t.Fatal(err)
	}
	return s, tmpPub
}

func TestCallout(t *testing.T) {
	ctx := context.Background()
	h, _ := newFleet(t)
	issuer, _ := nkeys.CreateAccount()
	issuerPub, _ := issuer.PublicKey()
	c := &Callout{Issuer: issuer, Hosts: h, TTL: time.Hour, Log: zap.NewNop()}
	tok, _, _ := h.Tokens.Create(ctx, "prod", "", 0, 0)
	hostKP, hostPub := userKey(t)
	if _, err := h.Enroll(ctx, EnrollRequest{Token: tok, HostID: "h1", NKey: hostPub}); err != nil {
		t.Fatal(err)
	}
	strangerKP, _ := userKey(t)
	answer := func(kp nkeys.KeyPair, user string, badSig bool) (*jwt.UserClaims, string) {
		t.Helper()
		req, want := request(t, kp, user, badSig)
		out := c.Handle(ctx, []byte(req))
		resp, err := jwt.DecodeAuthorizationResponseClaims(string(out))
		if err != nil {
			t.Fatalf("response: %v", err)
		}
		if resp.Issuer != issuerPub || resp.Subject != want {
			t.Fatalf("response issuer %s subject %s", resp.Issuer, resp.Subject)
		}
		if resp.Error != "" {
			return nil, resp.Error
		}
		uc, err := jwt.DecodeUserClaims(resp.Jwt)
		if err != nil || uc.Issuer != issuerPub || uc.Subject != want || uc.Audience != "$G" {
			t.Fatalf("user jwt %+v %v", uc, err)
		}
		return uc, ""
	}
	uc, e := answer(hostKP, "", false)
	if e != "" || uc.Name != "vigil-host:h1" || !uc.Pub.Allow.Contains("vigil.prod.*.h1") || uc.Pub.Allow.Contains(wire.EnrollSubject) ||
		!uc.Sub.Allow.Contains("_INBOX.h1.>") || len(uc.Sub.Allow) != 1 || uc.Expires == 0 {
		t.Fatalf("enrolled host: %+v %q", uc, e)
	}
	if _, e := answer(hostKP, "", true); !strings.Contains(e, "signature") {
		t.Errorf("forged signature: %q", e)
	}
	if _, e := answer(strangerKP, "", false); !strings.Contains(e, "not enrolled") {
		t.Errorf("stranger: %q", e)
	}
	if _, e := answer(nil, wire.EnrollUser, false); !strings.Contains(e, "no NKey") {
		t.Errorf("no key: %q", e)
	}
	spub, _ := strangerKP.PublicKey()
	uc, e = answer(strangerKP, wire.EnrollUser, false)
	if e != "" || len(uc.Pub.Allow) != 1 || uc.Pub.Allow[0] != wire.EnrollSubject || uc.Sub.Allow[0] != "_INBOX.enroll."+spub+".>" {
		t.Fatalf("enrolling: %+v %q", uc, e)
	}
	if _, err := h.Revoke(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, e := answer(hostKP, "", false); !strings.Contains(e, "revoked") {
		t.Errorf("revoked host: %q", e)
	}
	if c.Allowed.Load() != 1 || c.Enrolling.Load() != 1 || c.Refused.Load() != 4 {
		t.Errorf("counters %d %d %d", c.Allowed.Load(), c.Enrolling.Load(), c.Refused.Load())
	}
	if c.Handle(ctx, []byte("garbage")) != nil {
		t.Error("an unreadable request was answered")
	}
}

func TestEnrollService(t *testing.T) {
	ctx := context.Background()
	h, _ := newFleet(t)
	tok, _, _ := h.Tokens.Create(ctx, "prod", "", 0, 0)
	_, pub := userKey(t)
	svc := h.Service(zap.NewNop())
	var resp EnrollResponse
	b, _ := json.Marshal(EnrollRequest{Token: tok, HostID: "h1", NKey: pub})
	if err := json.Unmarshal(svc(ctx, b), &resp); err != nil || resp.Error != "" || resp.HostID != "h1" {
		t.Fatalf("%+v %v", resp, err)
	}
	_ = json.Unmarshal(svc(ctx, []byte("{")), &resp)
	if !strings.Contains(resp.Error, "unreadable") {
		t.Errorf("garbage: %+v", resp)
	}
}

// Untrusted input: enrollment requests and auth requests (the server's,
// but a forged one must not authorize anything).
func FuzzEnrollAndCallout(f *testing.F) {
	f.Add([]byte(`{"token":"vge_x","host_id":"h1","nkey":"UABC"}`))
	f.Add([]byte(`eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.x`))
	h, _ := newFleet(&testing.T{})
	issuer, _ := nkeys.CreateAccount()
	c := &Callout{Issuer: issuer, Hosts: h, Log: zap.NewNop()}
	svc := h.Service(zap.NewNop())
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp EnrollResponse
		if err := json.Unmarshal(svc(context.Background(), data), &resp); err != nil {
			t.Fatalf("enrollment answer unreadable: %v", err)
		}
		if resp.Error == "" {
			t.Fatalf("enrolled from %q", data)
		}
		if out := c.Handle(context.Background(), data); out != nil {
			r, err := jwt.DecodeAuthorizationResponseClaims(string(out))
			if err != nil || r.Jwt != "" {
				t.Fatalf("authorized a forged request %q", data)
			}
		}
	})
}
