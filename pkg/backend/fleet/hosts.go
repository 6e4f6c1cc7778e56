package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// Host is an enrolled host in the inventory.
type Host struct {
	ID         string     `json:"host_id"`
	Env        string     `json:"env"`
	NKey       string     `json:"nkey"`
	Hostname   string     `json:"hostname,omitempty"`
	InstanceID string     `json:"instance_id,omitempty"`
	Version    string     `json:"agent_version,omitempty"`
	TokenID    string     `json:"token_id"`
	Enrolled   time.Time  `json:"enrolled"`
	Revoked    *time.Time `json:"revoked,omitempty"`
}

// EnrollRequest and EnrollResponse are the enrollment's wire schema.
type (
	EnrollRequest  = wire.EnrollRequest
	EnrollResponse = wire.EnrollResponse
)

var tokenRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidToken checks that s can be one subject token (env, host id).
func ValidToken(s string) error {
	if !tokenRe.MatchString(s) {
		return fmt.Errorf("%q: 1 to 64 letters, digits, '-' or '_'", s)
	}
	return nil
}

// Hosts is the inventory: host.<id> holds the record, nkey.<key> the id.
type Hosts struct {
	KV     KV
	Tokens *Tokens
	Now    func() time.Time
}

func (h *Hosts) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// Permissions are what an enrolled host may publish and subscribe to.
func Permissions(env, hostID string) (pub, sub []string) {
	pub = append(wire.HostPermissions(env, hostID), wire.RulesReadPermissions(env)...)
	pub = append(pub, "$JS.API.STREAM.INFO."+wire.DefaultAgentStream)
	return pub, []string{wire.HostInbox(hostID) + ".>"}
}

// Enroll checks the token and records the host. Enrolling again with the
// same host id and key answers the same (a lost reply) without using the
// token again; another key for an enrolled host id is refused.
func (h *Hosts) Enroll(ctx context.Context, req EnrollRequest) (EnrollResponse, error) {
	if err := ValidToken(req.HostID); err != nil || req.HostID == "enroll" {
		return EnrollResponse{}, refuse("host_id %q: 1 to 64 letters, digits, '-' or '_'", req.HostID)
	}
	if !nkeys.IsValidPublicUserKey(req.NKey) {
		return EnrollResponse{}, refuse("nkey: not an NKey user public key")
	}
	tok, err := h.Tokens.lookup(ctx, req.Token)
	if err != nil {
		return EnrollResponse{}, err
	}
	ok := func(env string) EnrollResponse {
		pub, _ := Permissions(env, req.HostID)
		return EnrollResponse{HostID: req.HostID, Env: env, InboxPrefix: wire.HostInbox(req.HostID), Publish: pub}
	}
	if req.Env != "" && req.Env != tok.Env {
		return EnrollResponse{}, refuse("deployment token %s enrolls into env %q, the agent is configured for %q: use a token of its environment", tok.ID, tok.Env, req.Env)
	}
	hostKey := "host." + req.HostID
	prev, prevRev, err := h.get(ctx, req.HostID)
	sameKey := err == nil && prev.Revoked == nil && prev.NKey == req.NKey
	if sameKey && prev.Env == tok.Env {
		return ok(prev.Env), nil // enrolled already (the reply was lost)
	}
	// The token's state first: it is what the operator changed.
	if err := tok.usable(h.now()); err != nil {
		return EnrollResponse{}, err
	}
	switch {
	case err != nil && !errors.Is(err, ErrNotFound):
		return EnrollResponse{}, err
	case err == nil && prev.Revoked != nil:
		return EnrollResponse{}, refuse("host %s was revoked at %s: it cannot enroll again", req.HostID, prev.Revoked.Format(time.RFC3339))
	case err == nil && !sameKey:
		return EnrollResponse{}, refuse("host %s is already enrolled with another key: a machine cloned after enrolling keeps its host id only when "+
			"its /etc/machine-id was copied too (clear it in images), or revoke the old host first", req.HostID)
	}
	if tok, err = h.Tokens.use(ctx, req.Token); err != nil {
		return EnrollResponse{}, err
	}
	rec := Host{ID: req.HostID, Env: tok.Env, NKey: req.NKey, Hostname: req.Hostname, InstanceID: req.InstanceID,
		Version: req.Version, TokenID: tok.ID, Enrolled: h.now()}
	rev := uint64(0) // a new host
	if sameKey {
		// The same host (its key) moved to another environment with a
		// token of that environment: its record, so its credential, follows.
		rec.Hostname, rec.InstanceID = cmp.Or(rec.Hostname, prev.Hostname), cmp.Or(rec.InstanceID, prev.InstanceID)
		rev = prevRev
	} else if err := h.KV.Put(ctx, "nkey."+req.NKey, []byte(req.HostID)); err != nil {
		return EnrollResponse{}, err
	}
	v, _ := json.Marshal(rec)
	if _, err := h.KV.Update(ctx, hostKey, v, rev); errors.Is(err, store.ErrConflict) {
		// Changed meanwhile: the same request twice at once, a clone, or
		// the operator.
		cur, _, err := h.get(ctx, req.HostID)
		switch {
		case err != nil || cur.NKey != req.NKey:
			return EnrollResponse{}, refuse("host %s is already enrolled with another key", req.HostID)
		case cur.Revoked == nil && cur.Env == tok.Env:
			return ok(cur.Env), nil
		}
		return EnrollResponse{}, errors.New("host record changed meanwhile: retry")
	} else if err != nil {
		return EnrollResponse{}, err
	}
	return ok(tok.Env), nil
}

