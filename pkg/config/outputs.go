package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Output is one receiver of threats or detections (backend.yaml
// outputs:), by its kind.
type Output struct {
	// Name is how routes and `vigil backend outputs test` name it: a
	// subject token (it names the output's durable consumer).
	Name string `yaml:"name"`
	// Type: webhook, slack, syslog, file or pagerduty.
	Type string `yaml:"type"`
	// Format of the body for webhook, syslog and file: json (Vigil's
	// notification, vigil.notification/1) or ocsf (OCSF Detection Finding).
	Format string `yaml:"format"`
	// URL: the webhook's, a Slack incoming webhook's, the Slack Web API's
	// base (with token_file), or the PagerDuty Events API's base.
	URL string `yaml:"url"`
	// Headers are added to every webhook request.
	Headers map[string]string `yaml:"headers"`
	// SecretFile holds the webhook's HMAC-SHA256 key: each request is
	// signed in X-Vigil-Signature (sha256=<hex> of "<timestamp>.<body>").
	SecretFile string `yaml:"secret_file"`
	// TokenFile (slack) holds a bot token: messages go through the Web API
	// (chat.postMessage) to Channel, and updates are replies in the
	// threat's thread. Without it, URL is an incoming webhook.
	TokenFile string `yaml:"token_file"`
	Channel   string `yaml:"channel"`
	// RoutingKeyFile (pagerduty) holds the integration's routing key.
	RoutingKeyFile string `yaml:"routing_key_file"`
	// Network (syslog): udp, tcp or tls; Address is host:port.
	Network string `yaml:"network"`
	Address string `yaml:"address"`
	// CAFile verifies a TLS receiver (syslog tls, https webhooks);
	// CertFile and KeyFile are a client certificate when it asks for one.
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Facility (syslog): a facility name, local0 by default.
	Facility string `yaml:"facility"`
	// AppName (syslog) is the APP-NAME field, vigil by default.
	AppName string `yaml:"app_name"`
	// Path (file) of the JSON-lines file; rotated at MaxBytes, keeping
	// MaxFiles old files.
	Path     string `yaml:"path"`
	MaxBytes int64  `yaml:"max_bytes"`
	MaxFiles int    `yaml:"max_files"`
	// Timeout of one delivery.
	Timeout time.Duration `yaml:"timeout"`
}

// Route sends what it matches to its outputs.
type Route struct {
	Name string `yaml:"name"`
	// Kind: threats (the default: each threat once, then its updates) or
	// detections (every detection, for a SIEM).
	Kind  string     `yaml:"kind"`
	Match RouteMatch `yaml:"match"`
	// Outputs are the names of the outputs it sends to.
	Outputs []string `yaml:"outputs"`
	// Default: the route of whatever no other route of its kind matched.
	Default bool `yaml:"default"`
	// RateLimit bounds how many notifications per output the route sends;
	// the rest wait their turn (deferred, counted), none is dropped.
	RateLimit *RateLimit `yaml:"rate_limit"`
}

// RouteMatch: every key that is set must match; a list matches when any
// of its values does. For a threat, rules, tags, tactics, sources and host
// tags are those of any of its detections.
type RouteMatch struct {
	// Severity is the lowest severity matched (info, low, medium, high,
	// critical).
	Severity string   `yaml:"severity"`
	Rules    []string `yaml:"rules"` // rule names; * and ? are wildcards
	Tags     []string `yaml:"tags"`  // rule tags
	Tactics  []string `yaml:"tactics"`
	Sources  []string `yaml:"sources"` // runtime, cloudtrail, vpcflow, k8saudit
	Envs     []string `yaml:"envs"`
	// HostTags are key=value (or key) tags of the hosts involved.
	HostTags []string `yaml:"host_tags"`
}

// RateLimit is Count notifications per Per.
type RateLimit struct {
	Count int           `yaml:"count"`
	Per   time.Duration `yaml:"per"`
}

// Routing tunes the delivery of notifications.
type Routing struct {
	// QuietPeriod: after a threat was sent to an output, updates that only
	// add detections wait until this has passed (and are sent as one);
	// status changes and a higher severity go at once.
	QuietPeriod time.Duration `yaml:"quiet_period"`
	// RetryMax bounds the exponential backoff of failed deliveries
	// (retried until the receiver accepts; 4xx answers are dead-lettered).
	RetryMax time.Duration `yaml:"retry_max"`
	// UIURL is the UI's address as receivers should link to it (default:
	// http://<listen>).
	UIURL string `yaml:"ui_url"`
}

// UIBase is the UI's address for links in notifications: routing.ui_url,
// else http://<listen>; no trailing slash.
func (c *Backend) UIBase() string {
	if c.Routing.UIURL != "" {
		return strings.TrimRight(c.Routing.UIURL, "/")
	}
	return "http://" + c.Listen
}

// Output types.
var outputTypes = []string{"webhook", "slack", "syslog", "file", "pagerduty"}

// Severity names, lowest first (the same as alert.Severity's).
var severityNames = []string{"info", "low", "medium", "high", "critical"}

func validateOutputs(outs []Output, routes []Route, r Routing) error {
	names := map[string]bool{}
	for i, o := range outs {
		p := fmt.Sprintf("outputs.%d", i)
		if !subjectToken.MatchString(o.Name) || len(o.Name) > 64 {
			return bad(p+".name", "%q: want letters, digits, - and _ (at most 64)", o.Name)
		}
		if names[o.Name] {
			return bad(p+".name", "%q is used twice", o.Name)
		}
		names[o.Name] = true
		if !slices.Contains(outputTypes, o.Type) {
			return bad(p+".type", "%q: one of %s", o.Type, strings.Join(outputTypes, ", "))
		}
		if o.Format != "" && o.Format != "json" && o.Format != "ocsf" {
			return bad(p+".format", "%q: json or ocsf", o.Format)
		}
		if o.Format != "" && (o.Type == "slack" || o.Type == "pagerduty") {
			return bad(p+".format", "%s has its own format", o.Type)
		}
		if o.Timeout < 0 || o.Timeout > 5*time.Minute {
			return bad(p+".timeout", "%s: 0 (10s) to 5m", o.Timeout)
		}
		if (o.CertFile == "") != (o.KeyFile == "") {
			return bad(p+".cert_file", "cert_file and key_file go together")
		}
		for _, f := range []struct{ key, v string }{{"secret_file", o.SecretFile}, {"token_file", o.TokenFile},
			{"routing_key_file", o.RoutingKeyFile}, {"ca_file", o.CAFile}, {"cert_file", o.CertFile}, {"key_file", o.KeyFile}, {"path", o.Path}} {
			if f.v != "" && !filepath.IsAbs(f.v) {
				return bad(p+"."+f.key, "%q must be an absolute path", f.v)
			}
		}
		checkURL := func(need bool) error {
			if o.URL == "" && !need {
				return nil
			}
			u, err := url.Parse(o.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return bad(p+".url", "%q: want an http:// or https:// URL", o.URL)
			}
			return nil
		}
		switch o.Type {
		case "webhook":
			if err := checkURL(true); err != nil {
				return err
			}
			for k := range o.Headers {
				if k == "" || strings.ContainsAny(k, " :\r\n") {
					return bad(p+".headers", "%q is not a header name", k)
				}
			}
		case "slack":
			if err := checkURL(o.TokenFile == ""); err != nil {
				return err
			}
			if o.TokenFile != "" && o.Channel == "" {
				return bad(p+".channel", "token_file posts to a channel: name it")
			}
		case "pagerduty":
			if err := checkURL(false); err != nil {
				return err
			}
			if o.RoutingKeyFile == "" {
				return bad(p+".routing_key_file", "must be set (the integration's routing key)")
			}
		case "syslog":
			switch o.Network {
			case "udp", "tcp", "tls":
			default:
				return bad(p+".network", "%q: udp, tcp or tls", o.Network)
			}
			if _, _, err := net.SplitHostPort(o.Address); err != nil {
				return bad(p+".address", "%q: %v", o.Address, err)
			}
			if o.Facility != "" && FacilityCode(o.Facility) < 0 {
				return bad(p+".facility", "%q: kern, user, daemon, auth, syslog, authpriv, local0 to local7...", o.Facility)
			}
			if len(o.AppName) > 48 || strings.ContainsAny(o.AppName, " \t\r\n") {
				return bad(p+".app_name", "%q: at most 48 printable characters, no space", o.AppName)
			}
		case "file":
			if o.Path == "" {
				return bad(p+".path", "must be set")
			}
			if o.MaxBytes != 0 && o.MaxBytes < 1<<20 {
				return bad(p+".max_bytes", "%d: at least 1048576 (0: 100 MiB)", o.MaxBytes)
			}
			if o.MaxFiles < 0 {
				return bad(p+".max_files", "must not be negative")
			}
		}
	}
	defaults := map[string]bool{}
	routeNames := map[string]bool{}
	for i, rt := range routes {
		p := fmt.Sprintf("routes.%d", i)
		if rt.Name == "" || routeNames[rt.Name] {
			return bad(p+".name", "%q: want a name of its own", rt.Name)
		}
		routeNames[rt.Name] = true
		kind := rt.Kind
		if kind == "" {
			kind = "threats"
		}
		if kind != "threats" && kind != "detections" {
			return bad(p+".kind", "%q: threats or detections", rt.Kind)
		}
		if rt.Default {
			if defaults[kind] {
				return bad(p+".default", "a second default route for %s", kind)
			}
			defaults[kind] = true
		}
		if len(rt.Outputs) == 0 {
			return bad(p+".outputs", "name at least one output")
		}
		for j, o := range rt.Outputs {
			if !names[o] {
				return bad(fmt.Sprintf("%s.outputs.%d", p, j), "%q is not an output", o)
			}
		}
		m := rt.Match
		if m.Severity != "" && !slices.Contains(severityNames, m.Severity) {
			return bad(p+".match.severity", "%q: one of %s", m.Severity, strings.Join(severityNames, ", "))
		}
		for j, r := range m.Rules {
			if _, err := filepath.Match(r, ""); err != nil || r == "" {
				return bad(fmt.Sprintf("%s.match.rules.%d", p, j), "%q is not a pattern", r)
			}
		}
		for j, s := range m.Sources {
			if !slices.Contains([]string{"runtime", "cloudtrail", "vpcflow", "k8saudit"}, s) {
				return bad(fmt.Sprintf("%s.match.sources.%d", p, j), "%q: runtime, cloudtrail, vpcflow or k8saudit", s)
			}
		}
		for j, tg := range m.HostTags {
			if k, _, _ := strings.Cut(tg, "="); k == "" {
				return bad(fmt.Sprintf("%s.match.host_tags.%d", p, j), "%q: want key=value or key", tg)
			}
		}
		if rl := rt.RateLimit; rl != nil && (rl.Count < 1 || rl.Per < time.Second) {
			return bad(p+".rate_limit", "want count >= 1 per at least 1s")
		}
	}
	if r.QuietPeriod < 0 || r.QuietPeriod > 24*time.Hour {
		return bad("routing.quiet_period", "%s: 0 to 24h", r.QuietPeriod)
	}
	if r.RetryMax < time.Second || r.RetryMax > time.Hour {
		return bad("routing.retry_max", "%s: 1s to 1h", r.RetryMax)
	}
	if r.UIURL != "" {
		if u, err := url.Parse(r.UIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("routing.ui_url", "%q: want an http:// or https:// URL", r.UIURL)
		}
	}
	return nil
}

// FacilityCode is a syslog facility's number (-1 if unknown).
func FacilityCode(name string) int {
	if name == "" {
		name = "local0"
	}
	named := []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp"}
	if i := slices.Index(named, name); i >= 0 {
		return i
	}
	var n int
	if _, err := fmt.Sscanf(name, "local%d", &n); err == nil && n >= 0 && n <= 7 && name == fmt.Sprintf("local%d", n) {
		return 16 + n
	}
	return -1
}
