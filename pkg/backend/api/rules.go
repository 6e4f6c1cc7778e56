package api

import (
	"net/http"
	"sort"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
)

// RuleInfo is one rule as the rules page lists it.
type RuleInfo struct {
	Name      string         `json:"rule"`
	Source    string         `json:"source"` // runtime, cloudtrail, k8saudit, vpcflow
	Severity  alert.Severity `json:"severity"`
	Tactic    string         `json:"mitre_tactic"`
	Technique string         `json:"mitre_technique"`
	Enabled   bool           `json:"enabled"`
	Desc      string         `json:"desc"`
	// Hits24h counts its detections of the last 24 hours (event time).
	Hits24h int `json:"hits_24h"`
}

// rules: GET /api/v1/rules, most hits first, then by name.
func (s *Server) rules(w http.ResponseWriter, r *http.Request) {
	for k := range r.URL.Query() {
		writeError(w, http.StatusBadRequest, k, "unknown parameter (none are known)")
		return
	}
	counts := map[string]int{}
	if s.Index != nil {
		counts = s.Index.RuleCounts(time.Now().Add(-24 * time.Hour))
	}
	out := make([]RuleInfo, len(s.Rules))
	copy(out, s.Rules)
	for i := range out {
		out[i].Hits24h = counts[out[i].Name]
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Hits24h != out[j].Hits24h {
			return out[i].Hits24h > out[j].Hits24h
		}
		return out[i].Name < out[j].Name
	})
	writeJSON(w, http.StatusOK, map[string]any{"rules": out})
}