func (h *Hosts) get(ctx context.Context, id string) (Host, uint64, error) {
	var rec Host
	b, rev, err := h.KV.Get(ctx, "host."+id)
	if errors.Is(err, store.ErrNotFound) {
		return rec, 0, fmt.Errorf("%w: host %s", ErrNotFound, id)
	}
	if err != nil {
		return rec, 0, err
	}
	return rec, rev, json.Unmarshal(b, &rec)
}

// ByKey returns the host enrolled with the public key.
func (h *Hosts) ByKey(ctx context.Context, nkey string) (Host, error) {
	b, _, err := h.KV.Get(ctx, "nkey."+nkey)
	if errors.Is(err, store.ErrNotFound) {
		return Host{}, fmt.Errorf("%w: key %s", ErrNotFound, nkey)
	}
	if err != nil {
		return Host{}, err
	}
	rec, _, err := h.get(ctx, string(b))
	if err == nil && rec.NKey != nkey {
		return Host{}, fmt.Errorf("%w: key %s (host %s has another)", ErrNotFound, nkey, rec.ID)
	}
	return rec, err
}

// List returns the enrolled hosts, by id.
func (h *Hosts) List(ctx context.Context) ([]Host, error) {
	keys, err := h.KV.Keys(ctx)
	if err != nil {
		return nil, err
	}
	var out []Host
	for _, k := range keys {
		id, ok := strings.CutPrefix(k, "host.")
		if !ok {
			continue
		}
		if rec, _, err := h.get(ctx, id); err == nil {
			out = append(out, rec)
		}
	}
	return out, nil
}

// Revoke refuses the host's credential from now on (the caller disconnects
// it where it can).
func (h *Hosts) Revoke(ctx context.Context, id string) (Host, error) {
	for range 20 {
		rec, rev, err := h.get(ctx, id)
		if err != nil {
			return rec, err
		}
		if rec.Revoked != nil {
			return rec, nil
		}
		now := h.now()
		rec.Revoked = &now
		v, _ := json.Marshal(rec)
		if _, err := h.KV.Update(ctx, "host."+id, v, rev); errors.Is(err, store.ErrConflict) {
			continue
		} else if err != nil {
			return rec, err
		}
		return rec, nil
	}
	return Host{}, errors.New("host record: too many concurrent changes")
}

func sortTokens(ts []Token) {
	sort.Slice(ts, func(i, j int) bool {
		if !ts[i].Created.Equal(ts[j].Created) {
			return ts[i].Created.Before(ts[j].Created)
		}
		return ts[i].ID < ts[j].ID
	})
}
