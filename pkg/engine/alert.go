package engine

import (
	"github.com/vigil-sec/vigil/pkg/alert"
)

// AlertSchema is the version of the alert JSON schema (docs/alerts.md).
const AlertSchema = alert.AlertSchema

// Alert is one detection on the host (alert.Alert, the shared schema).
type Alert = alert.Alert

// ActionResult records the response taken.
type ActionResult = alert.ActionResult

// Sink receives alerts.
type Sink interface {
	WriteAlert(a *Alert) error
}
