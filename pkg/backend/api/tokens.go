package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/pkg/backend/store"
)

// Roles a token may have.
const (
	RoleAdmin  = "admin"  // everything, tokens included
	RoleViewer = "viewer" // read detections and status
	RoleIngest = "ingest" // push logs (POST /api/v1/ingest) and nothing else
)

// ValidRole tells whether r is a role.
func ValidRole(r string) bool { return r == RoleAdmin || r == RoleViewer || r == RoleIngest }

// KV is where token hashes are kept (store.KV).
type KV interface {
	Get(ctx context.Context, key string) ([]byte, uint64, error)
	Put(ctx context.Context, key string, v []byte) error
}

// TokenInfo is what is stored for a token: never the token itself.
type TokenInfo struct {
	Role    string    `json:"role"`
	Name    string    `json:"name,omitempty"`
	Created time.Time `json:"created"`
}

// Tokens checks and makes bearer tokens, stored hashed (SHA-256: the
// tokens are 256-bit random, so a fast hash is enough). A token checked
// once is remembered for TokenCacheTTL, so the API keeps answering its
// callers while the NATS cluster re-elects a leader (a node lost).
type Tokens struct {
	kv   KV
	mu   sync.Mutex
	seen map[string]seenToken
	// Now is the clock (tests).
	Now func() time.Time
}

type seenToken struct {
	info  TokenInfo
	until time.Time
}

// TokenCacheTTL is how long a checked token is remembered.
const TokenCacheTTL = time.Minute

// maxSeenTokens bounds the remembered tokens (the map starts over).
const maxSeenTokens = 4096

// ErrTokensUnavailable is a token that could not be checked: the store
// did not answer (the API says 503, retry).
var ErrTokensUnavailable = errors.New("the token store is not answering (NATS unavailable): retry")

// NewTokens keeps tokens in kv.
func NewTokens(kv KV) *Tokens { return &Tokens{kv: kv, seen: map[string]seenToken{}, Now: time.Now} }

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// NewToken makes a random token.
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "vgl_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Create makes and stores a token of role.
func (t *Tokens) Create(ctx context.Context, role, name string) (string, error) {
	if !ValidRole(role) {
		return "", fmt.Errorf("role %q: admin, viewer or ingest", role)
	}
	tok, err := NewToken()
	if err != nil {
		return "", err
	}
	return tok, t.add(ctx, tok, TokenInfo{Role: role, Name: name, Created: time.Now().UTC()})
}

func (t *Tokens) add(ctx context.Context, tok string, info TokenInfo) error {
	b, _ := json.Marshal(info)
	return t.kv.Put(ctx, hashToken(tok), b)
}

// Check returns the role of a token ("" and an error when it is unknown).
// The lookup is by hash, so timing reveals nothing of stored tokens.
func (t *Tokens) Check(ctx context.Context, tok string) (TokenInfo, error) {
	var info TokenInfo
	if !strings.HasPrefix(tok, "vgl_") || len(tok) > 100 {
		return info, errors.New("not a vigil token")
	}
	key := hashToken(tok)
	now := t.Now()
	t.mu.Lock()
	s, ok := t.seen[key]
	t.mu.Unlock()
	if ok && now.Before(s.until) {
		return s.info, nil
	}
	b, _, err := t.kv.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return info, errors.New("unknown token")
	}
	if err != nil {
		return info, ErrTokensUnavailable
	}
	if err := json.Unmarshal(b, &info); err != nil || !ValidRole(info.Role) {
		return info, errors.New("token record unreadable")
	}
	t.mu.Lock()
	if len(t.seen) >= maxSeenTokens {
		t.seen = map[string]seenToken{}
	}
	t.seen[key] = seenToken{info: info, until: now.Add(TokenCacheTTL)}
	t.mu.Unlock()
	return info, nil
}

// EnsureAdmin makes sure an admin token exists: when path holds one, it is
// registered (idempotent); when there is none yet, one is created and
// written to path (0600). created tells which.
func (t *Tokens) EnsureAdmin(ctx context.Context, path string) (created bool, err error) {
	if b, err := os.ReadFile(path); err == nil {
		tok := strings.TrimSpace(string(b))
		if _, err := t.Check(ctx, tok); err == nil {
			return false, nil
		}
		if !strings.HasPrefix(tok, "vgl_") {
			return false, fmt.Errorf("%s does not hold a vigil token", path)
		}
		return false, t.add(ctx, tok, TokenInfo{Role: RoleAdmin, Name: "admin.token", Created: time.Now().UTC()})
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	tok, err := NewToken()
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return false, err
	}
	if err := t.add(ctx, tok, TokenInfo{Role: RoleAdmin, Name: "admin.token", Created: time.Now().UTC()}); err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, os.Rename(tmp, path)
}

var _ KV = (*store.KV)(nil)
