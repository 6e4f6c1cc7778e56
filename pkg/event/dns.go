package event

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// DNSQuery is the question of a DNS query datagram.
type DNSQuery struct {
	ID    uint16
	Name  string
	QType uint16
}

// ErrDNS reports a payload that is not a well-formed DNS query.
var ErrDNS = errors.New("malformed dns query")

var qtypes = map[uint16]string{
	1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT",
	28: "AAAA", 33: "SRV", 35: "NAPTR", 64: "SVCB", 65: "HTTPS", 255: "ANY",
}

// TypeName names the query type.
func (q DNSQuery) TypeName() string {
	if n, ok := qtypes[q.QType]; ok {
		return n
	}
	return "TYPE" + strconv.Itoa(int(q.QType))
}

// ParseDNSQuery reads the first question of a DNS message (RFC 1035 4.1).
// Compression pointers are not followed: queries do not use them in the
// question. Labels are bounded by the RFC limits.
func ParseDNSQuery(b []byte) (DNSQuery, error) {
	var q DNSQuery
	if len(b) < 12 {
		return q, ErrDNS
	}
	q.ID = binary.BigEndian.Uint16(b)
	if b[2]&0x80 != 0 { // a response
		return q, ErrDNS
	}
	if binary.BigEndian.Uint16(b[4:]) == 0 {
		return q, ErrDNS
	}
	off := 12
	var sb strings.Builder
	for {
		if off >= len(b) {
			return q, ErrDNS
		}
		l := int(b[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(b) || sb.Len()+l+1 > 253 {
			return q, ErrDNS
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		for _, c := range b[off : off+l] {
			if c <= ' ' || c >= 0x7f || c == '.' {
				sb.WriteString(`\` + strconv.Itoa(int(c)))
				continue
			}
			sb.WriteByte(c)
		}
		off += l
	}
	if off+4 > len(b) {
		return q, ErrDNS
	}
	q.QType = binary.BigEndian.Uint16(b[off:])
	q.Name = sb.String()
	if q.Name == "" {
		q.Name = "."
	}
	return q, nil
}

// EncodeDNSQuery builds a one-question query with recursion desired, the
// inverse of ParseDNSQuery (tests and vigil simulate send such queries).
func EncodeDNSQuery(id, qtype uint16, name string) []byte {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 18+len(name)), id)
	b = append(b, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0) // RD; one question
	if name != "" {
		for _, l := range strings.Split(name, ".") {
			b = append(b, byte(len(l)))
			b = append(b, l...)
		}
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, qtype)
	return binary.BigEndian.AppendUint16(b, 1) // class IN
}
