// Package console writes what `vigil agent` prints on stdout: alerts (and,
// when asked, events) as one human-readable, optionally coloured line each
// (text), or as one JSON object each (json). Attacker-controlled strings
// (arguments, paths) are quoted so a line can never be forged or carry
// terminal escape sequences.
package console

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/pkg/engine"
	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
)

// Options choose the format.
type Options struct {
	// Format is "text" or "json".
	Format string
	// Color adds ANSI colours to the text format.
	Color bool
	// Alerts and Events say what is written.
	Alerts, Events bool
}

// Writer is an alert sink and a pipeline sink; safe for concurrent use (the
// agent's own alerts come from another goroutine).
type Writer struct {
	opts Options
	mu   sync.Mutex
	w    *bufio.Writer
	enc  *json.Encoder
}

// New writes to w.
func New(w io.Writer, o Options) *Writer {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{opts: o, w: bw, enc: enc}
}

// Name names the sink in counters.
func (c *Writer) Name() string { return "stdout" }

// WriteAlert writes one alert and flushes it: a person watches alerts as
// they happen.
func (c *Writer) WriteAlert(a *engine.Alert) error {
	if !c.opts.Alerts {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.Format == "json" {
		if err := c.enc.Encode(a); err != nil {
			return err
		}
	} else if _, err := c.w.WriteString(c.alertLine(a)); err != nil {
		return err
	}
	return c.w.Flush()
}

// Write writes one event when events are asked for (pipeline.Sink).
func (c *Writer) Write(e *event.Event) error {
	if !c.opts.Events {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.Format == "json" {
		return c.enc.Encode(e)
	}
	_, err := c.w.WriteString(c.eventLine(e))
	return err
}

// Flush writes out buffered events.
func (c *Writer) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.Flush()
}

const (
	reset = "\x1b[0m"
	dim   = "\x1b[2m"
	bold  = "\x1b[1m"
)

var sevColor = map[rules.Severity]string{
	rules.Info:     "\x1b[2m",
	rules.Low:      "\x1b[36m",
	rules.Medium:   "\x1b[33m",
	rules.High:     "\x1b[31m",
	rules.Critical: "\x1b[1;37;41m",
}

func (c *Writer) paint(code, s string) string {
	if !c.opts.Color || code == "" {
		return s
	}
	return code + s + reset
}

// Quote makes an untrusted string safe for one terminal line: it is shown
// as is when printable, else Go-quoted (control characters, escapes and
// newlines become visible escapes).
func Quote(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '"' || r == ' ' || (r >= 0x80 && r < 0xa0) || r == '\ufffd' {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

// clean makes a message safe: the rule's text around fields is trusted, but
// the fields were filled from events, so control characters are escaped.
func clean(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

func stamp(t time.Time) string { return t.Local().Format("15:04:05.000") }

func (c *Writer) alertLine(a *engine.Alert) string {
	var b strings.Builder
	b.WriteString(c.paint(dim, stamp(a.Time)))
	b.WriteByte(' ')
	b.WriteString(c.paint(sevColor[a.Severity], fmt.Sprintf("%-8s", strings.ToUpper(a.Severity.String()))))
	b.WriteByte(' ')
	b.WriteString(c.paint(bold, a.Rule))
	b.WriteString(": ")
	b.WriteString(clean(a.Message))
	p := a.Process
	fmt.Fprintf(&b, " %s", c.paint(dim, fmt.Sprintf("[pid=%d exe=%s user=%s", p.PID, Quote(p.Exe), Quote(userOf(p)))))
	if a.Container.ID != "" {
		b.WriteString(c.paint(dim, " container="+Quote(a.Container.ID)))
	}
	if a.Tactic != "" {
		b.WriteString(c.paint(dim, " "+a.Tactic+"/"+a.Technique))
	}
	if a.Action.Type == string(rules.ActionKill) {
		if a.Action.Killed {
			b.WriteString(c.paint(dim, " killed"))
		} else if a.Action.Skipped != "" {
			b.WriteString(c.paint(dim, " kill skipped: "+clean(a.Action.Skipped)))
		}
	}
	b.WriteString(c.paint(dim, "]"))
	b.WriteByte('\n')
	return b.String()
}

func userOf(p event.Process) string {
	if p.User != "" {
		return p.User
	}
	return strconv.Itoa(int(p.UID))
}

func (c *Writer) eventLine(e *event.Event) string {
	var b strings.Builder
	b.WriteString(c.paint(dim, stamp(e.Time)))
	fmt.Fprintf(&b, " event    %-10s pid=%d exe=%s", e.Type, e.Process.PID, Quote(e.Process.Exe))
	switch {
	case e.Exec != nil:
		args := make([]string, len(e.Process.Args))
		for i, a := range e.Process.Args {
			args[i] = Quote(a)
		}
		b.WriteString(" args=[" + strings.Join(args, " ") + "]")
	case e.File != nil:
		b.WriteString(" path=" + Quote(e.File.Path))
		if e.File.Target != "" {
			b.WriteString(" target=" + Quote(e.File.Target))
		}
	case e.Net != nil:
		fmt.Fprintf(&b, " dst=%s:%d", Quote(e.Net.DstAddr), e.Net.DstPort)
	}
	if e.Container.ID != "" {
		b.WriteString(" container=" + Quote(e.Container.ID))
	}
	b.WriteByte('\n')
	return b.String()
}
