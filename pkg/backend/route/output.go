package route

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/ocsf"
	"github.com/vigil-sec/vigil/pkg/version"
)

// Output delivers notifications to one receiver.
type Output interface {
	// Send delivers n. An error wrapping a *PermanentError is one that
	// will not clear by retrying (the receiver refused the request); any
	// other error is retried with backoff.
	Send(ctx context.Context, d *Delivery) (Receipt, error)
	Close() error
}

// Delivery is a notification and what an earlier one to the same output
// left (a Slack thread).
type Delivery struct {
	N *alert.Notification
	// Thread is the Receipt.Thread of the threat's first message.
	Thread string
}

// Receipt is the receiver's answer.
type Receipt struct {
	// Answer is what the receiver said (status and body, shortened).
	Answer string
	// Thread identifies the message for later replies (Slack's
	// channel:ts), when the receiver has threads.
	Thread string
}

// PermanentError is a receiver's refusal that retrying will not change
// (a 4xx answer other than 408 and 429): the notification is dead-lettered.
type PermanentError struct {
	Status int
	Err    error
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent tells whether err is a permanent refusal.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// statusError classifies an HTTP answer: nil for 2xx, permanent for 4xx
// but 408 and 429, transient otherwise.
func statusError(code int, answer string) error {
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return &PermanentError{Status: code, Err: fmt.Errorf("refused: %s", answer)}
	}
	return fmt.Errorf("receiver answered %s", answer)
}

// DefaultTimeout bounds one delivery when the output sets none.
const DefaultTimeout = 10 * time.Second

// New builds the output a configuration describes; files it names (keys,
// certificates) are read now, so a bad path fails at start.
func New(c config.Output) (Output, error) {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	var (
		o   Output
		err error
	)
	switch c.Type {
	case "webhook":
		o, err = newWebhook(c)
	case "slack":
		o, err = newSlack(c)
	case "pagerduty":
		o, err = newPagerDuty(c)
	case "syslog":
		o, err = newSyslog(c)
	case "file":
		o, err = newFile(c)
	default:
		err = fmt.Errorf("unknown type %q", c.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", c.Name, err)
	}
	return o, nil
}

// readSecret reads a key file (trimmed); the error names the file.
func readSecret(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s %s: empty", what, path)
	}
	return s, nil
}

// tlsConfig is the client TLS of an output (nil: the system's defaults).
func tlsConfig(c config.Output) (*tls.Config, error) {
	if c.CAFile == "" && c.CertFile == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no certificates", c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// httpClient is an output's HTTP client: its timeout and TLS, no proxy
// surprises beyond the environment's.
func httpClient(c config.Output) (*http.Client, error) {
	t, err := tlsConfig(c)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = t
	return &http.Client{Timeout: c.Timeout, Transport: tr}, nil
}

// Body is a notification in an output's format: json (the notification
// itself) or ocsf (a Detection Finding).
func Body(format string, n *alert.Notification) ([]byte, error) {
	if format == "ocsf" {
		return json.Marshal(ocsf.FromNotification(n, version.Version))
	}
	return json.Marshal(n)
}

// answer shortens a receiver's answer for logs, the CLI and dead letters.
func answer(status string, body []byte) string {
	b := strings.TrimSpace(string(body))
	if len(b) > 512 {
		b = b[:512] + "..."
	}
	if b == "" {
		return status
	}
	return status + ": " + b
}

// Sample is a made-up threat's notification for `vigil backend outputs
// test`: it says it is a test in its title, and its key is new each time
// (a PagerDuty test opens its own alert, which the resolve sample closes).
func Sample(event string, sev alert.Severity, uiURL string, now time.Time) *alert.Notification {
	id := fmt.Sprintf("thr-test-%d", now.Unix())
	t := &alert.Threat{Schema: alert.ThreatSchema, ID: id, Title: "Vigil test notification: reverse shell on test-host (not a real threat)",
		Severity: sev, Status: alert.StatusOpen, Env: "test", FirstSeen: now.Add(-time.Minute), LastSeen: now, Updated: now, Main: "det-test-1",
		Tactics: []string{"execution"}, Sources: []alert.Source{alert.SourceRuntime},
		Actors:    []alert.Entity{{Kind: alert.KindProcess, ID: "test:1:2", Name: "/usr/bin/bash"}, {Kind: alert.KindUser, ID: "www-data"}},
		Resources: []alert.Entity{{Kind: alert.KindHost, ID: "h-test", Name: "test-host"}},
		Timeline: []alert.TimelineEntry{{Time: now.Add(-time.Minute), Detection: "det-test-1", Source: alert.SourceRuntime, Rule: "Reverse shell",
			Severity: sev, Tactic: "execution", Technique: "T1059.004", Message: "Reverse shell: /usr/bin/bash (test)"}}}
	if event == alert.EventThreatResolved {
		t.Status, t.Resolution = alert.StatusResolved, "security_test"
	}
	n := &alert.Notification{Schema: alert.NotificationSchema, ID: id + ":1", Event: event, Time: now.UTC(), Key: id,
		Routes: []string{"test"}, NewDetections: 1, Threat: t}
	if uiURL != "" {
		n.URL = strings.TrimRight(uiURL, "/") + "/#/threat/" + id
	}
	return n
}
