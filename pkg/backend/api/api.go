// Package api is the backend's HTTP API (JSON, bearer tokens): detections,
// health and status, log push, tokens; /metrics for Prometheus. Handlers
// are plain net/http, tested with httptest.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend/index"
	"github.com/vigil-sec/vigil/pkg/backend/ingest"
	"github.com/vigil-sec/vigil/pkg/backend/threat"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/correlate"
)

// Ingester takes pushed logs (the backend publishes them).
type Ingester interface {
	Ingest(ctx context.Context, source, name string, body []byte, o ingest.Options) (ingest.Summary, []string, error)
}

// Server holds what the handlers need.
type Server struct {
	Index   *index.Index
	Threats *threat.View
	Sensors *correlate.Sensors
	Tokens  *Tokens
	// Sessions and Users are the UI's logins (nil: none).
	Sessions *Sessions
	Users    *Users
	// Rules are the rules this backend knows (vendor and local; host rules
	// as the agents' packages ship them), for the rules page.
	Rules []RuleInfo
	// UI serves the investigation UI's pages and assets (nil: none).
	UI     http.Handler
	Ingest Ingester
	Status func(ctx context.Context) any // the status document
	// Outputs is the outputs' delivery status and dead letters (nil: none).
	Outputs func(ctx context.Context) any
	Healthy func() (bool, string) // ready to serve, or why not
	// Fleet is enrollment and central rules (nil: none).
	Fleet   *Fleet
	Metrics http.Handler
	MaxBody int64

	initOnce, closeOnce sync.Once
	closed              chan struct{}
}

// CloseStreams ends the event streams (the server is stopping: they would
// hold its graceful shutdown until its timeout).
func (s *Server) CloseStreams() { s.closeOnce.Do(func() { close(s.streamsDone()) }) }

func (s *Server) streamsDone() chan struct{} {
	s.initOnce.Do(func() { s.closed = make(chan struct{}) })
	return s.closed
}

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/health", s.health)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	mux.Handle("GET /api/v1/detections", s.auth(RoleViewer, http.HandlerFunc(s.detections)))
	mux.Handle("GET /api/v1/detections/{id}", s.auth(RoleViewer, http.HandlerFunc(s.detection)))
	mux.Handle("GET /api/v1/sensors", s.auth(RoleViewer, http.HandlerFunc(s.sensors)))
	mux.Handle("GET /api/v1/threats", s.auth(RoleViewer, http.HandlerFunc(s.listThreats)))
	mux.Handle("GET /api/v1/threats/{id}", s.auth(RoleViewer, http.HandlerFunc(s.getThreat)))
	mux.Handle("GET /api/v1/threats/events", s.auth(RoleViewer, http.HandlerFunc(s.threatEvents)))
	mux.Handle("PATCH /api/v1/threats/{id}", s.auth(RoleAdmin, http.HandlerFunc(s.patchThreat)))
	mux.Handle("GET /api/v1/status", s.auth(RoleViewer, http.HandlerFunc(s.status)))
	mux.Handle("GET /api/v1/rules", s.auth(RoleViewer, http.HandlerFunc(s.rules)))
	mux.Handle("GET /api/v1/outputs", s.auth(RoleViewer, http.HandlerFunc(s.outputs)))
	mux.Handle("POST /api/v1/ingest/{source}", s.auth(RoleIngest, http.HandlerFunc(s.ingest)))
	mux.Handle("POST /api/v1/tokens", s.auth(RoleAdmin, http.HandlerFunc(s.createToken)))
	s.fleetRoutes(mux)
	mux.HandleFunc("POST /api/v1/session", s.login)
	mux.Handle("GET /api/v1/session", s.auth(RoleViewer, http.HandlerFunc(s.whoami)))
	mux.HandleFunc("DELETE /api/v1/session", s.logout)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	if s.UI != nil {
		mux.Handle("GET /{$}", s.UI)
		mux.Handle("GET /ui/", s.UI)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// apiError is every error's shape.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, field, msg string) {
	writeJSON(w, code, apiError{Error: msg, Field: field})
}

// allowed tells whether a token's role may use an endpoint of role need:
// admin everything, viewer reads, ingest only pushes.
func allowed(have, need string) bool {
	switch have {
	case RoleAdmin:
		return true
	case RoleViewer:
		return need == RoleViewer
	case RoleIngest:
		return need == RoleIngest
	}
	return false
}

