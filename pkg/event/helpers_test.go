package event

import (
	"strings"
	"unsafe"
)

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

// dnsQuery builds a one-question DNS query from labels.
func dnsQuery(id, qtype uint16, labels ...string) []byte {
	return EncodeDNSQuery(id, qtype, strings.Join(labels, "."))
}
