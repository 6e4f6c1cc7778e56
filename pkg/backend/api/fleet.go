package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/vigil-sec/vigil/pkg/backend/fleet"
	"github.com/vigil-sec/vigil/pkg/rules"
)

// Fleet is enrollment and central rules (nil fields: not available).
type Fleet struct {
	Tokens *fleet.Tokens
	Hosts  *fleet.Hosts
	// Disconnect closes a revoked host's connections where the backend can
	// (the embedded server) and returns how many.
	Disconnect func(hostID string) int
	// Bundles keeps the pushed rule bundles (wire.RulesBucket).
	Bundles KVKeys
	// Check validates a bundle's rules as agents and the backend will.
	Check func(*rules.Bundle) error
}

// KVKeys is a bucket that lists its keys.
type KVKeys interface {
	KV
	Keys(ctx context.Context) ([]string, error)
}

func (s *Server) fleetRoutes(mux *http.ServeMux) {
	f := s.Fleet
	if f == nil {
		return
	}
	if f.Tokens != nil && f.Hosts != nil {
		mux.Handle("POST /api/v1/enroll-tokens", s.auth(RoleAdmin, http.HandlerFunc(s.createEnrollToken)))
		mux.Handle("GET /api/v1/enroll-tokens", s.auth(RoleAdmin, http.HandlerFunc(s.listEnrollTokens)))
		mux.Handle("DELETE /api/v1/enroll-tokens/{id}", s.auth(RoleAdmin, http.HandlerFunc(s.revokeEnrollToken)))
		mux.HandleFunc("POST /api/v1/enroll", s.enroll) // the deployment token is the credential
		mux.Handle("GET /api/v1/hosts", s.auth(RoleViewer, http.HandlerFunc(s.listHosts)))
		mux.Handle("DELETE /api/v1/hosts/{id}", s.auth(RoleAdmin, http.HandlerFunc(s.revokeHost)))
	}
	if f.Bundles != nil {
		mux.Handle("POST /api/v1/rules/bundles", s.auth(RoleAdmin, http.HandlerFunc(s.pushBundle)))
		mux.Handle("GET /api/v1/rules/bundles", s.auth(RoleViewer, http.HandlerFunc(s.listBundles)))
	}
}

// decodeStrict reads a JSON body of at most max bytes, refusing unknown
// fields; false when it answered the error.
func decodeStrict(w http.ResponseWriter, r *http.Request, max int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "", "body: "+err.Error())
		return false
	}
	return true
}

// storeError answers an error of the fleet's buckets.
func storeError(w http.ResponseWriter, err error) {
	var ee *fleet.EnrollError
	switch {
	case errors.As(err, &ee):
		writeError(w, http.StatusForbidden, "", ee.Msg)
	case errors.Is(err, fleet.ErrNotFound):
		writeError(w, http.StatusNotFound, "", err.Error())
	default:
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
	}
}

// tokenView is a token's record with its state.
type tokenView struct {
	fleet.Token
	State string `json:"state"`
}

func (s *Server) createEnrollToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Env     string `json:"env"`
		Name    string `json:"name"`
		TTL     string `json:"ttl"`
		MaxUses int    `json:"max_uses"`
	}
	if !decodeStrict(w, r, 4096, &req) {
		return
	}
	if err := fleet.ValidToken(req.Env); err != nil {
		writeError(w, http.StatusBadRequest, "env", err.Error())
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		var err error
		if ttl, err = parseSpan(req.TTL); err != nil || ttl < time.Minute {
			writeError(w, http.StatusBadRequest, "ttl", fmt.Sprintf("%q: a duration of at least 1m (30m, 24h, 30d), or none for no expiry", req.TTL))
			return
		}
	}
	if req.MaxUses < 0 {
		writeError(w, http.StatusBadRequest, "max_uses", "must not be negative (0: unlimited)")
		return
	}
	tok, rec, err := s.Fleet.Tokens.Create(r.Context(), req.Env, req.Name, ttl, req.MaxUses)
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Token string `json:"token"`
		tokenView
	}{tok, tokenView{rec, rec.State(time.Now())}})
}

func (s *Server) listEnrollTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.Fleet.Tokens.List(r.Context())
	if err != nil {
		storeError(w, err)
		return
	}
	out := make([]tokenView, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenView{t, t.State(time.Now())})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (s *Server) revokeEnrollToken(w http.ResponseWriter, r *http.Request) {
	t, err := s.Fleet.Tokens.Revoke(r.Context(), r.PathValue("id"))
	if errors.Is(err, fleet.ErrBadRequest) {
		writeError(w, http.StatusBadRequest, "id", err.Error())
		return
	}
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenView{t, t.State(time.Now())})
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	var req fleet.EnrollRequest
	if !decodeStrict(w, r, 8192, &req) {
		return
	}
	resp, err := s.Fleet.Hosts.Enroll(r.Context(), req)
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) listHosts(w http.ResponseWriter, r *http.Request) {
	hs, err := s.Fleet.Hosts.List(r.Context())
	if err != nil {
		storeError(w, err)
		return
	}
	if hs == nil {
		hs = []fleet.Host{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"hosts": hs})
}

func (s *Server) revokeHost(w http.ResponseWriter, r *http.Request) {
	h, err := s.Fleet.Hosts.Revoke(r.Context(), r.PathValue("id"))
	if err != nil {
		storeError(w, err)
		return
	}
	n := 0
	if s.Fleet.Disconnect != nil {
		n = s.Fleet.Disconnect(h.ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"host": h, "disconnected": n})
}

// bundleView is a stored bundle without its files' content.
type bundleView struct {
	Env     string    `json:"env"`
	Version string    `json:"version"`
	Pushed  time.Time `json:"pushed"`
	By      string    `json:"by,omitempty"`
	Files   []string  `json:"files"`
}

func viewBundle(b *rules.Bundle) bundleView {
	v := bundleView{Env: b.Env, Version: b.Version, Pushed: b.Pushed, By: b.By, Files: []string{}}
	for _, f := range b.Files {
		v.Files = append(v.Files, f.Name)
	}
	return v
}

func (s *Server) pushBundle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rules.MaxBundleBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("bundle larger than %d bytes", rules.MaxBundleBytes))
		return
	}
	b, err := rules.ParseBundle(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	if err := fleet.ValidToken(b.Env); err != nil {
		writeError(w, http.StatusBadRequest, "env", err.Error())
		return
	}
	if s.Fleet.Check != nil {
		if err := s.Fleet.Check(b); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "files", err.Error())
			return
		}
	}
	b.Pushed, b.By = time.Now().UTC(), caller(r)
	out, _ := json.Marshal(b)
	if err := s.Fleet.Bundles.Put(r.Context(), "bundle."+b.Env, out); err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, viewBundle(b))
}

func (s *Server) listBundles(w http.ResponseWriter, r *http.Request) {
	keys, err := s.Fleet.Bundles.Keys(r.Context())
	if err != nil {
		storeError(w, err)
		return
	}
	out := []bundleView{}
	for _, k := range keys {
		v, _, err := s.Fleet.Bundles.Get(r.Context(), k)
		if err != nil {
			continue
		}
		if b, err := rules.ParseBundle(v); err == nil {
			out = append(out, viewBundle(b))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"bundles": out})
}
