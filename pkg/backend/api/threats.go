package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend/threat"
	"github.com/vigil-sec/vigil/pkg/correlate"
)

// ParseThreatQuery reads GET /api/v1/threats' parameters; errors name the
// field.
func ParseThreatQuery(v map[string][]string) (threat.Query, *apiError) {
	q := threat.Query{Limit: 100}
	known := []string{"status", "severity", "host", "rule", "tactic", "since", "limit"}
	for k, vals := range v {
		if !slices.Contains(known, k) {
			return q, &apiError{Error: fmt.Sprintf("unknown parameter (known: %s)", strings.Join(known, ", ")), Field: k}
		}
		if len(vals) != 1 {
			return q, &apiError{Error: "give it once", Field: k}
		}
	}
	get := func(k string) string {
		if vals := v[k]; len(vals) > 0 {
			return vals[0]
		}
		return ""
	}
	if st := get("status"); st != "" {
		if !slices.Contains(alert.ThreatStatuses(), st) {
			return q, &apiError{Error: fmt.Sprintf("%q is not one of %s", st, strings.Join(alert.ThreatStatuses(), ", ")), Field: "status"}
		}
		q.Status = st
	}
	if sv := get("severity"); sv != "" {
		sev, err := alert.ParseSeverity(sv)
		if err != nil {
			return q, &apiError{Error: err.Error(), Field: "severity"}
		}
		q.Severity = sev
	}
	q.Host, q.Rule, q.Tactic = get("host"), get("rule"), get("tactic")
	if sn := get("since"); sn != "" {
		t, err := parseTime(sn)
		if err != nil {
			return q, &apiError{Error: err.Error(), Field: "since"}
		}
		q.Since = t
	}
	if l := get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxLimit {
			return q, &apiError{Error: fmt.Sprintf("%q: a number from 1 to %d", l, MaxLimit), Field: "limit"}
		}
		q.Limit = n
	}
	return q, nil
}

func (s *Server) listThreats(w http.ResponseWriter, r *http.Request) {
	q, perr := ParseThreatQuery(r.URL.Query())
	if perr != nil {
		writeJSON(w, http.StatusBadRequest, perr)
		return
	}
	out := s.Threats.Find(q)
	if out == nil {
		out = []*alert.Threat{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"threats": out})
}

// ThreatDetail is GET /api/v1/threats/{id}: the threat with its detections
// as stored (those still in the detection index).
type ThreatDetail struct {
	*alert.Threat
	Detections []json.RawMessage `json:"detections"`
}

func (s *Server) getThreat(w http.ResponseWriter, r *http.Request) {
	t, ok := s.Threats.Get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "id", fmt.Sprintf("no threat %q", r.PathValue("id")))
		return
	}
	d := ThreatDetail{Threat: t, Detections: []json.RawMessage{}}
	for _, en := range t.Timeline {
		if raw, ok := s.Index.Get(en.Detection); ok {
			d.Detections = append(d.Detections, raw)
		}
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) patchThreat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "", "the body is over 64 KiB")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	var u alert.ThreatUpdate
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		writeError(w, http.StatusBadRequest, jsonField(err), "the body must be {\"status\", \"resolution\", \"note\"}: "+err.Error())
		return
	}
	t, err := s.Threats.Update(r.Context(), r.PathValue("id"), u, caller(r), time.Now())
	var fe *threat.FieldError
	switch {
	case errors.Is(err, threat.ErrNoThreat):
		writeError(w, http.StatusNotFound, "id", fmt.Sprintf("no threat %q", r.PathValue("id")))
	case errors.As(err, &fe):
		field, _, _ := strings.Cut(fe.Error(), ":")
		writeError(w, http.StatusBadRequest, field, fe.Error())
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
	default:
		writeJSON(w, http.StatusOK, t)
	}
}

// jsonField is the field a JSON decoding error is about, when it says.
func jsonField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return strings.Trim(f, `"`)
	}
	return ""
}

// GET /api/v1/sensors: the inventory of agents from their heartbeats.
func (s *Server) sensors(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		for k := range r.URL.Query() {
			writeError(w, http.StatusBadRequest, k, "unknown parameter (none are known)")
			return
		}
	}
	var list []correlate.Sensor
	if s.Sensors != nil {
		list = s.Sensors.List()
	}
	if list == nil {
		list = []correlate.Sensor{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sensors": list})
}

// threatEvents: GET /api/v1/threats/events, server-sent events: "threat"
// with {"id": ...} each time a threat is stored, a comment every 20 s so
// proxies keep the stream open.
func (s *Server) threatEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok || s.Threats == nil {
		writeError(w, http.StatusNotImplemented, "", "streaming is not available")
		return
	}
	ids, cancel := s.Threats.Subscribe()
	defer cancel()
	done := s.streamsDone()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "retry: 3000\n\n")
	fl.Flush()
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-done:
			return
		case <-ping.C:
			_, _ = io.WriteString(w, ": ping\n\n")
		case id := <-ids:
			b, _ := json.Marshal(map[string]string{"id": id})
			if _, err := fmt.Fprintf(w, "event: threat\ndata: %s\n\n", b); err != nil {
				return
			}
		}
		fl.Flush()
	}
}
