// Package engine evaluates a compiled rule set over events: single-event
// rules indexed by event type, sequences and thresholds with bounded state,
// deduplication, and the kill response. It produces alerts (docs/alerts.md).
package engine
