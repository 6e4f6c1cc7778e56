package cloudevent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	json "github.com/goccy/go-json"
	"slices"

	"github.com/vigil-sec/vigil/pkg/alert"
	"io"
	"time"
)

// Schema versions the normalized record as it travels over NATS.
const Schema = "vigil.cloud/1"

// Sources (alert.Source's names).
const (
	CloudTrail = string(alert.SourceCloudTrail)
	VPCFlow    = string(alert.SourceVPCFlow)
	K8sAudit   = string(alert.SourceK8sAudit)
)

// Sources lists what can be ingested: every source but runtime.
func Sources() []string {
	var out []string
	for _, s := range alert.Sources() {
		if s != alert.SourceRuntime {
			out = append(out, string(s))
		}
	}
	return out
}

// IsSource tells whether s can be ingested.
func IsSource(s string) bool {
	return s != string(alert.SourceRuntime) && slices.Contains(alert.Sources(), alert.Source(s))
}

// Record is one cloud log record, normalized, with the original kept.
type Record struct {
	Schema string    `json:"schema"`
	Source string    `json:"source"`
	ID     string    `json:"id"`   // the source's own id: eventID, auditID/stage, a hash of the flow line
	Time   time.Time `json:"time"` // event time (not arrival)
	// Key is the join key the subject carries: the AWS account, or the
	// Kubernetes cluster.
	Key        string           `json:"key"`
	Env        string           `json:"env,omitempty"`
	CloudTrail *CloudTrailEvent `json:"cloudtrail,omitempty"`
	Flow       *FlowRecord      `json:"vpcflow,omitempty"`
	K8s        *AuditEvent      `json:"k8saudit,omitempty"`
	// Raw is the record as it was read (a flow log line as a JSON string).
	Raw json.RawMessage `json:"raw"`
}

// RecordError is a record that could not be used: where it was, and why.
type RecordError struct {
	File   string
	Line   int // 1-based line where the record starts (0: unknown)
	Index  int // 0-based record index in the file
	Reason string
}

func (e *RecordError) Error() string {
	where := e.File
	if where == "" {
		where = "<input>"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: record %d: %s", where, e.Line, e.Index, e.Reason)
	}
	return fmt.Sprintf("%s: record %d: %s", where, e.Index, e.Reason)
}

// hashID is the id of a record that has none of its own.
func hashID(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// Token makes s a NATS subject token: letters, digits, '-' and '_' kept,
// anything else '_' ("unknown" when empty).
func Token(s string) string {
	if s == "" {
		return "unknown"
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// parseTime reads the timestamps the sources use (RFC 3339 with or without
// fractions).
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// lineOf is the 1-based line of offset off in data.
func lineOf(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// jsonValues calls fn for every top-level JSON value of data (one
// document, concatenated documents or JSON lines), with the offset where
// it starts. A value that does not parse ends the scan (what follows it
// cannot be framed) unless the input is line-delimited: then the scan goes
// on at the next line.
func jsonValues(data []byte, fn func(off int64, v json.RawMessage)) (bad []int64) {
	if jsonLines(data) {
		// One value per line (the common case for forwarders): split on
		// newlines, and let the record's own decoding judge each.
		off := 0
		for off < len(data) {
			end := bytes.IndexByte(data[off:], '\n')
			if end < 0 {
				end = len(data) - off
			}
			line := bytes.TrimSpace(data[off : off+end])
			if len(line) > 0 {
				start := int64(off + bytes.Index(data[off:off+end], line[:1]))
				if line[0] == '{' || line[0] == '[' {
					fn(start, line)
				} else {
					bad = append(bad, start)
				}
			}
			off += end + 1
		}
		return bad
	}
	base := int64(0)
	for base < int64(len(data)) {
		// One decoder runs over the values from base (linear); a value that
		// does not parse restarts it at the next line.
		dec := json.NewDecoder(bytes.NewReader(data[base:]))
		lastEnd := int64(0) // where the last good value ended, from base
		for {
			var v json.RawMessage
			err := decodeNext(dec, &v)
			if err == io.EOF {
				return bad
			}
			if err != nil {
				start := base + lastEnd
				for start < int64(len(data)) && isSpace(data[start]) {
					start++
				}
				bad = append(bad, start)
				nl := bytes.IndexByte(data[start:], '\n')
				if nl < 0 {
					return bad
				}
				base = start + int64(nl) + 1
				break
			}
			lastEnd = dec.InputOffset()
			fn(base+lastEnd-int64(len(v)), v)
		}
	}
	return bad
}

// jsonLines tells whether data is JSON lines: its first non-empty line is
// a whole JSON object.
func jsonLines(data []byte) bool {
	for len(data) > 0 {
		end := bytes.IndexByte(data, '\n')
		if end < 0 {
			end = len(data)
		}
		line := bytes.TrimSpace(data[:end])
		if len(line) > 0 {
			return line[0] == '{' && line[len(line)-1] == '}' && end < len(data) && json.Valid(line)
		}
		if end == len(data) {
			return false
		}
		data = data[end+1:]
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// EventKey identifies the event a record is of: its id, but the stages of
// one Kubernetes request (ResponseStarted, ResponseComplete) are one event.
func (r *Record) EventKey() string {
	if r.K8s != nil {
		return r.K8s.AuditID
	}
	return r.ID
}

// Derive recomputes the derived fields (those not serialized: ct.actor,
// ct.mfa, ka.privileged...) of a record decoded from its JSON, as the
// backend's detection stage reads records from the stream.
func (r *Record) Derive() {
	if r.CloudTrail != nil {
		derive(r.CloudTrail)
	}
	if r.K8s != nil {
		deriveAudit(r.K8s)
	}
}
