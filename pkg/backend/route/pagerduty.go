package route

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/config"
)

// DefaultPagerDutyURL is the Events API v2's base.
const DefaultPagerDutyURL = "https://events.pagerduty.com"

// pagerDuty sends Events API v2 events: trigger (opened, updated,
// reopened: PagerDuty updates the open alert of the same dedup key),
// acknowledge and resolve, the dedup key being the threat's id.
type pagerDuty struct {
	key    string
	client *pagerduty.Client
}

func newPagerDuty(c config.Output) (*pagerDuty, error) {
	key, err := readSecret(c.RoutingKeyFile, "routing_key_file")
	if err != nil {
		return nil, err
	}
	hc, err := httpClient(c)
	if err != nil {
		return nil, err
	}
	url := c.URL
	if url == "" {
		url = DefaultPagerDutyURL
	}
	return &pagerDuty{key: key, client: pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(strings.TrimRight(url, "/")),
		func(pc *pagerduty.Client) { pc.HTTPClient = hc })}, nil
}

// PagerDutyEvent is the Events API v2 event of a notification.
func PagerDutyEvent(key string, n *alert.Notification) *pagerduty.V2Event {
	e := &pagerduty.V2Event{RoutingKey: key, DedupKey: n.Key, Client: "Vigil", ClientURL: n.URL}
	switch n.Event {
	case alert.EventThreatAcknowledged:
		e.Action = "acknowledge"
		return e
	case alert.EventThreatResolved:
		e.Action = "resolve"
		return e
	}
	e.Action = "trigger"
	p := &pagerduty.V2Payload{Summary: truncate(fmt.Sprintf("[%s] %s", n.Severity(), n.Title()), 1024), Source: "vigil",
		Severity: pdSeverity(n.Severity())}
	details := map[string]any{"event": n.Event, "routes": n.Routes}
	if n.URL != "" {
		details["url"] = n.URL
	}
	if t := n.Threat; t != nil {
		p.Timestamp, p.Group, p.Class = t.FirstSeen.UTC().Format(time.RFC3339), t.Env, strings.Join(t.Tactics, ",")
		if s := entityNames(t.Resources, alert.KindHost, alert.KindInstance, alert.KindPod, alert.KindAccount); len(s) > 0 {
			p.Source = s[0]
		}
		for _, e := range t.Timeline {
			if e.Detection == t.Main {
				p.Component = e.Rule
			}
		}
		details["threat"] = t.ID
		details["detections"] = len(t.Timeline) + t.Omitted
		details["new_detections"] = n.NewDetections
		details["tactics"], details["sources"], details["reasons"] = t.Tactics, t.Sources, t.Reasons
		details["hosts"] = entityNames(t.Resources, alert.KindHost)
		details["principals"] = entityNames(t.Actors, alert.KindPrincipal, alert.KindIAMUser, alert.KindK8sUser, alert.KindUser)
		details["first_events"] = firstEvents(t, 5)
	}
	if d := n.Detection; d != nil {
		p.Timestamp, p.Group, p.Class, p.Component = d.Time.UTC().Format(time.RFC3339), d.Env, d.Tactic, d.Rule
		if s := entityNames(d.Resources, alert.KindHost, alert.KindInstance, alert.KindPod, alert.KindAccount); len(s) > 0 {
			p.Source = s[0]
		}
		details["detection"], details["source"], details["technique"] = d.ID, d.Source, d.Technique
	}
	p.Details = details
	e.Payload = p
	return e
}

// pdSeverity: PagerDuty's critical, error, warning, info.
func pdSeverity(s alert.Severity) string {
	switch s {
	case alert.Critical:
		return "critical"
	case alert.High:
		return "error"
	case alert.Medium:
		return "warning"
	}
	return "info"
}

func (p *pagerDuty) Send(ctx context.Context, d *Delivery) (Receipt, error) {
	resp, err := p.client.ManageEventWithContext(ctx, PagerDutyEvent(p.key, d.N))
	var apiErr pagerduty.EventsAPIV2Error
	if errors.As(err, &apiErr) {
		if !apiErr.Temporary() && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 {
			return Receipt{}, &PermanentError{Status: apiErr.StatusCode, Err: err}
		}
		return Receipt{}, err
	}
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Answer: fmt.Sprintf("%s: %s (dedup_key %s)", resp.Status, resp.Message, resp.DedupKey)}, nil
}

func (p *pagerDuty) Close() error { return nil }

// entityNames are the names (else ids) of the entities of the kinds, in
// the kinds' order.
func entityNames(es []alert.Entity, kinds ...string) []string {
	var out []string
	for _, k := range kinds {
		for _, e := range es {
			if e.Kind != k {
				continue
			}
			v := e.Name
			if v == "" {
				v = e.ID
			}
			if v != "" {
				out = appendNew(out, v)
			}
		}
	}
	return out
}

// firstEvents are the threat's first n timeline entries, as lines.
func firstEvents(t *alert.Threat, n int) []string {
	var out []string
	for i, e := range t.Timeline {
		if i == n {
			break
		}
		line := e.Time.UTC().Format("15:04:05") + " " + e.Rule
		if e.Message != "" && e.Message != e.Rule {
			line += ": " + e.Message
		}
		out = append(out, truncate(line, 300))
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
