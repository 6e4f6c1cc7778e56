// Package alert holds Vigil's versioned wire schemas, shared by the agent
// and the backend: the agent's Alert (vigil.alert/1), its Heartbeat and
// SensorStatus (vigil.heartbeat/1), Severity, and the source-agnostic
// Detection (vigil.detection/1) the backend correlates; the correlation's
// Threat (attack chains of detections) belongs here too. It is pure: no I/O
// owner is imported, and golden files pin every JSON shape
// (go test ./pkg/alert -update rewrites them).
package alert