func (s *Server) auth(need string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var info TokenInfo
		if !ok || tok == "" {
			// A browser: its session cookie.
			var code int
			var msg string
			if info, r, code, msg = s.fromSession(r); code != 0 {
				if code == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
				}
				writeError(w, code, "Authorization", msg)
				return
			}
		} else {
			var err error
			if info, err = s.Tokens.Check(r.Context(), strings.TrimSpace(tok)); errors.Is(err, ErrTokensUnavailable) {
				w.Header().Set("Retry-After", "2")
				writeError(w, http.StatusServiceUnavailable, "Authorization", err.Error())
				return
			} else if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="vigil", error="invalid_token"`)
				writeError(w, http.StatusUnauthorized, "Authorization", "invalid token")
				return
			}
		}
		if !allowed(info.Role, need) {
			writeError(w, http.StatusForbidden, "", fmt.Sprintf("a %s token may not do this (needs %s)", info.Role, need))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, info)))
	})
}

type tokenKey struct{}

// caller names who made a request (a note's author): the token's name, or
// its role.
func caller(r *http.Request) string {
	info, _ := r.Context().Value(tokenKey{}).(TokenInfo)
	if info.Name != "" {
		return info.Name
	}
	return info.Role
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	ok, why := true, ""
	if s.Healthy != nil {
		ok, why = s.Healthy()
	}
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": why})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Status(r.Context()))
}

// outputs: each output's deliveries and failures, and the latest dead
// letters.
func (s *Server) outputs(w http.ResponseWriter, r *http.Request) {
	if s.Outputs == nil {
		writeJSON(w, http.StatusOK, map[string]any{"outputs": []any{}, "dead_letters": []any{}})
		return
	}
	writeJSON(w, http.StatusOK, s.Outputs(r.Context()))
}

// MaxLimit bounds one page of detections.
const MaxLimit = 10000

// ParseQuery reads the detections query parameters; errors name the field.
func ParseQuery(v map[string][]string) (index.Query, *apiError) {
	q := index.Query{Limit: 100}
	get := func(k string) string {
		if l := v[k]; len(l) > 0 {
			return l[0]
		}
		return ""
	}
	for k := range v {
		switch k {
		case "source", "severity", "since", "until", "limit", "rule", "entity":
		default:
			return q, &apiError{Field: k, Error: fmt.Sprintf("unknown parameter %q (source, severity, since, until, rule, entity, limit)", k)}
		}
	}
	if src := get("source"); src != "" {
		if src != string(alert.SourceRuntime) && !cloudevent.IsSource(src) {
			return q, &apiError{Field: "source", Error: fmt.Sprintf("%q: runtime, cloudtrail, vpcflow or k8saudit", src)}
		}
		q.Source = src
	}
	if sev := get("severity"); sev != "" {
		s, err := alert.ParseSeverity(sev)
		if err != nil {
			return q, &apiError{Field: "severity", Error: err.Error()}
		}
		q.MinSeverity = s
	}
	for _, k := range []string{"since", "until"} {
		val := get(k)
		if val == "" {
			continue
		}
		t, err := parseTime(val)
		if err != nil {
			return q, &apiError{Field: k, Error: err.Error()}
		}
		if k == "since" {
			q.Since = t
		} else {
			q.Until = t
		}
	}
	if l := get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxLimit {
			return q, &apiError{Field: "limit", Error: fmt.Sprintf("%q: a number from 1 to %d", l, MaxLimit)}
		}
		q.Limit = n
	}
	q.Rule = get("rule")
	if e := get("entity"); e != "" {
		kind, id, ok := strings.Cut(e, ":")
		if !ok || kind == "" || id == "" {
			return q, &apiError{Field: "entity", Error: fmt.Sprintf("%q: want kind:id (host:h-1, ip:203.0.113.5)", e)}
		}
		q.EntityKind, q.EntityID = kind, id
	}
	return q, nil
}

// parseTime reads RFC 3339 or a duration back from now ("1h", "7d").
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := parseSpan(s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: an RFC 3339 time or a duration back from now (30m, 24h, 7d)", s)
}

// parseSpan reads a duration: Go's (30m, 24h) or whole days (7d).
func parseSpan(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 && n < 100000 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%q: a duration (30m, 24h, 30d)", s)
}

func (s *Server) detections(w http.ResponseWriter, r *http.Request) {
	q, perr := ParseQuery(r.URL.Query())
	if perr != nil {
		writeJSON(w, http.StatusBadRequest, perr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"detections": s.Index.Find(q)})
}

// detection: GET /api/v1/detections/{id}, as stored.
func (s *Server) detection(w http.ResponseWriter, r *http.Request) {
	raw, ok := s.Index.Get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "id", fmt.Sprintf("no detection %q", r.PathValue("id")))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}

func (s *Server) ingest(w http.ResponseWriter, r *http.Request) {
	src := r.PathValue("source")
	if !cloudevent.IsSource(src) {
		writeError(w, http.StatusNotFound, "source", fmt.Sprintf("%q: cloudtrail, vpcflow or k8saudit", src))
		return
	}
	o := ingest.Options{Cluster: r.URL.Query().Get("cluster")}
	if f := r.URL.Query().Get("format"); f != "" {
		format, err := cloudevent.ParseFlowFormat(f)
		if err != nil {
			writeError(w, http.StatusBadRequest, "format", err.Error())
			return
		}
		o.Format = format
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("body larger than %d bytes", mbe.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "", "reading the body: "+err.Error())
		return
	}
	if r.Header.Get("Content-Encoding") == "gzip" || len(body) > 1 && body[0] == 0x1f && body[1] == 0x8b {
		if body, err = ingest.Gunzip(body); err != nil {
			writeError(w, http.StatusBadRequest, "", err.Error())
			return
		}
	}
	sum, bad, err := s.Ingest.Ingest(r.Context(), src, "request", body, o)
	resp := map[string]any{"summary": sum}
	if len(bad) > 0 {
		if len(bad) > 100 {
			bad = bad[:100]
		}
		resp["malformed"] = bad
	}
	if err != nil {
		resp["error"] = err.Error()
		writeJSON(w, http.StatusServiceUnavailable, resp)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Role string `json:"role"`
		Name string `json:"name"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "", "body: "+err.Error())
		return
	}
	if !ValidRole(req.Role) {
		writeError(w, http.StatusBadRequest, "role", fmt.Sprintf("%q: admin, viewer or ingest", req.Role))
		return
	}
	tok, err := s.Tokens.Create(r.Context(), req.Role, req.Name)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"token": tok, "role": req.Role, "name": req.Name})
}
