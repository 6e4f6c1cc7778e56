package cloudevent

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
)

// MarshalWire is r as a cloud-stream message: the record without the
// normalized form of the sources that re-derive it from raw (CloudTrail,
// Kubernetes audit), so the stream holds each record about once, not twice.
// Flow records keep theirs: a flow line needs its header to be read again.
func (r *Record) MarshalWire() ([]byte, error) {
	// Raw is what a parser decoded, so JSON: it goes as it is (the encoder
	// would scan and copy it again), with the envelope written by hand.
	if r.Flow != nil || len(r.Raw) < 2 || r.Raw[0] != '{' || r.Raw[len(r.Raw)-1] != '}' {
		w := *r
		w.CloudTrail, w.K8s = nil, nil
		return json.Marshal(&w)
	}
	b := make([]byte, 0, len(r.Raw)+160)
	b = append(b, `{"schema":`...)
	b = appendString(b, r.Schema)
	b = append(b, `,"source":`...)
	b = appendString(b, r.Source)
	b = append(b, `,"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","key":`...)
	b = appendString(b, r.Key)
	if r.Env != "" {
		b = append(b, `,"env":`...)
		b = appendString(b, r.Env)
	}
	b = append(b, `,"raw":`...)
	b = append(b, r.Raw...)
	return append(b, '}'), nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// UnmarshalWire decodes a cloud-stream message (MarshalWire's, or a whole
// Record) and derives the fields rules read.
func UnmarshalWire(b []byte) (Record, error) {
	var r Record
	if err := unmarshal(b, &r); err != nil {
		return Record{}, err
	}
	if !IsSource(r.Source) {
		return Record{}, fmt.Errorf("source %q is not a cloud source", r.Source)
	}
	var reason string
	switch {
	case r.Source == CloudTrail && r.CloudTrail == nil:
		r.CloudTrail, reason = decodeCT(r.Raw)
	case r.Source == K8sAudit && r.K8s == nil:
		r.K8s, reason = decodeAudit(r.Raw)
	case r.Source == VPCFlow && r.Flow == nil:
		reason = "no vpcflow record"
	}
	if reason != "" {
		return Record{}, errors.New("raw: " + reason)
	}
	r.Derive()
	return r, nil
}

// AppendWireBatch appends a batch of cloud-stream records (each
// MarshalWire's) as one message: a JSON array. A batch of one is the
// record itself, as a single record has always been sent.
func AppendWireBatch(b []byte, recs [][]byte) []byte {
	if len(recs) == 1 {
		return append(b, recs[0]...)
	}
	b = append(b, '[')
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	return append(b, ']')
}

// EachWire decodes a cloud-stream message, one record or a batch of them
// (AppendWireBatch's), calling fn with each record in order and how many
// the message holds. A record that cannot be decoded is passed with its
// error and the others still are; a message that is not JSON at all is
// one error.
func EachWire(b []byte, fn func(r Record, err error)) int {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		fn(UnmarshalWire(b))
		return 1
	}
	var elems []json.RawMessage
	if err := unmarshal(b, &elems); err != nil {
		fn(Record{}, err)
		return 1
	}
	if len(elems) == 0 {
		fn(Record{}, errors.New("an empty batch"))
		return 1
	}
	for _, e := range elems {
		fn(UnmarshalWire(e))
	}
	return len(elems)
}
