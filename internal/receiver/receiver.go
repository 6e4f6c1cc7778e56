// Package receiver is the tests' real local receivers of Vigil's outputs:
// an HTTP server that records what webhooks, Slack and PagerDuty are sent
// (and can be made to refuse or fail), and a syslog server on UDP, TCP or
// TLS that parses what it gets as RFC 5424.
package receiver

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/octetcounting"
	"github.com/leodido/go-syslog/v4/rfc5424"
)

// Request is one request an HTTP receiver accepted.
type Request struct {
	Path   string
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r Request) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: %v: %s", r.Path, err, r.Body)
	}
}

// HTTP records requests. Status, when set, is answered instead of 200
// (the request is then not recorded); Answer writes the body of accepted
// requests (by path).
type HTTP struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []Request
	status int
	Answer func(path string, body []byte) (int, any)
	seen   chan struct{}
}

// NewHTTP starts an HTTP receiver on 127.0.0.1.
func NewHTTP(t testing.TB) *HTTP {
	h := &HTTP{seen: make(chan struct{}, 1<<16)}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *HTTP) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	status, answer := h.status, h.Answer
	h.mu.Unlock()
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	code, v := 200, any(map[string]any{"ok": true})
	if answer != nil {
		code, v = answer(r.URL.Path, body)
	}
	if code >= 200 && code < 300 {
		h.mu.Lock()
		h.reqs = append(h.reqs, Request{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		h.mu.Unlock()
		h.seen <- struct{}{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Fail makes the receiver answer status to everything (0: accept again).
func (h *HTTP) Fail(status int) {
	h.mu.Lock()
	h.status = status
	h.mu.Unlock()
}

// Requests are the accepted requests so far.
func (h *HTTP) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.reqs...)
}

// Wait waits until n requests were accepted, or fails the test after d.
func (h *HTTP) Wait(t testing.TB, n int, d time.Duration) []Request {
	t.Helper()
	deadline := time.After(d)
	for {
		if r := h.Requests(); len(r) >= n {
			return r
		}
		select {
		case <-h.seen:
		case <-deadline:
			r := h.Requests()
			t.Fatalf("receiver got %d requests in %s, want %d", len(r), d, n)
			return r
		}
	}
}

// Syslog is a syslog server that parses RFC 5424 messages.
type Syslog struct {
	Addr string
	mu   sync.Mutex
	msgs []*rfc5424.SyslogMessage
	errs []error
	seen chan struct{}
	stop func()
}

// NewSyslog starts a syslog server on 127.0.0.1: network udp, tcp or tls
// (tlsCfg then serves). Stream messages are framed by octet counting.
func NewSyslog(t testing.TB, network string, tlsCfg *tls.Config) *Syslog {
	t.Helper()
	s := &Syslog{seen: make(chan struct{}, 1<<16)}
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.Addr, s.stop = pc.LocalAddr().String(), func() { _ = pc.Close() }
		go func() {
			buf := make([]byte, 65536)
			p := rfc5424.NewParser()
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				m, err := p.Parse(append([]byte(nil), buf[:n]...))
				s.add(m, err)
			}
		}()
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if network == "tls" {
			ln = tls.NewListener(ln, tlsCfg)
		}
		s.Addr, s.stop = ln.Addr().String(), func() { ln.Close() }
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					p := octetcounting.NewParser(syslog.WithListener(func(r *syslog.Result) { s.add(r.Message, r.Error) }),
						syslog.WithMaxMessageLength(2<<20))
					p.Parse(c)
				}()
			}
		}()
	}
	t.Cleanup(s.stop)
	return s
}

func (s *Syslog) add(m syslog.Message, err error) {
	s.mu.Lock()
	if err != nil {
		s.errs = append(s.errs, err)
	} else if sm, ok := m.(*rfc5424.SyslogMessage); ok {
		s.msgs = append(s.msgs, sm)
	}
	s.mu.Unlock()
	s.seen <- struct{}{}
}

// Wait waits for n messages parsed without error (a parse error fails).
func (s *Syslog) Wait(t testing.TB, n int, d time.Duration) []*rfc5424.SyslogMessage {
	t.Helper()
	deadline := time.After(d)
	for {
		s.mu.Lock()
		msgs, errs := append([]*rfc5424.SyslogMessage(nil), s.msgs...), s.errs
		s.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("syslog receiver: %v", errs[0])
		}
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-s.seen:
		case <-deadline:
			t.Fatalf("syslog receiver got %d messages in %s, want %d", len(msgs), d, n)
		}
	}
}
