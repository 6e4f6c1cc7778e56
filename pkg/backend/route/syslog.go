package route

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/config"
)

// SyslogSDID is the structured data element Vigil fills: 32473 is the
// private enterprise number RFC 5612 sets aside for documentation, as
// Vigil has none of its own yet.
const SyslogSDID = "vigil@32473"

// Limits of one syslog message: a UDP datagram, or a TCP/TLS frame.
const (
	maxSyslogUDP = 60 << 10
	maxSyslogTCP = 1 << 20
)

// syslogOut sends RFC 5424 messages over UDP (one datagram each), or TCP
// and TLS with octet-counting framing (RFC 6587, RFC 5425), on a
// connection kept open and re-dialed after an error. The MSG is the JSON
// notification (or OCSF finding); the structured data carries the fields
// a SIEM indexes without parsing it.
type syslogOut struct {
	network, addr string
	tls           *tls.Config
	timeout       time.Duration
	facility      int
	app, host     string
	format        string

	mu   sync.Mutex
	conn net.Conn
}

func newSyslog(c config.Output) (*syslogOut, error) {
	s := &syslogOut{network: c.Network, addr: c.Address, timeout: c.Timeout, facility: config.FacilityCode(c.Facility),
		app: c.AppName, format: c.Format}
	if s.app == "" {
		s.app = "vigil"
	}
	s.host, _ = os.Hostname()
	if c.Network == "tls" {
		t, err := tlsConfig(c)
		if err != nil {
			return nil, err
		}
		if t == nil {
			t = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if t.ServerName == "" {
			t.ServerName, _, _ = net.SplitHostPort(c.Address)
		}
		s.tls = t
	}
	return s, nil
}

// syslogSeverity maps a severity to syslog's: critical 2 (crit), high 3
// (err), medium 4 (warning), low 5 (notice), info 6 (informational).
func syslogSeverity(s alert.Severity) int {
	switch s {
	case alert.Critical:
		return 2
	case alert.High:
		return 3
	case alert.Medium:
		return 4
	case alert.Low:
		return 5
	}
	return 6
}

// SyslogMessage is the RFC 5424 message of a notification, its body no
// larger than max (a large threat's timeline is cut to fit, and the
// structured data says so).
func SyslogMessage(n *alert.Notification, format string, facility int, host, app string, max int) (string, error) {
	body, err := Body(format, n)
	if err != nil {
		return "", err
	}
	cut := false
	if len(body) > max-2048 {
		body, err = Body(format, Trimmed(n))
		if err != nil {
			return "", err
		}
		cut = true
	}
	m := &rfc5424.SyslogMessage{}
	m.SetPriority(uint8(facility*8 + syslogSeverity(n.Severity())))
	m.SetVersion(1)
	m.SetTimestamp(n.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00")) // at most 6 digits (RFC 5424)
	if host != "" {
		m.SetHostname(host)
	}
	m.SetAppname(app)
	m.SetProcID(strconv.Itoa(os.Getpid()))
	m.SetMsgID(n.Event)
	sd := func(k, v string) {
		if v != "" {
			m.SetParameter(SyslogSDID, k, sdEscape(truncate(v, 1024)))
		}
	}
	sd("id", n.ID)
	sd("key", n.Key)
	sd("event", n.Event)
	sd("severity", n.Severity().String())
	sd("title", n.Title())
	sd("url", n.URL)
	sd("routes", strings.Join(n.Routes, ","))
	if t := n.Threat; t != nil {
		sd("status", t.Status)
		sd("env", t.Env)
		sd("tactics", strings.Join(t.Tactics, ","))
		sd("hosts", strings.Join(entityNames(t.Resources, alert.KindHost), ","))
		sd("detections", strconv.Itoa(len(t.Timeline)+t.Omitted))
	}
	if d := n.Detection; d != nil {
		sd("rule", d.Rule)
		sd("source", string(d.Source))
		sd("env", d.Env)
		sd("tactics", d.Tactic)
		sd("technique", d.Technique)
	}
	if cut {
		sd("truncated", "true")
	}
	m.SetMessage(string(body))
	s, err := m.String()
	if err != nil {
		return "", fmt.Errorf("syslog message: %w", err)
	}
	return s, nil
}

// sdEscape escapes a structured data value (RFC 5424 6.3.3): ", \ and ].
func sdEscape(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(v)
}

// Trimmed is the notification with its threat's timeline cut to the first
// ten detections and without network and notes: what fits a datagram.
func Trimmed(n *alert.Notification) *alert.Notification {
	c := *n
	if n.Threat != nil {
		t := *n.Threat
		if len(t.Timeline) > 10 {
			t.Omitted += len(t.Timeline) - 10
			t.Timeline = t.Timeline[:10]
		}
		t.Network, t.Notes = nil, nil
		c.Threat = &t
	}
	if n.Detection != nil {
		d := *n.Detection
		d.Evidence = alert.Evidence{}
		c.Detection = &d
	}
	return &c
}

func (s *syslogOut) Send(ctx context.Context, d *Delivery) (Receipt, error) {
	max := maxSyslogTCP
	if s.network == "udp" {
		max = maxSyslogUDP
	}
	msg, err := SyslogMessage(d.N, s.format, s.facility, s.host, s.app, max)
	if err != nil {
		return Receipt{}, &PermanentError{Err: err}
	}
	if len(msg) > max {
		return Receipt{}, &PermanentError{Err: fmt.Errorf("message of %d bytes is over the %s limit of %d", len(msg), s.network, max)}
	}
	frame := []byte(msg)
	if s.network != "udp" {
		frame = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// One retry on a fresh connection: the receiver may have closed an
	// idle one.
	for attempt := 0; ; attempt++ {
		if s.conn == nil {
			if s.conn, err = s.dial(ctx); err != nil {
				return Receipt{}, err
			}
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
		_, err = s.conn.Write(frame)
		if err == nil {
			return Receipt{Answer: fmt.Sprintf("%d bytes sent over %s to %s", len(frame), s.network, s.addr)}, nil
		}
		_ = s.conn.Close()
		s.conn = nil
		if attempt == 1 {
			return Receipt{}, err
		}
	}
}

func (s *syslogOut) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: s.timeout}
	switch s.network {
	case "tls":
		td := &tls.Dialer{NetDialer: d, Config: s.tls}
		return td.DialContext(ctx, "tcp", s.addr)
	default:
		return d.DialContext(ctx, s.network, s.addr)
	}
}

func (s *syslogOut) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		err := s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}
