package fleet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/pkg/backend/store"
)

// KV is a bucket (store.KV; store.MemKV in tests).
type KV interface {
	Get(ctx context.Context, key string) ([]byte, uint64, error)
	Put(ctx context.Context, key string, v []byte) error
	Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error)
	Keys(ctx context.Context) ([]string, error)
}

// TokenPrefix starts every deployment token.
const TokenPrefix = "vge_"

// Token is what is stored of a deployment token: never the token itself.
type Token struct {
	// ID names the token in lists and revocation (the start of its hash).
	ID       string     `json:"id"`
	Env      string     `json:"env"`
	Name     string     `json:"name,omitempty"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires,omitempty"`
	MaxUses  int        `json:"max_uses,omitempty"` // 0: unlimited
	Uses     int        `json:"uses"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	Revoked  *time.Time `json:"revoked,omitempty"`
}

// State says whether the token still enrolls: "active", "revoked",
// "expired" or "used up".
func (t Token) State(now time.Time) string {
	switch {
	case t.Revoked != nil:
		return "revoked"
	case t.Expires != nil && !now.Before(*t.Expires):
		return "expired"
	case t.MaxUses > 0 && t.Uses >= t.MaxUses:
		return "used up"
	}
	return "active"
}

// usable refuses a token that no longer enrolls, saying why.
func (t Token) usable(now time.Time) error {
	switch t.State(now) {
	case "active":
		return nil
	case "revoked":
		return refuse("deployment token %s was revoked at %s", t.ID, t.Revoked.Format(time.RFC3339))
	case "expired":
		return refuse("deployment token %s expired at %s", t.ID, t.Expires.Format(time.RFC3339))
	}
	return refuse("deployment token %s has enrolled its %d hosts (max uses)", t.ID, t.MaxUses)
}

// Tokens keeps deployment tokens in a bucket, keyed by their SHA-256 (the
// tokens are 256-bit random: a fast hash is enough).
type Tokens struct {
	KV  KV
	Now func() time.Time
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now().UTC()
	}
	return time.Now().UTC()
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// Create makes a token for env, valid for ttl (0: no expiry) and maxUses
// enrollments (0: unlimited), and returns it with its record.
func (t *Tokens) Create(ctx context.Context, env, name string, ttl time.Duration, maxUses int) (string, Token, error) {
	var rec Token
	if err := ValidToken(env); err != nil {
		return "", rec, fmt.Errorf("env: %w", err)
	}
	if ttl < 0 || maxUses < 0 {
		return "", rec, errors.New("ttl and max_uses must not be negative")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", rec, err
	}
	tok := TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	key := hashToken(tok)
	now := t.now()
	rec = Token{ID: key[:12], Env: env, Name: name, Created: now, MaxUses: maxUses}
	if ttl > 0 {
		exp := now.Add(ttl)
		rec.Expires = &exp
	}
	v, _ := json.Marshal(rec)
	if _, err := t.KV.Update(ctx, key, v, 0); err != nil {
		return "", rec, err
	}
	return tok, rec, nil
}

// List returns every token, oldest first.
func (t *Tokens) List(ctx context.Context) ([]Token, error) {
	keys, err := t.KV.Keys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Token, 0, len(keys))
	for _, k := range keys {
		b, _, err := t.KV.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var rec Token
		if json.Unmarshal(b, &rec) == nil {
			out = append(out, rec)
		}
	}
	sortTokens(out)
	return out, nil
}

// Revoke stops the token of id (or a unique start of it) from enrolling
// anything new; hosts it enrolled keep their credentials.
func (t *Tokens) Revoke(ctx context.Context, id string) (Token, error) {
	if len(id) < 6 {
		return Token{}, fmt.Errorf("%w: give at least 6 characters of the token's id", ErrBadRequest)
	}
	keys, err := t.KV.Keys(ctx)
	if err != nil {
		return Token{}, err
	}
	var match string
	for _, k := range keys {
		if strings.HasPrefix(k, id) {
			if match != "" {
				return Token{}, fmt.Errorf("%w: token id %q is ambiguous", ErrBadRequest, id)
			}
			match = k
		}
	}
	if match == "" {
		return Token{}, fmt.Errorf("%w: no token %q", ErrNotFound, id)
	}
	return t.update(ctx, match, func(rec *Token) error {
		if rec.Revoked == nil {
			now := t.now()
			rec.Revoked = &now
		}
		return nil
	})
}

// ErrNotFound is an unknown token or host.
var ErrNotFound = errors.New("not found")

// ErrBadRequest is a request that cannot be right (an ambiguous id).
var ErrBadRequest = errors.New("bad request")

// EnrollError is a refusal the enrolling agent is told about.
type EnrollError struct{ Msg string }

func (e *EnrollError) Error() string { return e.Msg }

func refuse(format string, a ...any) error { return &EnrollError{Msg: fmt.Sprintf(format, a...)} }

// use counts one enrollment with the token tok, refusing a token that is
// unknown, revoked, expired or used up.
func (t *Tokens) use(ctx context.Context, tok string) (Token, error) {
	if err := tokenShape(tok); err != nil {
		return Token{}, err
	}
	key := hashToken(tok)
	return t.update(ctx, key, func(rec *Token) error {
		now := t.now()
		if err := rec.usable(now); err != nil {
			return err
		}
		rec.Uses++
		rec.LastUsed = &now
		return nil
	})
}

func tokenShape(tok string) error {
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) > 100 {
		return refuse("not a deployment token (they start with %s: vigil backend token create --kind enroll)", TokenPrefix)
	}
	return nil
}

// lookup returns the record of tok without counting a use.
func (t *Tokens) lookup(ctx context.Context, tok string) (Token, error) {
	var rec Token
	if err := tokenShape(tok); err != nil {
		return rec, err
	}
	b, _, err := t.KV.Get(ctx, hashToken(tok))
	if errors.Is(err, store.ErrNotFound) {
		return rec, refuse("unknown deployment token")
	}
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(b, &rec)
}

// update applies fn to the record at key with compare-and-set, retrying
// when another backend instance changed it meanwhile.
func (t *Tokens) update(ctx context.Context, key string, fn func(*Token) error) (Token, error) {
	for range 20 {
		b, rev, err := t.KV.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return Token{}, refuse("unknown deployment token")
		}
		if err != nil {
			return Token{}, err
		}
		var rec Token
		if err := json.Unmarshal(b, &rec); err != nil {
			return Token{}, fmt.Errorf("token record %s: %w", key[:12], err)
		}
		if err := fn(&rec); err != nil {
			return rec, err
		}
		v, _ := json.Marshal(rec)
		if _, err := t.KV.Update(ctx, key, v, rev); errors.Is(err, store.ErrConflict) {
			continue
		} else if err != nil {
			return rec, err
		}
		return rec, nil
	}
	return Token{}, errors.New("token record: too many concurrent changes")
}
