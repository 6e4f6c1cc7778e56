package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// SessionKV is where browser sessions are kept (store.KV; the bucket's
// entries expire).
type SessionKV interface {
	KV
	Delete(ctx context.Context, key string) error
}

// SessionCookie names the browser session's cookie.
const SessionCookie = "vigil_session"

// CSRFHeader must carry a session's CSRF token on every change made with
// the session's cookie.
const CSRFHeader = "X-Vigil-CSRF"

// session is what is stored for a browser session (under the id's hash).
type session struct {
	TokenInfo
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// Sessions are browser logins: a random id in an HttpOnly, SameSite=Strict
// cookie, its hash in the bucket with the role, the name, a CSRF token and
// the expiry. Every backend instance sees every session.
type Sessions struct {
	KV  SessionKV
	TTL time.Duration
}

// create opens a session for who and returns its id and CSRF token.
func (s *Sessions) create(ctx context.Context, who TokenInfo) (id string, se session, err error) {
	if id, err = NewToken(); err != nil {
		return "", se, err
	}
	csrf, err := NewToken()
	if err != nil {
		return "", se, err
	}
	se = session{TokenInfo: who, CSRF: csrf, Expires: time.Now().Add(s.TTL).UTC()}
	b, _ := json.Marshal(se)
	return id, se, s.KV.Put(ctx, "s"+hashToken(id), b)
}

// check returns a live session.
func (s *Sessions) check(ctx context.Context, id string) (session, error) {
	var se session
	if !strings.HasPrefix(id, "vgl_") || len(id) > 100 {
		return se, errors.New("not a session")
	}
	b, _, err := s.KV.Get(ctx, "s"+hashToken(id))
	if err != nil {
		return se, errors.New("unknown session")
	}
	if json.Unmarshal(b, &se) != nil || !ValidRole(se.Role) || !time.Now().Before(se.Expires) {
		return se, errors.New("session expired")
	}
	return se, nil
}

func (s *Sessions) remove(ctx context.Context, id string) error {
	return s.KV.Delete(ctx, "s"+hashToken(id))
}

// sessionInfo is what the UI learns of its session.
type sessionInfo struct {
	Role    string    `json:"role"`
	Name    string    `json:"name,omitempty"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// login: POST /api/v1/session {"token": "..."} or {"user": "...",
// "password": "..."} sets the session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token    string `json:"token"`
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "", "want JSON {\"token\": ...} or {\"user\": ..., \"password\": ...}")
		return
	}
	var who TokenInfo
	switch {
	case req.Token != "":
		info, err := s.Tokens.Check(r.Context(), strings.TrimSpace(req.Token))
		if errors.Is(err, ErrTokensUnavailable) {
			w.Header().Set("Retry-After", "2")
			writeError(w, http.StatusServiceUnavailable, "token", err.Error())
			return
		}
		if err != nil || info.Role == RoleIngest {
			writeError(w, http.StatusUnauthorized, "token", "invalid token")
			return
		}
		who = info
	case req.User != "":
		info, ok := s.Users.Check(req.User, req.Password)
		if !ok {
			writeError(w, http.StatusUnauthorized, "password", "wrong user or password")
			return
		}
		who = info
	default:
		writeError(w, http.StatusBadRequest, "token", "give a token, or a user and a password")
		return
	}
	id, se, err := s.Sessions.create(r.Context(), who)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "", "cannot store the session: "+err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: secureRequest(r), MaxAge: int(s.Sessions.TTL / time.Second)})
	writeJSON(w, http.StatusOK, sessionInfo{Role: se.Role, Name: se.Name, CSRF: se.CSRF, Expires: se.Expires})
}

// secureRequest tells whether the browser reached us over TLS (directly
// or through a proxy that says so): the cookie is then Secure.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// whoami: GET /api/v1/session.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	se, ok := r.Context().Value(sessionKey{}).(session)
	if !ok {
		writeError(w, http.StatusUnauthorized, "", "not logged in")
		return
	}
	writeJSON(w, http.StatusOK, sessionInfo{Role: se.Role, Name: se.Name, CSRF: se.CSRF, Expires: se.Expires})
}

// logout: DELETE /api/v1/session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		_ = s.Sessions.remove(r.Context(), c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: secureRequest(r), MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

type sessionKey struct{}

// fromSession authenticates a request by its session cookie; a change
// (any method but GET and HEAD) must also carry the session's CSRF token.
func (s *Server) fromSession(r *http.Request) (TokenInfo, *http.Request, int, string) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || s.Sessions == nil {
		return TokenInfo{}, r, http.StatusUnauthorized, "log in, or send a bearer token (vigil backend token create)"
	}
	se, err := s.Sessions.check(r.Context(), c.Value)
	if err != nil {
		return TokenInfo{}, r, http.StatusUnauthorized, "the session has expired: log in again"
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead &&
		subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(se.CSRF)) != 1 {
		return TokenInfo{}, r, http.StatusForbidden, "the CSRF token is missing or wrong (" + CSRFHeader + ")"
	}
	return se.TokenInfo, r.WithContext(context.WithValue(r.Context(), sessionKey{}, se)), 0, ""
}
